#include <gtest/gtest.h>

#include "unit/models/assign/tensor_literals.h"

#include "models/assign/max_iou_assigner.h"

namespace ms {
namespace {

using test::boxes;
using test::to_vec;

// Four anchors, two boxes. IoUs worked by hand (areas 100 each):
//   box0 [0,0,10,10]  vs a0 = 1.0; vs a1 [4,0,14,10]: 60 / 140 = 0.4286 (between 0.4 and 0.5)
//   box1 [21,20,31,30] vs a2 [20,20,30,30]: 90 / 110 = 0.818; vs a3 [22,20,32,30]: 90 / 110 (tie)
AssignInput four_anchors_two_boxes() {
  AssignInput in;
  in.anchors = boxes({{0, 0, 10, 10}, {4, 0, 14, 10}, {20, 20, 30, 30}, {22, 20, 32, 30}});
  in.gt_boxes = boxes({{0, 0, 10, 10}, {21, 20, 31, 30}});
  in.gt_labels = at::zeros({2}, at::kLong);
  return in;
}

TEST(MaxIouAssigner, HandComputedFourAnchorsTwoBoxes) {
  const auto r = MaxIouAssigner().assign(four_anchors_two_boxes());
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>{0, kAssignIgnore, 1, 1}));
  EXPECT_EQ(r.num_positive(), 3);
}

TEST(MaxIouAssigner, ThresholdsMoveTheIgnoreBand) {
  // With neg_iou 0.3 the 0.4286 anchor still sits in the ignore band; with pos_iou 0.42 it is
  // positive for box 0.
  MaxIouAssignerOptions o;
  o.pos_iou = 0.42f;
  const auto r = MaxIouAssigner(o).assign(four_anchors_two_boxes());
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>{0, 0, 1, 1}));
}

TEST(MaxIouAssigner, LowQualityMatchGivesEveryBoxAnAnchor) {
  // A tall box [0,0,10,30]: IoU with a0 = 100/300 = 0.333, with a1 = 60/340 = 0.176. Both are
  // below neg_iou, so only the low-quality rule makes a0 positive.
  AssignInput in = four_anchors_two_boxes();
  in.gt_boxes = boxes({{0, 0, 10, 30}});
  EXPECT_EQ(to_vec(MaxIouAssigner().assign(in).matched_gt), (std::vector<int64_t>{0, -1, -1, -1}));
  MaxIouAssignerOptions off;
  off.low_quality_matches = false;
  EXPECT_EQ(to_vec(MaxIouAssigner(off).assign(in).matched_gt), (std::vector<int64_t>{-1, -1, -1, -1}));
  MaxIouAssignerOptions strict;
  strict.min_low_quality_iou = 0.4f;
  EXPECT_EQ(to_vec(MaxIouAssigner(strict).assign(in).matched_gt), (std::vector<int64_t>{-1, -1, -1, -1}));
}

TEST(MaxIouAssigner, EmptyGroundTruthIsAllBackground) {
  AssignInput in = four_anchors_two_boxes();
  in.gt_boxes = at::zeros({0, 4});
  in.gt_labels = at::zeros({0}, at::kLong);
  EXPECT_EQ(to_vec(MaxIouAssigner().assign(in).matched_gt), (std::vector<int64_t>{-1, -1, -1, -1}));
}

TEST(MaxIouAssigner, NoAnchorsGivesEmptyResult) {
  AssignInput in = four_anchors_two_boxes();
  in.anchors = at::zeros({0, 4});
  EXPECT_EQ(MaxIouAssigner().assign(in).matched_gt.numel(), 0);
}

}  // namespace
}  // namespace ms
