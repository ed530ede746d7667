#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "models/assign/paa_assigner.h"
#include "unit/models/assign/tensor_literals.h"

namespace ms {
namespace {

using test::boxes;
using test::to_vec;

Json golden() {
  auto j = read_json_file(MARROWSCOPE_SOURCE_DIR "/tests/golden/assign/paa.json");
  EXPECT_TRUE(j.has_value()) << (j ? "" : j.error().message);
  return j ? *j : Json::object();
}

const Json kGolden = golden();

TEST(GaussianMixture, HandComputedTwoSeparatedGroups) {
  // {0, 0.1, 0.3} and {2.0, 2.2} lie so far apart (in units of the fitted deviations) that each
  // point's responsibility for the other group is below 1e-70: EM ends at the groups' own moments.
  //   means 0.4/3 = 0.13333 and 2.1; variances (0.01778 + 0.00111 + 0.02778) / 3 = 0.015556 and
  //   0.01 (each + reg_covar 1e-6); weights 3/5 and 2/5.
  const auto g = fit_two_gaussians({0.0, 0.1, 0.3, 2.0, 2.2});
  EXPECT_TRUE(g.converged);
  EXPECT_NEAR(g.mean[0], 0.4 / 3, 1e-9);
  EXPECT_NEAR(g.mean[1], 2.1, 1e-9);
  EXPECT_NEAR(g.variance[0], (0.4 / 3 * 0.4 / 3 + (0.1 - 0.4 / 3) * (0.1 - 0.4 / 3) + (0.3 - 0.4 / 3) * (0.3 - 0.4 / 3)) / 3 + 1e-6,
              1e-9);
  EXPECT_NEAR(g.variance[1], 0.01 + 1e-6, 1e-9);
  EXPECT_NEAR(g.weight[0], 0.6, 1e-9);
  EXPECT_NEAR(g.weight[1], 0.4, 1e-9);
  for (double x : {0.0, 0.1, 0.3}) EXPECT_EQ(g.component(x), 0) << x;
  for (double x : {2.0, 2.2}) EXPECT_EQ(g.component(x), 1) << x;
  // The low group's peak is at 0.133; of its members 0.1 is nearest, so the density is highest
  // there and the positives are the losses up to 0.1.
  EXPECT_GT(g.log_density(0.1), g.log_density(0.0));
  EXPECT_GT(g.log_density(0.1), g.log_density(0.3));
  EXPECT_EQ(paa_separate({0.3, 2.2, 0.0, 2.0, 0.1}), (std::vector<bool>{false, false, true, false, true}));
}

TEST(GaussianMixture, MatchesScikitLearnAsThePaaAuthorsCallIt) {
  int checked = 0;
  for (const auto& c : kGolden["cases"]) {
    if (c["kind"] != "gmm") continue;
    const auto x = c["losses"].get<std::vector<double>>();
    const auto g = fit_two_gaussians(x);
    EXPECT_EQ(g.iterations, c["iterations"].get<int>()) << "case " << checked;
    EXPECT_EQ(g.converged, c["converged"].get<bool>());
    for (int k = 0; k < 2; ++k) {
      EXPECT_NEAR(g.weight[k], c["weights"][k].get<double>(), 1e-9) << "case " << checked;
      EXPECT_NEAR(g.mean[k], c["means"][k].get<double>(), 1e-9) << "case " << checked;
      EXPECT_NEAR(g.variance[k], c["variances"][k].get<double>(), 1e-9) << "case " << checked;
    }
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(g.component(x[i]), c["components"][i].get<int>()) << "case " << checked << " value " << i;
      EXPECT_NEAR(g.log_density(x[i]), c["log_density"][i].get<double>(), 1e-8);
    }
    EXPECT_EQ(paa_separate(x), c["positive"].get<std::vector<bool>>()) << "case " << checked;
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(GaussianMixture, EqualValuesStayFiniteAndBadInputThrows) {
  const auto g = fit_two_gaussians({0.7, 0.7, 0.7});
  EXPECT_NEAR(g.mean[0], 0.7, 1e-12);
  EXPECT_NEAR(g.variance[0], 1e-6, 1e-12);  // reg_covar keeps the collapsed component finite
  EXPECT_TRUE(std::isfinite(g.log_density(0.7)));
  EXPECT_THROW(fit_two_gaussians({}), MarrowError);
  EXPECT_THROW(fit_two_gaussians({0.1, std::nan("")}), MarrowError);
}

TEST(PaaSeparate, EdgeCases) {
  EXPECT_TRUE(paa_separate({}).empty());
  EXPECT_EQ(paa_separate({5.0}), (std::vector<bool>{true}));                 // a single candidate
  EXPECT_EQ(paa_separate({0.4, 0.4, 0.4}), (std::vector<bool>(3, true)));    // indistinguishable
  EXPECT_EQ(paa_separate({0.2, 1.3}), (std::vector<bool>{true, false}));
}

TEST(PaaAssigner, AnchorLossMatchesNumpyFocalPlusGiou) {
  for (const auto& c : kGolden["cases"]) {
    if (c["kind"] != "anchor_loss") continue;
    const auto rows = [](const Json& j) {
      std::vector<std::vector<float>> r;
      for (const auto& row : j) r.push_back(row.get<std::vector<float>>());
      return r;
    };
    const auto logits_rows = rows(c["cls_logits"]);
    auto logits = at::empty({static_cast<int64_t>(logits_rows.size()), 3}, at::kDouble);
    for (size_t i = 0; i < logits_rows.size(); ++i)
      for (int k = 0; k < 3; ++k) logits[static_cast<int64_t>(i)][k] = c["cls_logits"][i][k].get<double>();
    PaaAssignerOptions o;
    o.reg_weight = c["reg_weight"].get<float>();
    const auto loss = PaaAssigner(o).anchor_losses(logits, boxes(rows(c["pred_boxes"])).to(at::kDouble),
                                                   boxes(rows(c["gt_boxes"])).to(at::kDouble),
                                                   at::tensor(c["gt_labels"].get<std::vector<int64_t>>()));
    const auto want = c["loss"].get<std::vector<double>>();
    ASSERT_EQ(loss.numel(), static_cast<int64_t>(want.size()));
    // Boxes pass through float32 (the test helper), hence the tolerance.
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(loss[static_cast<int64_t>(i)].item<double>(), want[i], 1e-5);
    return;
  }
  FAIL() << "no anchor_loss case in the golden file";
}

// One class; every anchor's class logit is -2, so each candidate pays the same classification
// loss (0.4125) and the order of the losses is the order of the GIoU losses of the predictions.
AssignInput input(std::vector<std::vector<float>> anchors, std::vector<int64_t> per_level,
                  std::vector<std::vector<float>> pred, std::vector<std::vector<float>> gt) {
  AssignInput in;
  in.anchors = boxes(anchors);
  in.anchors_per_level = std::move(per_level);
  in.level_strides.assign(in.anchors_per_level.size(), 16.f);
  in.gt_boxes = boxes(gt);
  in.gt_labels = at::zeros({in.gt_boxes.size(0)}, at::kLong);
  in.pred_boxes = boxes(pred);
  in.cls_logits = at::full({in.anchors.size(0), 1}, -2.f);
  return in;
}

// Box [0,0,16,16]. Predictions inside it with height h have GIoU h/16; a same-size prediction d px
// to the right of it has GIoU -(d / (32 + d)) (the gap over the enclosing box). GIoU losses:
//   [0,0,16,16] 0, [0,0,16,14.4] 0.1, [0,0,16,11.2] 0.3, [48,0,64,16] 1.5, [80,0,96,16] 1.667.
const std::vector<std::vector<float>> kFivePreds = {
    {0, 0, 16, 16}, {0, 0, 16, 14.4f}, {0, 0, 16, 11.2f}, {48, 0, 64, 16}, {80, 0, 96, 16}};
// Anchors overlapping the box with IoU >= 0.1 (1, 0.78, 0.78, 0.39, 0.62) and one far away.
const std::vector<std::vector<float>> kFiveAnchors = {
    {0, 0, 16, 16}, {2, 0, 18, 16}, {0, 2, 16, 18}, {4, 4, 20, 20}, {-2, -2, 14, 14}};

TEST(PaaAssigner, HandComputedOneBox) {
  // Losses c + {0, 0.1, 0.3, 1.5, 1.667}: the two-groups case of the mixture test shifted by c, so
  // the low component is {0, 0.1, 0.3}, its densest member 0.1, positives the anchors of 0 and 0.1.
  auto anchors = kFiveAnchors;
  anchors.push_back({100, 100, 116, 116});
  auto pred = kFivePreds;
  pred.push_back({0, 0, 16, 16});  // a perfect prediction on an anchor that is no candidate
  const auto r = PaaAssigner().assign(input(anchors, {6}, pred, {{0, 0, 16, 16}}));
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>{0, 0, -1, -1, -1, -1}));
}

TEST(PaaAssigner, TopKPerLevelLimitsCandidates) {
  // Level 0: the five anchors above; level 1: [-8,-8,24,24] (IoU 0.25) predicting [80,0,96,16]
  // (loss 1.667) and a far anchor. With top_k 1 the candidates are level 0's best (loss 0) and
  // level 1's only one; the anchor of loss 0.1, positive with top_k 9, is now negative.
  auto anchors = kFiveAnchors;
  anchors.push_back({-8, -8, 24, 24});
  anchors.push_back({200, 200, 232, 232});
  auto pred = kFivePreds;
  pred.push_back({80, 0, 96, 16});
  pred.push_back({0, 0, 16, 16});
  PaaAssignerOptions o;
  o.top_k = 1;
  EXPECT_EQ(to_vec(PaaAssigner(o).assign(input(anchors, {5, 2}, pred, {{0, 0, 16, 16}})).matched_gt),
            (std::vector<int64_t>{0, -1, -1, -1, -1, -1, -1}));
  EXPECT_EQ(to_vec(PaaAssigner().assign(input(anchors, {5, 2}, pred, {{0, 0, 16, 16}})).matched_gt),
            (std::vector<int64_t>{0, 0, -1, -1, -1, -1, -1}));
}

TEST(PaaAssigner, AnchorBelongsToTheBoxItOverlapsMost) {
  // Boxes [0,0,16,16] and [8,0,24,16]. Anchor [2,0,18,16] has IoU 0.78 with the first and 0.45
  // with the second, so it is a candidate of the first only, although every prediction is exactly
  // the second box. The first box's two candidates then have equal losses: both positive. The
  // second box's only candidate ([8,0,24,16]) is positive.
  const std::vector<std::vector<float>> anchors = {{0, 0, 16, 16}, {2, 0, 18, 16}, {8, 0, 24, 16}};
  const std::vector<std::vector<float>> pred(3, std::vector<float>{8, 0, 24, 16});
  EXPECT_EQ(to_vec(PaaAssigner().assign(input(anchors, {3}, pred, {{0, 0, 16, 16}, {8, 0, 24, 16}})).matched_gt),
            (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(to_vec(PaaAssigner().assign(input(anchors, {3}, pred, {{8, 0, 24, 16}, {0, 0, 16, 16}})).matched_gt),
            (std::vector<int64_t>{1, 1, 0}));
}

TEST(PaaAssigner, SingleCandidateIsPositive) {
  // Box [2,2,4,4]: IoU 4/256 = 0.016 with the first anchor, below candidate_iou; the low-quality
  // match still makes it the box's one candidate, and one candidate is positive.
  const auto r = PaaAssigner().assign(
      input({{0, 0, 16, 16}, {16, 0, 32, 16}}, {2}, {{2, 2, 4, 4}, {2, 2, 4, 4}}, {{2, 2, 4, 4}}));
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>{0, -1}));
}

TEST(PaaAssigner, EqualLossesMakeEveryCandidatePositive) {
  const std::vector<std::vector<float>> pred(5, std::vector<float>{1, 1, 15, 15});
  const auto r = PaaAssigner().assign(input(kFiveAnchors, {5}, pred, {{0, 0, 16, 16}}));
  EXPECT_EQ(to_vec(r.matched_gt), (std::vector<int64_t>(5, 0)));
}

TEST(PaaAssigner, NoBoxesAndBoxesOutsideTheImage) {
  auto in = input(kFiveAnchors, {5}, kFivePreds, {{0, 0, 16, 16}});
  in.gt_boxes = at::zeros({0, 4});
  in.gt_labels = at::zeros({0}, at::kLong);
  EXPECT_EQ(to_vec(PaaAssigner().assign(in).matched_gt), (std::vector<int64_t>(5, -1)));
  // A box that overlaps no anchor (outside the image) and a zero-area box get nothing; the box
  // inside the image is assigned as if alone.
  EXPECT_EQ(to_vec(PaaAssigner().assign(input(kFiveAnchors, {5}, kFivePreds, {{300, 300, 340, 340}})).matched_gt),
            (std::vector<int64_t>(5, -1)));
  EXPECT_EQ(to_vec(PaaAssigner()
                       .assign(input(kFiveAnchors, {5}, kFivePreds,
                                     {{300, 300, 340, 340}, {5, 5, 5, 9}, {0, 0, 16, 16}}))
                       .matched_gt),
            (std::vector<int64_t>{2, 2, -1, -1, -1}));
}

TEST(PaaAssigner, NeedsPredictionsAndValidOptions) {
  auto in = input(kFiveAnchors, {5}, kFivePreds, {{0, 0, 16, 16}});
  in.cls_logits = at::Tensor();
  EXPECT_THROW(PaaAssigner().assign(in), MarrowError);
  in = input(kFiveAnchors, {5}, kFivePreds, {{0, 0, 16, 16}});
  in.pred_boxes = in.pred_boxes.slice(0, 0, 3);
  EXPECT_THROW(PaaAssigner().assign(in), MarrowError);
  in = input(kFiveAnchors, {5}, kFivePreds, {{0, 0, 16, 16}});
  in.gt_labels = at::ones({1}, at::kLong);  // class 1 of a one-class model
  EXPECT_THROW(PaaAssigner().assign(in), MarrowError);
  PaaAssignerOptions o;
  o.top_k = 0;
  EXPECT_THROW(PaaAssigner{o}, MarrowError);
}

}  // namespace
}  // namespace ms
