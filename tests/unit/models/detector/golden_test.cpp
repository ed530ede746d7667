// Golden tests against torchvision 0.14 (tools/gen_detector_golden.py, outputs committed under
// tests/golden/detector/). Inputs are stored beside the outputs, so both sides see the same numbers.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "core/config.h"
#include "models/assign/assign_result.h"
#include "models/detector/anchor_generator.h"
#include "models/detector/box_coder.h"
#include "models/loss/focal_loss.h"
#include "models/loss/giou_loss.h"
#include "models/ops/nms.h"

namespace ms {
namespace {

Json golden(const std::string& name) {
  return value_or_throw(read_json_file(std::string(MARROWSCOPE_SOURCE_DIR) + "/tests/golden/detector/" + name));
}

at::Tensor tensor(const Json& j, std::vector<int64_t> shape) {
  const std::vector<float> v = j.get<std::vector<float>>();
  if (v.empty()) {
    for (auto& d : shape) d = std::max<int64_t>(d, 0);
    return at::zeros(shape, at::kFloat);
  }
  return at::tensor(v, at::kFloat).view(shape);
}

void expect_close(const at::Tensor& got, const at::Tensor& want, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const at::Tensor err = (got - want).abs() - (atol + rtol * want.abs());
  const double worst = err.max().item<double>();
  EXPECT_LE(worst, 0.0) << what << ": worst excess error " << worst << " at flat index "
                        << err.flatten().argmax().item<int64_t>();
}

std::vector<int64_t> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

TEST(DetectorGolden, BaseAnchorsMatchTorchvisionRetinaNet) {
  // torchvision's RetinaNet sizes per level are integers (x, int(x 2^1/3), int(x 2^2/3)); ours are
  // one base size times relative scales, so each level is built with the exact ratios (all have
  // power-of-two denominators, hence exact in float).
  const Json g = golden("anchors.json");
  for (size_t l = 0; l < 5; ++l) {
    const std::vector<float> sizes = g["torchvision_sizes"][l].get<std::vector<float>>();
    AnchorOptions o;
    o.sizes = {sizes[0]};
    o.scales = {1.f, sizes[1] / sizes[0], sizes[2] / sizes[0]};
    AnchorGenerator gen(o, {int(l) + 3});
    ASSERT_EQ(o.sizes[0] * o.scales[2], sizes[2]) << "level " << l;
    expect_close(gen.base_anchors(0), tensor(g["base_anchors"][l], {9, 4}), 0, 0, "level " + std::to_string(l));
  }
  // Default options: 4 * stride with scales 2^(k/3) (sizes 32, 40.3, 50.8 on P3).
  AnchorGenerator def(AnchorOptions{}, {3});
  EXPECT_EQ(def.base_anchors(0)[4][2].item<float>(), std::round(32 * std::cbrt(2.f) / 2));
}

TEST(DetectorGolden, AnchorGridMatchesTorchvision) {
  const Json g = golden("anchors.json")["grid"];
  AnchorOptions o;
  o.sizes = g["sizes"].get<std::vector<float>>();
  AnchorGenerator gen(o, g["levels"].get<std::vector<int>>());
  std::vector<std::pair<int64_t, int64_t>> fs;
  for (const auto& s : g["feature_sizes"]) fs.emplace_back(s[0].get<int64_t>(), s[1].get<int64_t>());
  const AnchorSet set = gen.generate(fs);
  EXPECT_EQ(set.anchors_per_location, 9);
  EXPECT_EQ(set.anchors_per_level, (std::vector<int64_t>{4 * 6 * 9, 2 * 3 * 9}));
  EXPECT_EQ(set.level_strides, (std::vector<float>{8.f, 16.f}));
  expect_close(set.anchors, tensor(g["anchors"], {-1, 4}), 0, 0, "anchor grid");
}

TEST(DetectorGolden, BoxCoderMatchesTorchvision) {
  const Json g = golden("box_coder.json");
  const at::Tensor anchors = tensor(g["anchors"], {-1, 4});
  const at::Tensor boxes = tensor(g["boxes"], {-1, 4});
  const at::Tensor deltas = tensor(g["deltas"], {-1, 4});
  for (const auto& c : g["cases"]) {
    BoxCoderOptions o;
    o.wx = c["weights"][0];
    o.wy = c["weights"][1];
    o.ww = c["weights"][2];
    o.wh = c["weights"][3];
    o.clamp = c["clamp"];
    const BoxCoder coder(o);
    const std::string w = c["weights"].dump();
    expect_close(coder.encode(boxes, anchors), tensor(c["encoded"], {-1, 4}), 1e-5, 1e-5, "encode " + w);
    expect_close(coder.decode(deltas, anchors), tensor(c["decoded"], {-1, 4}), 1e-3, 1e-5, "decode " + w);
    // Property: decode(encode(b)) == b.
    expect_close(coder.decode(coder.encode(boxes, anchors), anchors), boxes, 1e-3, 1e-5, "round trip " + w);
  }
}

TEST(DetectorGolden, SigmoidFocalLossMatchesTorchvision) {
  const Json g = golden("focal_loss.json");
  const at::Tensor logits = tensor(g["logits"], {8, 3});
  const at::Tensor targets = tensor(g["targets"], {8, 3});
  for (const auto& c : g["cases"]) {
    const double alpha = c["alpha"], gamma = c["gamma"];
    expect_close(sigmoid_focal_loss(logits, targets, alpha, gamma), tensor(c["loss"], {8, 3}), 1e-6, 1e-5,
                 "alpha " + std::to_string(alpha) + " gamma " + std::to_string(gamma));
  }
}

TEST(DetectorGolden, GiouMatchesTorchvision) {
  const Json g = golden("giou.json");
  const at::Tensor a = tensor(g["a"], {-1, 4}), b = tensor(g["b"], {-1, 4});
  // The assigners' pairwise helpers (models/assign) against box_iou / generalized_box_iou.
  expect_close(pairwise_box_iou(a, b), tensor(g["pairwise_iou"], {6, 5}), 1e-6, 1e-5, "pairwise iou");
  expect_close(pairwise_box_giou(a, b), tensor(g["pairwise_giou"], {6, 5}), 1e-6, 1e-5, "pairwise giou");
  const at::Tensor pred = tensor(g["pred"], {-1, 4}), target = tensor(g["target"], {-1, 4});
  const at::Tensor loss = giou_loss(pred, target);
  expect_close(loss, tensor(g["giou_loss"], {10}), 1e-6, 1e-5, "giou loss");
  EXPECT_NEAR(loss[0].item<float>(), 0.f, 1e-6);  // identical boxes
  EXPECT_GT(loss[1].item<float>(), 1.f);         // disjoint boxes: IoU 0 plus a distance penalty
  // The aligned GIoU is the diagonal of the pairwise one.
  expect_close(aligned_giou(a.narrow(0, 0, 5), b), pairwise_box_giou(a.narrow(0, 0, 5), b).diagonal(), 1e-6, 1e-5,
               "aligned vs pairwise");
}

TEST(DetectorGolden, NmsMatchesTorchvision) {
  const Json g = golden("nms.json");
  for (const auto& c : g["cases"]) {
    const std::string name = c["name"];
    const at::Tensor boxes = tensor(c["boxes"], {-1, 4});
    const at::Tensor scores = tensor(c["scores"], {-1});
    const double thr = c["threshold"];
    EXPECT_EQ(to_vector(nms(boxes, scores, thr)), c["keep"].get<std::vector<int64_t>>()) << name;
    const std::vector<int64_t> groups = c["groups"].get<std::vector<int64_t>>();
    const at::Tensor gt = groups.empty() ? at::zeros({0}, at::kLong) : at::tensor(groups, at::kLong);
    EXPECT_EQ(to_vector(batched_nms(boxes, scores, gt, thr)), c["batched_keep"].get<std::vector<int64_t>>())
        << name << " (batched)";
  }
}

}  // namespace
}  // namespace ms
