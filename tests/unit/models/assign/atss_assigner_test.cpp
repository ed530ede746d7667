#include <gtest/gtest.h>

#include "unit/models/assign/tensor_literals.h"

#include "models/assign/atss_assigner.h"

namespace ms {
namespace {

using test::boxes;
using test::to_vec;

// Two levels of two anchors each (one anchor per location); top_k 2 makes all four candidates.
//   level 0 (stride 16): a0 [0,0,16,16] centre (8,8),   a1 [16,0,32,16] centre (24,8)
//   level 1 (stride 32): a2 [0,0,32,32] centre (16,16), a3 [32,0,64,32] centre (48,16)
AssignInput two_levels(std::vector<std::vector<float>> gt) {
  AssignInput in;
  in.anchors = boxes({{0, 0, 16, 16}, {16, 0, 32, 16}, {0, 0, 32, 32}, {32, 0, 64, 32}});
  in.anchors_per_level = {2, 2};
  in.level_strides = {16, 32};
  in.anchors_per_location = 1;
  in.gt_boxes = boxes(gt);
  in.gt_labels = at::zeros({in.gt_boxes.size(0)}, at::kLong);
  return in;
}

TEST(AtssAssigner, HandComputedFourAnchorsTwoBoxes) {
  // box0 [2,2,18,18]: IoUs a0 196/316 = 0.620, a1 28/484 = 0.058, a2 256/1024 = 0.25, a3 0;
  //   mean 0.232, unbiased std 0.280 -> threshold 0.512: only a0 (centre (8,8) inside).
  // box1 [30,0,62,30]: IoUs a0 0, a1 32/1184 = 0.027, a2 60/1924 = 0.031, a3 900/1084 = 0.830;
  //   mean 0.222, std 0.405 -> threshold 0.627: only a3 (centre (48,16) inside).
  AtssAssignerOptions o;
  o.top_k = 2;
  const auto r = AtssAssigner(o).assign(two_levels({{2, 2, 18, 18}, {30, 0, 62, 30}}));
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>{0, -1, -1, 1}));
}

TEST(AtssAssigner, ContestedAnchorGoesToHigherIou) {
  // Both boxes pass on a0 (IoU 1.0 and 224/256 = 0.875); a0 goes to box 0, box 1 gets nothing.
  AtssAssignerOptions o;
  o.top_k = 2;
  const auto r = AtssAssigner(o).assign(two_levels({{0, 0, 16, 16}, {0, 0, 16, 14}}));
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>{0, -1, -1, -1}));
  // Reversing the box order reverses the index, not the winner.
  const auto s = AtssAssigner(o).assign(two_levels({{0, 0, 16, 14}, {0, 0, 16, 16}}));
  EXPECT_EQ(to_vec(s.matched_gt), (std::vector<int64_t>{1, -1, -1, -1}));
}

TEST(AtssAssigner, CentreOutsideTheBoxIsNeverPositive) {
  // Box [23,0,39,16]: IoUs a0 0, a1 144/368 = 0.391, a2 0.127, a3 0.096; threshold
  // 0.154 + 0.168 = 0.321 passes a1, whose centre (24,8) is inside -> positive.
  // Box [25,0,41,16]: IoUs a0 0, a1 112/400 = 0.280, a2 0.096, a3 0.127; threshold
  // 0.126 + 0.116 = 0.242 passes a1 on IoU, but its centre x = 24 lies left of the box -> none.
  AtssAssignerOptions o;
  o.top_k = 2;
  EXPECT_EQ(to_vec(AtssAssigner(o).assign(two_levels({{23, 0, 39, 16}})).matched_gt),
            (std::vector<int64_t>{-1, 0, -1, -1}));
  EXPECT_EQ(to_vec(AtssAssigner(o).assign(two_levels({{25, 0, 41, 16}})).matched_gt),
            (std::vector<int64_t>{-1, -1, -1, -1}));
}

TEST(AtssAssigner, TopKPerLevelLimitsCandidates) {
  // top_k 1: candidates a0 (level 0) and a2 (level 1) only; with two values mean + std always
  // exceeds the larger one, so nothing is positive: the per-level selection really happens.
  AtssAssignerOptions o;
  o.top_k = 1;
  EXPECT_EQ(to_vec(AtssAssigner(o).assign(two_levels({{2, 2, 18, 18}})).matched_gt),
            (std::vector<int64_t>{-1, -1, -1, -1}));
}

TEST(AtssAssigner, EmptyGroundTruthIsAllBackground) {
  auto in = two_levels({{2, 2, 18, 18}});
  in.gt_boxes = at::zeros({0, 4});
  in.gt_labels = at::zeros({0}, at::kLong);
  EXPECT_EQ(to_vec(AtssAssigner().assign(in).matched_gt), (std::vector<int64_t>{-1, -1, -1, -1}));
}

}  // namespace
}  // namespace ms
