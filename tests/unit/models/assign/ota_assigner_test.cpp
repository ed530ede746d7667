#include <gtest/gtest.h>

#include <fstream>

#include "core/config.h"
#include "models/assign/ota_assigner.h"
#include "models/assign/sinkhorn.h"

namespace ms {
namespace {

at::Tensor matrix(const Json& j, at::ScalarType type = at::kDouble) {
  const int64_t rows = static_cast<int64_t>(j.size());
  const int64_t cols = j[0].is_array() ? static_cast<int64_t>(j[0].size()) : 1;
  auto t = at::empty({rows, cols}, at::kDouble);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[r][c] = j[r].is_array() ? j[r][c].get<double>() : j[r].get<double>();
  return (j[0].is_array() ? t : t.squeeze(1)).to(type);
}

Json golden() {
  auto j = read_json_file(MARROWSCOPE_SOURCE_DIR "/tests/golden/assign/sinkhorn.json");
  EXPECT_TRUE(j.has_value()) << (j ? "" : j.error().message);
  return j ? *j : Json::object();
}

const Json kGolden = golden();

TEST(Sinkhorn, MatchesPlainNumpySinkhorn) {
  int checked = 0;
  for (const auto& c : kGolden["cases"]) {
    if (c["kind"] != "sinkhorn") continue;
    const auto plan = sinkhorn(matrix(c["cost"]), matrix(c["supply"]), matrix(c["demand"]),
                               SinkhornOptions{c["epsilon"].get<double>(), c["iterations"].get<int>()});
    const auto expected = matrix(c["plan"]);
    EXPECT_TRUE(at::allclose(plan, expected, 1e-9, 1e-10)) << plan << "\n" << expected;
    // Marginals: rows carry the supplies, columns one unit each.
    EXPECT_TRUE(at::allclose(plan.sum(1), matrix(c["supply"]), 1e-6, 1e-6));
    EXPECT_TRUE(at::allclose(plan.sum(0), matrix(c["demand"]), 1e-3, 1e-3));
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(Sinkhorn, SmallEpsilonReachesTheExactOptimalAssignment) {
  int checked = 0;
  for (const auto& c : kGolden["cases"]) {
    if (c["kind"] != "exact") continue;
    const auto cost = matrix(c["cost"]);
    const auto plan = sinkhorn(cost, matrix(c["supply"]), matrix(c["demand"]),
                               SinkhornOptions{c["epsilon"].get<double>(), c["iterations"].get<int>()});
    const auto winner = std::get<1>(plan.max(0));
    const auto expected = c["assignment"].get<std::vector<int64_t>>();
    double total = 0;
    for (size_t j = 0; j < expected.size(); ++j) {
      EXPECT_EQ(winner[j].item<int64_t>(), expected[j]) << "column " << j;
      total += cost[winner[j].item<int64_t>()][j].item<double>();
    }
    EXPECT_NEAR(total, c["optimal_cost"].get<double>(), 1e-9);
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(OtaAssigner, CostMatrixMatchesIndependentFocalPlusGiou) {
  for (const auto& c : kGolden["cases"]) {
    if (c["kind"] != "ota_cost") continue;
    OtaAssignerOptions o;
    o.reg_weight = c["reg_weight"].get<float>();
    o.outside_cost = c["outside_cost"].get<float>();
    const auto cost = OtaAssigner(o).cost_matrix(
        matrix(c["cls_logits"], at::kFloat), matrix(c["pred_boxes"], at::kFloat),
        matrix(c["gt_boxes"], at::kFloat), at::tensor(c["gt_labels"].get<std::vector<int64_t>>()),
        matrix(c["prior_ok"]).to(at::kBool));
    EXPECT_TRUE(at::allclose(cost, matrix(c["cost"]), 1e-5, 1e-4)) << cost << "\n" << matrix(c["cost"]);
    return;
  }
  FAIL() << "no ota_cost case in the golden file";
}

// Two cells far apart on one level of anchors (stride 8, 16x16 anchors every 8 px on a 64x64
// input). Predictions: class 0 confident near box 0, class 1 near box 1.
AssignInput two_cells() {
  std::vector<float> rows;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      const float cx = x * 8 + 4.f, cy = y * 8 + 4.f;
      rows.insert(rows.end(), {cx - 8, cy - 8, cx + 8, cy + 8});
    }
  AssignInput in;
  in.anchors = at::tensor(rows).view({-1, 4});
  in.anchors_per_level = {64};
  in.level_strides = {8};
  in.gt_boxes = at::tensor(std::vector<float>{4, 4, 20, 20, 40, 40, 60, 60}).view({2, 4});
  in.gt_labels = at::tensor(std::vector<int64_t>{0, 1});
  in.pred_boxes = in.anchors.clone();
  in.cls_logits = at::full({64, 2}, -4.f);
  return in;
}

TEST(OtaAssigner, AssignsEachCellItsOwnAnchorsAndRespectsDynamicK) {
  const auto r = OtaAssigner().assign(two_cells());
  ASSERT_TRUE(r.plan.defined());
  const auto k = r.dynamic_k;
  ASSERT_EQ(k.numel(), 2);
  const auto m = r.matched_gt;
  for (int64_t g = 0; g < 2; ++g) {
    const auto mine = m.eq(g);
    // Each box wins at least one and at most its dynamic k anchors: the plan row carries k
    // units, but symmetric anchors split their unit between the box and the background, and the
    // per-anchor argmax may then give fewer than k.
    EXPECT_GE(mine.sum().item<int64_t>(), 1) << "box " << g;
    EXPECT_LE(mine.sum().item<int64_t>(), k[g].item<int64_t>()) << "box " << g;
    EXPECT_GE(k[g].item<int64_t>(), 1);
  }
  // Every positive anchor's centre lies inside the box it was given (the centre prior).
  const auto centers = box_centers(two_cells().anchors);
  const auto gt = two_cells().gt_boxes;
  for (int64_t a = 0; a < m.size(0); ++a) {
    const auto g = m[a].item<int64_t>();
    if (g < 0) continue;
    EXPECT_TRUE(centers_inside_boxes(centers.slice(0, a, a + 1), gt.slice(0, g, g + 1), 0.0).item<bool>())
        << "anchor " << a << " -> box " << g;
  }
  // Rows of the plan carry the supplies: k per box, the rest to the background.
  const auto n = r.plan.size(1);
  EXPECT_NEAR(r.plan.sum().item<double>(), static_cast<double>(n), 1e-6);
  EXPECT_NEAR(r.plan[0].sum().item<double>(), k[0].item<double>(), 1e-6);
}

TEST(OtaAssigner, ConfidentWrongClassRaisesTheCost) {
  // Make the anchors on box 0 confident about class 1: the classification cost of those pairs
  // grows, so the cost matrix entry for (box 0, that anchor) exceeds that of a neutral anchor.
  auto in = two_cells();
  OtaAssigner ota;
  const auto prior = at::ones({2, 64}, at::kBool);
  const auto neutral = ota.cost_matrix(in.cls_logits, in.pred_boxes, in.gt_boxes, in.gt_labels, prior);
  in.cls_logits.select(1, 1).fill_(4.f);
  const auto wrong = ota.cost_matrix(in.cls_logits, in.pred_boxes, in.gt_boxes, in.gt_labels, prior);
  EXPECT_TRUE(wrong[0].gt(neutral[0]).all().item<bool>());
  EXPECT_TRUE(wrong[2].gt(neutral[2]).all().item<bool>());  // background pays too
}

TEST(OtaAssigner, EmptyGroundTruthIsAllBackground) {
  auto in = two_cells();
  in.gt_boxes = at::zeros({0, 4});
  in.gt_labels = at::zeros({0}, at::kLong);
  const auto r = OtaAssigner().assign(in);
  EXPECT_EQ(r.num_positive(), 0);
  EXPECT_EQ(r.matched_gt.numel(), 64);
}

}  // namespace
}  // namespace ms
