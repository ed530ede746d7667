#include "models/head/retina_head.h"

#include <cmath>

#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>

#include "core/error.h"
#include "models/ops/group_norm.h"

namespace ms {

namespace nn = torch::nn;

const std::vector<std::pair<HeadNorm, std::string>>& enum_names(HeadNorm) {
  static const std::vector<std::pair<HeadNorm, std::string>> names{{HeadNorm::kNone, "none"},
                                                                   {HeadNorm::kGroup, "group"}};
  return names;
}

void validate(const RetinaHeadOptions& o) {
  auto bad = [](const std::string& field, const std::string& expected, const std::string& found) {
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "head." + field + ": expected " + expected + ", found " + found);
  };
  if (o.num_convs < 0 || o.num_convs > 8) bad("num_convs", "0..8", std::to_string(o.num_convs));
  if (!(o.prior_prob > 0.f && o.prior_prob < 1.f))
    bad("prior_prob", "a probability in (0,1)", std::to_string(o.prior_prob));
}

namespace {

nn::Conv2d conv3x3(int64_t in, int64_t out) {
  nn::Conv2d c(nn::Conv2dOptions(in, out, 3).padding(1));
  // RetinaNet sec. 4.1: Gaussian weights with sigma = 0.01, zero bias.
  nn::init::normal_(c->weight, 0.0, 0.01);
  nn::init::zeros_(c->bias);
  return c;
}

nn::Sequential tower(const RetinaHeadOptions& o, int64_t channels) {
  nn::Sequential t;
  for (int i = 0; i < o.num_convs; ++i) {
    t->push_back(conv3x3(channels, channels));
    if (o.norm == HeadNorm::kGroup) t->push_back(Float32GroupNorm(group_norm_groups(channels, 32, 1), channels));
    t->push_back(nn::ReLU());
  }
  return t;
}

// [B, A*K, H, W] -> [B, H*W*A, K], rows ordered (y, x, anchor) as torchvision's RetinaNet heads.
at::Tensor flatten_level(const at::Tensor& x, int64_t a, int64_t k) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  return x.view({b, a, k, h, w}).permute({0, 3, 4, 1, 2}).reshape({b, h * w * a, k});
}

}  // namespace

RetinaHeadImpl::RetinaHeadImpl(const RetinaHeadOptions& options, int64_t in_channels,
                               int64_t num_anchors, int64_t num_classes)
    : options_(options), num_anchors_(num_anchors), num_classes_(num_classes) {
  validate(options_);
  MS_CHECK(num_anchors > 0 && num_classes > 0 && in_channels > 0, "head sizes must be positive");
  cls_tower_ = register_module("cls_tower", tower(options_, in_channels));
  box_tower_ = register_module("box_tower", tower(options_, in_channels));
  cls_out_ = register_module("cls_out", conv3x3(in_channels, num_anchors * num_classes));
  nn::init::constant_(cls_out_->bias, -std::log((1.0 - options_.prior_prob) / options_.prior_prob));
  box_out_ = register_module("box_out", conv3x3(in_channels, num_anchors * 4));
  if (options_.iou_branch) iou_out_ = register_module("iou_out", conv3x3(in_channels, num_anchors));
}

HeadOutput RetinaHeadImpl::forward(const std::vector<at::Tensor>& features) {
  MS_CHECK(!features.empty(), "the head needs at least one feature map");
  std::vector<at::Tensor> cls, box, iou;
  for (const auto& f : features) {
    const at::Tensor ct = cls_tower_->forward(f);
    const at::Tensor bt = box_tower_->forward(f);
    cls.push_back(flatten_level(cls_out_->forward(ct), num_anchors_, num_classes_));
    box.push_back(flatten_level(box_out_->forward(bt), num_anchors_, 4));
    if (iou_out_) iou.push_back(flatten_level(iou_out_->forward(bt), num_anchors_, 1));
  }
  HeadOutput out;
  out.cls_logits = at::cat(cls, 1);
  out.box_deltas = at::cat(box, 1);
  if (!iou.empty()) out.iou_logits = at::cat(iou, 1).squeeze(-1);
  return out;
}

}  // namespace ms
