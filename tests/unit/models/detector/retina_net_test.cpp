// Shapes for every neck variant and level set, any input size, losses on hand-made targets,
// post-processing on hand-made outputs, and a tiny model that learns a disc in a few seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>
#include <torch/optim/adam.h>

#include "core/config.h"
#include "core/error.h"
#include "models/assign/max_iou_assigner.h"
#include "models/detector/retina_net.h"
#include "models/runtime.h"

namespace ms {
namespace {

RetinaNetOptions tiny(int min_level, int max_level, bool pa, bool iou) {
  RetinaNetOptions o;
  o.classes = {"WBC", "RBC"};
  o.input_size = 128;
  o.backbone.width = 0.125f;
  o.neck.channels = 16;
  o.neck.min_level = min_level;
  o.neck.max_level = max_level;
  o.neck.path_aggregation = pa;
  o.head.num_convs = 1;
  o.head.iou_branch = iou;
  return o;
}

struct ShapeCase {
  int min_level, max_level;
  bool pa, iou;
  int64_t h, w;
};

class RetinaNetShapes : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(RetinaNetShapes, OutputsLineUpWithAnchors) {
  init_torch_runtime();
  const auto& c = GetParam();
  RetinaNet net(tiny(c.min_level, c.max_level, c.pa, c.iou));
  net->eval();
  at::NoGradGuard ng;
  const RetinaNetOutput out = net->forward(at::randn({2, 3, c.h, c.w}));
  const int64_t ph = (c.h + 31) / 32 * 32, pw = (c.w + 31) / 32 * 32;
  EXPECT_EQ(out.input_height, ph);
  EXPECT_EQ(out.input_width, pw);
  int64_t n = 0;
  ASSERT_EQ(out.anchors_per_level.size(), size_t(c.max_level - c.min_level + 1));
  for (int l = c.min_level; l <= c.max_level; ++l) {
    const int64_t s = int64_t{1} << l;
    // Each level halves the previous one with ceil (stride-2 convs on the padded input).
    int64_t fh = ph, fw = pw;
    for (int k = 0; k < l; ++k) fh = (fh + 1) / 2, fw = (fw + 1) / 2;
    EXPECT_EQ(out.anchors_per_level[l - c.min_level], fh * fw * 9) << "level " << l;
    EXPECT_EQ(out.level_strides[l - c.min_level], float(s));
    n += fh * fw * 9;
  }
  EXPECT_EQ(out.cls_logits.sizes(), (at::IntArrayRef{2, n, 2}));
  EXPECT_EQ(out.box_deltas.sizes(), (at::IntArrayRef{2, n, 4}));
  EXPECT_EQ(out.anchors.sizes(), (at::IntArrayRef{n, 4}));
  EXPECT_EQ(out.iou_logits.defined(), c.iou);
  if (c.iou) EXPECT_EQ(out.iou_logits.sizes(), (at::IntArrayRef{2, n}));
  // Prior: every class probability starts near prior_prob = 0.01 (RetinaNet sec. 4.1).
  EXPECT_NEAR(at::sigmoid(out.cls_logits).mean().item<double>(), 0.01, 0.01);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, RetinaNetShapes,
    ::testing::Values(ShapeCase{3, 7, false, false, 128, 96}, ShapeCase{3, 7, true, true, 128, 128},
                      ShapeCase{2, 6, false, true, 64, 96}, ShapeCase{2, 6, true, false, 96, 64},
                      ShapeCase{3, 5, true, true, 100, 75},   // odd sizes: padded to 128 x 96
                      ShapeCase{4, 8, true, false, 33, 161}));

TEST(RetinaNet, PaddingDoesNotMoveAnchorsOrFeatures) {
  // The pad goes right/bottom, so a padded input gives identical predictions at the top-left.
  RetinaNet net(tiny(3, 5, true, false));
  net->eval();
  at::NoGradGuard ng;
  const at::Tensor x = at::randn({1, 3, 64, 64});
  const auto a = net->forward(x);
  const auto b = net->forward(at::constant_pad_nd(x, {0, 0, 0, 0}));
  EXPECT_TRUE(at::allclose(a.cls_logits, b.cls_logits));
  // Anchor 0 of level 3 is centred at the origin with the base size 32 (rounded torchvision base).
  EXPECT_EQ(a.anchors[0][0].item<float>(), std::round(-32 / std::sqrt(0.5f) / 2));
}

TEST(RetinaNet, ConfigRoundTripsAndRejectsUnknownKeys) {
  const RetinaNetOptions o = tiny(2, 6, true, true);
  const Json j = config_to_json(o);
  const auto back = config_from_json<RetinaNetOptions>(j);
  EXPECT_EQ(config_to_json(back), j);
  EXPECT_EQ(j["neck"]["min_level"], 2);
  EXPECT_EQ(j["loss"]["box_loss"], "giou");
  Json bad = j;
  bad["neck"]["levels"] = 3;
  try {
    config_from_json<RetinaNetOptions>(bad);
    FAIL();
  } catch (const MarrowError& e) {
    EXPECT_NE(std::string(e.what()).find("$.neck.levels"), std::string::npos) << e.what();
  }
}

TEST(RetinaNet, RejectsInvalidOptionsWithTheFieldName) {
  auto message = [](RetinaNetOptions o) {
    try {
      RetinaNet net(o);
    } catch (const MarrowError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  RetinaNetOptions o = tiny(3, 7, false, false);
  o.input_size = 500;
  EXPECT_NE(message(o).find("retina_net.input_size"), std::string::npos);
  o = tiny(3, 7, false, false);
  o.neck.min_level = 1;
  EXPECT_NE(message(o).find("neck.min_level"), std::string::npos);
  o = tiny(3, 7, false, false);
  o.anchors.sizes = {32, 64};
  EXPECT_NE(message(o).find("anchors.sizes"), std::string::npos);
  o = tiny(3, 7, false, false);
  o.classes.clear();
  EXPECT_NE(message(o).find("retina_net.classes"), std::string::npos);
}

TEST(DetectionLoss, HandComputedFocalNormalisation) {
  // One image, 2 anchors, 1 class. Anchor 0 positive (class 0), anchor 1 background; all logits 0,
  // so p = 0.5 everywhere: FL = alpha_t * 0.25 * ln 2 per element; N_pos = 1.
  const at::Tensor cls = at::zeros({1, 2, 1});
  const at::Tensor anchors = at::tensor({0.f, 0.f, 10.f, 10.f, 20.f, 20.f, 30.f, 30.f}).view({2, 4});
  const at::Tensor deltas = at::zeros({1, 2, 4});
  DetectionTargets t{at::tensor({0, -1}, at::kLong).view({1, 2}), anchors.unsqueeze(0).clone(), at::Tensor()};
  DetectionLossOptions o;
  o.box_loss = BoxLossKind::kSmoothL1;
  const DetectionLoss l = detection_loss(cls, deltas, {}, anchors, t, BoxCoder(), o);
  EXPECT_EQ(l.num_positive, 1);
  EXPECT_NEAR(l.cls.item<double>(), (0.25 + 0.75) * 0.25 * std::log(2.0), 1e-6);
  EXPECT_NEAR(l.box.item<double>(), 0.0, 1e-7);  // deltas equal the (zero) targets
  // Ignored anchors (-2) contribute nothing.
  DetectionTargets ignored{at::tensor({0, -2}, at::kLong).view({1, 2}), t.boxes, at::Tensor()};
  EXPECT_NEAR(detection_loss(cls, deltas, {}, anchors, ignored, BoxCoder(), o).cls.item<double>(),
              0.25 * 0.25 * std::log(2.0), 1e-6);
}

TEST(DetectionLoss, GiouAndIouBranchOnAShiftedBox) {
  // Anchor [0,0,10,10] predicts itself (zero deltas) for target [5,0,15,10]: IoU 1/3, GIoU 1/3.
  const at::Tensor anchors = at::tensor({0.f, 0.f, 10.f, 10.f}).view({1, 4});
  DetectionTargets t{at::zeros({1, 1}, at::kLong), at::tensor({5.f, 0.f, 15.f, 10.f}).view({1, 1, 4})};
  at::Tensor iou_logits = at::zeros({1, 1});
  at::Tensor deltas = at::zeros({1, 1, 4});
  iou_logits.set_requires_grad(true);
  deltas.set_requires_grad(true);
  DetectionLossOptions o;  // GIoU by default
  const DetectionLoss l = detection_loss(at::zeros({1, 1, 1}), deltas, iou_logits, anchors, t, BoxCoder(), o);
  EXPECT_NEAR(l.box.item<double>(), 1.0 - 1.0 / 3.0, 1e-5);
  // BCE(logit 0, target 1/3) = ln 2.
  EXPECT_NEAR(l.iou.item<double>(), std::log(2.0), 1e-5);
  l.total.backward();
  EXPECT_LT(deltas.grad()[0][0][0].item<float>(), 0.f);  // the box is pushed right (dx grows)
  EXPECT_GT(iou_logits.grad()[0][0].item<float>(), 0.f);  // the IoU logit is pushed down toward 1/3
}

TEST(DetectionLoss, EmptyImageHasOnlyBackgroundLossAndBackpropagates) {
  at::Tensor cls = at::zeros({1, 3, 2});
  at::Tensor deltas = at::zeros({1, 3, 4});
  cls.set_requires_grad(true);
  deltas.set_requires_grad(true);
  const at::Tensor anchors = at::rand({3, 4}) + at::tensor({0.f, 0.f, 2.f, 2.f});
  DetectionTargets t{at::full({1, 3}, -1, at::kLong), at::zeros({1, 3, 4})};
  const DetectionLoss l = detection_loss(cls, deltas, {}, anchors, t, BoxCoder(), {});
  EXPECT_EQ(l.num_positive, 0);
  EXPECT_NEAR(l.cls.item<double>(), 6 * 0.75 * 0.25 * std::log(2.0), 1e-5);
  EXPECT_EQ(l.box.item<double>(), 0.0);
  l.total.backward();
  EXPECT_TRUE(deltas.grad().defined());
}

RetinaNetOutput handmade_output(bool with_iou) {
  // Two levels with 2 and 1 anchors, 2 classes, one image.
  RetinaNetOutput out;
  out.anchors = at::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 0.f, 11.f, 10.f, 40.f, 40.f, 60.f, 60.f}).view({3, 4});
  out.anchors_per_level = {2, 1};
  out.level_strides = {8.f, 16.f};
  out.anchors_per_location = 1;
  out.input_height = out.input_width = 64;
  auto logit = [](double p) { return static_cast<float>(std::log(p / (1 - p))); };
  // Anchor 0: class 0 p=0.9; anchor 1 (IoU 0.82 with anchor 0): class 0 p=0.8, class 1 p=0.7;
  // anchor 2: class 1 p=0.04 (below the 0.05 threshold).
  out.cls_logits = at::tensor({logit(0.9), logit(0.01), logit(0.8), logit(0.7), logit(0.01), logit(0.04)}).view({1, 3, 2});
  out.box_deltas = at::zeros({1, 3, 4});
  if (with_iou) out.iou_logits = at::tensor({logit(0.25), logit(0.81), logit(0.5)}).view({1, 3});
  return out;
}

TEST(Postprocess, ThresholdClassWiseNmsAndLetterbox) {
  PostprocessOptions o;
  const auto dets = postprocess(handmade_output(false), {}, BoxCoder(), o)[0];
  // Class 0: anchor 0 suppresses anchor 1; class 1 keeps anchor 1; anchor 2 is under threshold.
  ASSERT_EQ(dets.size(), 2u);
  EXPECT_EQ(dets[0].class_id, 0);
  EXPECT_NEAR(dets[0].score, 0.9f, 1e-5);
  EXPECT_EQ(dets[0].box, (Box{0, 0, 10, 10}));
  EXPECT_EQ(dets[1].class_id, 1);
  EXPECT_EQ(dets[1].box, (Box{1, 0, 11, 10}));
  EXPECT_EQ(dets[1].iou, -1.f);
  // Letterbox from a 128x128 original scaled by 0.5: boxes double.
  const auto back = postprocess(handmade_output(false), {make_letterbox(128, 128, 64, 64)}, BoxCoder(), o)[0];
  EXPECT_EQ(back[0].box, (Box{0, 0, 20, 20}));
  o.max_detections = 1;
  EXPECT_EQ(postprocess(handmade_output(false), {}, BoxCoder(), o)[0].size(), 1u);
}

TEST(Postprocess, IouBranchReranks) {
  PostprocessOptions o;  // iou_power 0.5: sqrt(cls * iou)
  const auto dets = postprocess(handmade_output(true), {}, BoxCoder(), o)[0];
  // Class 0: anchor 0 sqrt(0.9*0.25)=0.474 < anchor 1 sqrt(0.8*0.81)=0.805, so anchor 1 wins now.
  ASSERT_EQ(dets.size(), 2u);
  EXPECT_NEAR(dets[0].score, std::sqrt(0.8 * 0.81), 1e-4);
  EXPECT_EQ(dets[0].box, (Box{1, 0, 11, 10}));
  EXPECT_NEAR(dets[0].class_score, 0.8f, 1e-5);
  EXPECT_NEAR(dets[0].iou, 0.81f, 1e-5);
  o.iou_power = 0.f;  // class score only
  EXPECT_NEAR(postprocess(handmade_output(true), {}, BoxCoder(), o)[0][0].score, 0.9f, 1e-5);
}

// A tiny RetinaNet learns one disc per image in a few seconds: proves that head, anchors, coder,
// loss and post-processing agree with each other (a wrong anchor order or decode breaks it).
// A head with GroupNorm runs under bf16 autocast (LibTorch 1.13 has no CPU GroupNorm for a
// bfloat16 input with float32 parameters: the head normalises in float32) and gives nearly the
// float32 outputs.
TEST(RetinaNet, GroupNormHeadRunsInBfloat16) {
  init_torch_runtime();
  at::manual_seed(0);
  RetinaNetOptions o = tiny(3, 5, true, true);
  o.head.num_convs = 2;
  o.head.norm = HeadNorm::kGroup;
  RetinaNet net(o);
  net->eval();
  at::NoGradGuard no_grad;
  const auto x = at::rand({1, 3, o.input_size, o.input_size});
  auto ref = net->forward(x);
  RetinaNetOutput half;
  {
    const InferencePrecisionScope bf16(Precision::kBf16);
    EXPECT_NO_THROW(half = net->forward(x));
  }
  half.to_float();
  ASSERT_EQ(half.cls_logits.sizes(), ref.cls_logits.sizes());
  EXPECT_LT((half.cls_logits - ref.cls_logits).abs().max().item<float>(), 0.1f);
  EXPECT_LT((half.box_deltas - ref.box_deltas).abs().max().item<float>(), 0.1f);
}

// Every option of the network runs in bf16 (the default precision of detectors on CPUs with
// native bf16): backbone depths, neck levels and path aggregation, head norm and IoU branch.
TEST(RetinaNet, EveryOptionRunsInBfloat16) {
  init_torch_runtime();
  at::NoGradGuard no_grad;
  for (int depth : {18, 50})
    for (bool pa : {false, true})
      for (bool iou : {false, true})
        for (HeadNorm norm : {HeadNorm::kNone, HeadNorm::kGroup})
          for (auto [lo, hi] : {std::pair{2, 6}, std::pair{3, 7}}) {
            at::manual_seed(0);
            RetinaNetOptions o = tiny(lo, hi, pa, iou);
            o.backbone.depth = depth;
            o.head.norm = norm;
            RetinaNet net(o);
            net->eval();
            const auto x = at::rand({1, 3, o.input_size, o.input_size});
            auto ref = net->forward(x);
            RetinaNetOutput half;
            const std::string what = "depth " + std::to_string(depth) + (pa ? " pa" : "") + (iou ? " iou" : "") +
                                     (norm == HeadNorm::kGroup ? " gn" : "") + " P" + std::to_string(lo) + "-P" +
                                     std::to_string(hi);
            {
              const InferencePrecisionScope bf16(Precision::kBf16);
              ASSERT_NO_THROW(half = net->forward(x)) << what;
            }
            half.to_float();
            ASSERT_EQ(half.cls_logits.sizes(), ref.cls_logits.sizes()) << what;
            EXPECT_LT((half.cls_logits - ref.cls_logits).abs().max().item<float>(), 0.1f) << what;
            EXPECT_LT((half.box_deltas - ref.box_deltas).abs().max().item<float>(), 0.1f) << what;
            if (iou) EXPECT_LT((half.iou_logits - ref.iou_logits).abs().max().item<float>(), 0.1f) << what;
          }
}

TEST(RetinaNet, TinyModelLearnsDiscs) {
  init_torch_runtime();
  at::manual_seed(0);
  RetinaNetOptions o = tiny(3, 5, true, true);
  o.classes = {"disc"};
  o.input_size = 64;
  o.backbone.width = 0.25f;
  o.neck.channels = 32;
  o.head.num_convs = 1;
  o.head.norm = HeadNorm::kGroup;
  o.anchors.sizes = {16, 32, 64};
  RetinaNet net(o);
  std::mt19937 rng(1);
  auto make = [&](Box* box) {
    cv::Mat img(64, 64, CV_8UC3, cv::Scalar(230, 225, 235));
    std::uniform_int_distribution<int> r(8, 16), c(18, 46);
    const int rad = r(rng), cx = c(rng), cy = c(rng);
    cv::circle(img, {cx, cy}, rad, cv::Scalar(140, 40, 120), cv::FILLED);
    *box = Box{float(cx - rad), float(cy - rad), float(cx + rad + 1), float(cy + rad + 1)};
    return img;
  };
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
  MaxIouAssigner assigner;
  net->train();
  for (int step = 0; step < 100; ++step) {
    std::vector<at::Tensor> imgs;
    std::vector<Box> boxes(3);
    for (auto& b : boxes) imgs.push_back(normalize_image(make(&b), o.pixel_mean, o.pixel_std));
    const RetinaNetOutput out = net->forward(at::stack(imgs));
    std::vector<at::Tensor> labels, tboxes;
    for (const auto& b : boxes) {
      AssignInput in;
      in.anchors = out.anchors;
      in.anchors_per_level = out.anchors_per_level;
      in.level_strides = out.level_strides;
      in.anchors_per_location = out.anchors_per_location;
      in.gt_boxes = at::tensor({b.x1, b.y1, b.x2, b.y2}).view({1, 4});
      in.gt_labels = at::zeros({1}, at::kLong);
      const at::Tensor m = assigner.assign(in).matched_gt;
      labels.push_back(at::where(m >= 0, at::zeros_like(m), m));
      tboxes.push_back(in.gt_boxes.expand({m.size(0), 4}));
    }
    const DetectionLoss l = detection_loss(out.cls_logits, out.box_deltas, out.iou_logits, out.anchors,
                                           {at::stack(labels), at::stack(tboxes)}, net->box_coder(), o.loss);
    opt.zero_grad();
    l.total.backward();
    opt.step();
  }
  int hits = 0;
  for (int i = 0; i < 10; ++i) {
    Box b;
    cv::Mat img = make(&b);
    cv::Mat big;
    cv::resize(img, big, {96, 96}, 0, 0, cv::INTER_LINEAR);  // detect() letterboxes 96 -> 64
    const auto dets = net->detect({big})[0];
    const Box want{b.x1 * 1.5f, b.y1 * 1.5f, b.x2 * 1.5f, b.y2 * 1.5f};
    if (!dets.empty() && iou(dets[0].box, want) > 0.7f && dets[0].score > 0.3f) ++hits;
  }
  EXPECT_GE(hits, 9) << "the top detection should cover the disc (IoU > 0.7) in at least 9 of 10 images";
}

}  // namespace
}  // namespace ms
