// `explain` maps: attention rollout and last-block attention on hand-made attention tensors (with
// and without part selection), Grad-CAM on hand-computed numbers, overlapping-patch splatting,
// and end to end on tiny models: a ViT whose weights are set by hand so that the class token
// attends to one patch must light up that patch; a CNN gives a Grad-CAM overlay of the stated size.
#include <filesystem>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "engine/classifier/classifier_explain.h"
#include "engine/classifier/classifier_model_file.h"
#include "models/runtime.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// [1,1,n,n] attention where every token attends to itself only.
at::Tensor identity_attention(int64_t n) { return at::eye(n).view({1, 1, n, n}); }

TEST(AttentionRollout, FollowsTheClassTokenThroughTheBlocks) {
  // Block 1: identity. Block 2: the class token attends to token 3 only.
  const int64_t n = 5;
  auto last = at::eye(n);
  last[0] = at::zeros({n});
  last[0][3] = 1.0;
  auto r = attention_rollout({identity_attention(n), last.view({1, 1, n, n})}, at::Tensor(), 0.5);
  ASSERT_EQ(r.sizes(), (at::IntArrayRef{1, n - 1}));
  // (0.5 A + 0.5 I) on the class row: 0.5 on itself, 0.5 on token 3 (column 2 of the patches).
  EXPECT_NEAR(r[0][2].item<float>(), 0.5f, 1e-6);
  EXPECT_NEAR(r[0].sum().item<float>(), 0.5f, 1e-6);
}

TEST(AttentionRollout, MatchesTheMatrixProductWithoutResidual) {
  at::manual_seed(0);
  const int64_t n = 4;
  auto a1 = at::softmax(at::randn({1, 2, n, n}), -1), a2 = at::softmax(at::randn({1, 2, n, n}), -1);
  auto r = attention_rollout({a1, a2}, at::Tensor(), 0.0);
  auto expected = at::matmul(a2.mean(1), a1.mean(1))[0][0].narrow(0, 1, n - 1);
  EXPECT_TRUE(at::allclose(r[0], expected, 1e-5, 1e-6));
}

TEST(AttentionRollout, MapsPartSelectionBackToTheGrid) {
  // 1 + 6 tokens; the last block sees [class; token 5; token 2] and its class row attends to the
  // second selected token (token 2) only.
  const int64_t n = 7;
  auto selected = at::tensor({5, 2}, at::kLong).view({1, 2});
  auto last = at::zeros({1, 1, 3, 3});
  last[0][0][0][2] = 1.0;
  last[0][0][1][1] = 1.0;
  last[0][0][2][2] = 1.0;
  auto r = attention_rollout({identity_attention(n), last}, selected, 0.0);
  ASSERT_EQ(r.size(1), n - 1);
  EXPECT_NEAR(r[0][1].item<float>(), 1.0f, 1e-6);  // token 2
  EXPECT_NEAR(r[0].sum().item<float>(), 1.0f, 1e-6);

  auto lb = last_block_attention({identity_attention(n), last}, selected, n);
  EXPECT_NEAR(lb[0][1].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(lb[0][4].item<float>(), 0.0f, 1e-6);  // token 5: selected, not attended
  EXPECT_THROW(attention_rollout({identity_attention(n), last}, at::Tensor(), 0.0), MarrowError);
}

TEST(GradCam, WeighsChannelsByTheirMeanGradient) {
  // Two channels of 1x2: A0 = [1, 2], A1 = [3, -1]; gradients mean 1 and -1.
  auto f = at::tensor({1.f, 2.f, 3.f, -1.f}).view({2, 1, 2});
  auto g = at::tensor({0.5f, 1.5f, -1.f, -1.f}).view({2, 1, 2});
  auto cam = grad_cam(f, g);
  // 1*[1,2] - 1*[3,-1] = [-2, 3] -> ReLU -> [0, 3]
  EXPECT_FLOAT_EQ(cam[0][0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(cam[0][1].item<float>(), 3.f);
}

TEST(TokenMap, AveragesOverlappingPatches) {
  // 2x2 grid of 4-pixel patches at stride 3 on a 7-pixel image: column/row 3 is shared.
  const PatchGeometry g{2, 4, 3, 1};
  EXPECT_EQ(g.token_rect(4), cv::Rect(3, 3, 4, 4));
  cv::Mat m = token_map_to_image({1.f, 2.f, 3.f, 4.f}, g, 7);
  EXPECT_FLOAT_EQ(m.at<float>(0, 0), 1.f);
  EXPECT_FLOAT_EQ(m.at<float>(0, 6), 2.f);
  EXPECT_FLOAT_EQ(m.at<float>(6, 0), 3.f);
  EXPECT_FLOAT_EQ(m.at<float>(3, 3), 2.5f);  // all four patches
  EXPECT_FLOAT_EQ(m.at<float>(0, 3), 1.5f);  // tokens 1 and 2
}

ClassifierModelInfo tiny_info(ClassifierArch arch) {
  ClassifierModelInfo info;
  info.version = "tiny-explain";
  info.classes = {"a", "b", "c"};
  info.crop_fraction = 1.0;
  info.model.arch = arch;
  info.model.input_size = 32;
  info.model.vit.patch.dim = 16;
  info.model.vit.patch.patch = 8;
  info.model.vit.patch.stride = 8;  // 4x4 grid, no overlap: token rects are exact
  info.model.vit.depth = 2;
  info.model.vit.heads = 2;
  info.model.vit.drop_path = 0;
  info.model.cnn.backbone.depth = 18;
  info.model.cnn.backbone.width = 0.125f;
  return info;
}

// Saves the network as a model folder under /tmp and loads it back through the predictor.
std::unique_ptr<ClassifierPredictor> saved_predictor(const std::string& name, ClassifierNetImpl& net,
                                                     const ClassifierModelInfo& info) {
  const fs::path dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  EXPECT_TRUE(write_classifier_model(dir.string(), net, info));
  auto pred = ClassifierPredictor::load(dir.string());
  EXPECT_TRUE(pred) << pred.error().message;
  return pred ? std::move(*pred) : nullptr;
}

cv::Mat grey_cell() {
  cv::Mat img(40, 40, CV_8UC3, cv::Scalar(200, 200, 200));
  cv::circle(img, {20, 20}, 12, cv::Scalar(150, 60, 120), cv::FILLED);
  return img;
}

TEST(ExplainCell, HandMadeVitLightsUpThePatchItAttendsTo) {
  init_torch_runtime();
  // One block, one head, no part selection. Every patch token is 0 (zero projection) except
  // through its position embedding; the class token and token k = 7 share the embedding e, all
  // others are 0. With q = k = 10 x (LayerNorm output), the class token's scores are large for
  // itself and token 7 and 0 elsewhere, so its attention (and the rollout) peaks at token 7.
  auto info = tiny_info(ClassifierArch::kVit);
  info.model.vit.depth = 1;
  info.model.vit.heads = 1;
  info.model.vit.part_selection = false;
  auto net = make_classifier(info.model, 3);
  const int k = 7;
  {
    c10::NoGradGuard no_grad;
    for (auto& p : net->named_parameters()) {
      const std::string& name = p.key();
      if (name.find("patch_embed") != std::string::npos || name == "cls_token") p.value().zero_();
      if (name == "pos_embed") {
        p.value().zero_();
        auto e = at::arange(16, at::kFloat) - 7.5;
        p.value()[0][0].copy_(e);
        p.value()[0][k].copy_(e);
      }
      if (name == "block0.in_proj.weight") {
        p.value().zero_();
        p.value().narrow(0, 0, 16).copy_(10 * at::eye(16));   // W_q
        p.value().narrow(0, 16, 16).copy_(10 * at::eye(16));  // W_k
      }
    }
  }
  auto pred = saved_predictor("ms_explain_vit_hand", *net, info);
  ASSERT_TRUE(pred);
  for (ExplainMethod method : {ExplainMethod::kRollout, ExplainMethod::kAttention}) {
    ExplainOptions o;
    o.method = method;
    o.scale = 3;
    // A uniform cell: the overlay's colours then come from the heat alone.
    auto e = explain_cell(*pred, cv::Mat(40, 40, CV_8UC3, cv::Scalar(200, 200, 200)), o);
    ASSERT_TRUE(e) << e.error().message;
    ASSERT_EQ(e->heat.size(), cv::Size(32, 32));
    ASSERT_EQ(e->overlay.size(), cv::Size(96, 96));
    const cv::Rect hot = PatchGeometry{4, 8, 8, 1}.token_rect(k);  // row 1, col 2
    EXPECT_EQ(hot, cv::Rect(16, 8, 8, 8));
    cv::Point where;
    double mx = 0;
    cv::minMaxLoc(e->heat, nullptr, &mx, nullptr, &where);
    EXPECT_FLOAT_EQ(mx, 1.0);
    EXPECT_TRUE(hot.contains(where)) << where;
    EXPECT_LT(e->heat.at<float>(28, 4), 0.01f);  // a patch nobody attends to
    // In the overlay the hot patch is red (JET at 1) and a cold one blue-tinted.
    const cv::Vec3b hot_px = e->overlay.at<cv::Vec3b>(12 * 3, 20 * 3);
    const cv::Vec3b cold_px = e->overlay.at<cv::Vec3b>(28 * 3, 4 * 3);
    EXPECT_GT(hot_px[2], hot_px[0] + 60) << hot_px;
    EXPECT_GT(cold_px[0], cold_px[2] + 60) << cold_px;
  }
}

TEST(ExplainCell, OutlinesThePatchesPartSelectionChose) {
  init_torch_runtime();
  auto info = tiny_info(ClassifierArch::kVit);
  torch::manual_seed(3);
  auto net = make_classifier(info.model, 3);
  auto pred = saved_predictor("ms_explain_vit_parts", *net, info);
  ASSERT_TRUE(pred);
  auto e = explain_cell(*pred, grey_cell());
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->method, "rollout");
  ASSERT_EQ(e->selected_tokens.size(), 2u);  // one per head
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_GE(e->selected_tokens[i], 1);
    EXPECT_LE(e->selected_tokens[i], 16);
    EXPECT_EQ(e->selected_patches[i], (PatchGeometry{4, 8, 8, 1}.token_rect(e->selected_tokens[i])));
  }
  EXPECT_EQ(e->overlay.size(), cv::Size(128, 128));  // default scale 4
  double mn = 0, mx = 0;
  cv::minMaxLoc(e->heat, &mn, &mx);
  EXPECT_GE(mn, 0.0);
  EXPECT_FLOAT_EQ(mx, 1.0);
  // The outline is drawn: the overlay differs from the same overlay without outlines there.
  const cv::Mat plain = render_overlay(e->view, e->heat, {}, 4, 0.5);
  const cv::Rect r = e->selected_patches[0];
  EXPECT_NE(plain.at<cv::Vec3b>(r.y * 4, r.x * 4 + 2), e->overlay.at<cv::Vec3b>(r.y * 4, r.x * 4 + 2));

  ExplainOptions grad;
  grad.method = ExplainMethod::kGradCam;
  auto bad = explain_cell(*pred, grey_cell(), grad);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("rollout or attention"), std::string::npos);
  auto empty = explain_cell(*pred, cv::Mat());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty image"), std::string::npos);
}

TEST(ExplainCell, CnnGivesGradCamOfTheInputSize) {
  init_torch_runtime();
  auto info = tiny_info(ClassifierArch::kCnn);
  torch::manual_seed(5);
  auto net = make_classifier(info.model, 3);
  auto pred = saved_predictor("ms_explain_cnn", *net, info);
  ASSERT_TRUE(pred);
  ExplainOptions o;
  o.scale = 2;
  o.target_class = 1;
  auto e = explain_cell(*pred, grey_cell(), o);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->method, "gradcam");
  EXPECT_EQ(e->class_id, 1);
  EXPECT_EQ(e->heat.size(), cv::Size(32, 32));
  EXPECT_EQ(e->overlay.size(), cv::Size(64, 64));
  EXPECT_TRUE(e->selected_patches.empty());
  // The predicted class's probability agrees with the predictor's.
  auto p = pred->classify({grey_cell()}).front();
  EXPECT_EQ(e->predicted, p.class_id);
  EXPECT_NEAR(e->probability, p.probs[1], 1e-5);
  ExplainOptions rollout;
  rollout.method = ExplainMethod::kRollout;
  EXPECT_FALSE(explain_cell(*pred, grey_cell(), rollout));
}

}  // namespace
}  // namespace ms
