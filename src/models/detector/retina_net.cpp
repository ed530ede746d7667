#include "models/detector/retina_net.h"

#include <ATen/ATen.h>
#include <torch/nn/functional.h>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "models/runtime.h"

namespace ms {

namespace {
std::vector<int> neck_levels(const FpnOptions& o) {
  std::vector<int> l;
  for (int i = o.min_level; i <= o.max_level; ++i) l.push_back(i);
  return l;
}
constexpr int64_t kSizeDivisor = 32;  // backbone stride
}  // namespace

void validate(const RetinaNetOptions& o) {
  auto bad = [](const std::string& field, const std::string& expected, const std::string& found) {
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "retina_net." + field + ": expected " + expected + ", found " + found);
  };
  if (o.classes.empty()) bad("classes", "at least one class name", "an empty list");
  if (o.input_size < kSizeDivisor || o.input_size % kSizeDivisor != 0)
    bad("input_size", "a positive multiple of 32", std::to_string(o.input_size));
  if (o.pixel_mean.size() != 3) bad("pixel_mean", "3 values (RGB)", std::to_string(o.pixel_mean.size()));
  if (o.pixel_std.size() != 3) bad("pixel_std", "3 values (RGB)", std::to_string(o.pixel_std.size()));
  for (float s : o.pixel_std)
    if (!(s > 0.f)) bad("pixel_std", "positive values", std::to_string(s));
  validate(o.backbone);
  validate(o.neck);
  validate(o.head);
  validate(o.anchors, o.neck.max_level - o.neck.min_level + 1);
  const auto& p = o.postprocess;
  if (p.topk_per_level < 1) bad("postprocess.topk_per_level", ">= 1", std::to_string(p.topk_per_level));
  if (p.max_detections < 1) bad("postprocess.max_detections", ">= 1", std::to_string(p.max_detections));
  if (p.iou_power < 0.f || p.iou_power > 1.f) bad("postprocess.iou_power", "0..1", std::to_string(p.iou_power));
}

at::Tensor normalize_image(const cv::Mat& bgr, const std::vector<float>& mean, const std::vector<float>& std) {
  MS_CHECK(bgr.type() == CV_8UC3, "detector input must be 8-bit BGR");
  MS_CHECK(mean.size() == 3 && std.size() == 3, "mean/std need 3 values");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  at::Tensor t = at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, {static_cast<int64_t>(rgb.step[0]), 3, 1}, at::kByte)
                     .permute({2, 0, 1})
                     .to(at::kFloat)
                     .div_(255.0);
  const at::Tensor m = at::tensor(mean, at::kFloat).view({3, 1, 1});
  const at::Tensor s = at::tensor(std, at::kFloat).view({3, 1, 1});
  return ((t - m) / s).contiguous();
}

std::pair<at::Tensor, Letterbox> detector_input(const cv::Mat& bgr, int size, const std::vector<float>& mean,
                                                const std::vector<float>& std) {
  MS_CHECK(!bgr.empty() && size > 0, "detector_input needs a non-empty image and a positive size");
  const Letterbox lb = make_letterbox(bgr.cols, bgr.rows, size, size);
  return {normalize_image(letterbox_image(bgr, lb), mean, std), lb};
}

RetinaNetImpl::RetinaNetImpl(const RetinaNetOptions& options)
    : options_(options),
      anchors_((validate(options), options.anchors), neck_levels(options.neck)),
      coder_(options.box_coder) {
  backbone_ = register_module("backbone", ResNet(options_.backbone));
  neck_ = register_module("neck", Fpn(options_.neck, backbone_->out_channels()));
  head_ = register_module("head", RetinaHead(options_.head, options_.neck.channels, anchors_.anchors_per_location(),
                                             static_cast<int64_t>(options_.classes.size())));
}

void RetinaNetOutput::to_float() {
  cls_logits = cls_logits.to(at::kFloat);
  box_deltas = box_deltas.to(at::kFloat);
  if (iou_logits.defined()) iou_logits = iou_logits.to(at::kFloat);
}

RetinaNetOutput RetinaNetImpl::forward(const at::Tensor& images) {
  MS_CHECK(images.dim() == 4 && images.size(1) == options_.backbone.in_channels,
           "RetinaNet input must be [B, " + std::to_string(options_.backbone.in_channels) + ", H, W]");
  const int64_t h = images.size(2), w = images.size(3);
  const int64_t ph = (h + kSizeDivisor - 1) / kSizeDivisor * kSizeDivisor;
  const int64_t pw = (w + kSizeDivisor - 1) / kSizeDivisor * kSizeDivisor;
  const at::Tensor x = (ph == h && pw == w) ? images : at::constant_pad_nd(images, {0, pw - w, 0, ph - h}, 0.0);

  const std::vector<at::Tensor> features = neck_->forward(backbone_->forward(x));
  HeadOutput head = head_->forward(features);
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (const auto& f : features) sizes.emplace_back(f.size(2), f.size(3));
  AnchorSet set = anchors_.generate(sizes);

  RetinaNetOutput out;
  out.cls_logits = std::move(head.cls_logits);
  out.box_deltas = std::move(head.box_deltas);
  out.iou_logits = std::move(head.iou_logits);
  out.anchors = set.anchors.to(images.device());
  out.anchors_per_level = std::move(set.anchors_per_level);
  out.level_strides = std::move(set.level_strides);
  out.anchors_per_location = set.anchors_per_location;
  out.input_height = ph;
  out.input_width = pw;
  return out;
}

void RetinaNetImpl::prepare_for_inference(Precision p, const ResNetImpl::ActivationRanges* int8_ranges) {
  MS_CHECK(p != Precision::kInt8 || int8_ranges, "int8 inference needs the backbone's activation ranges");
  backbone_->fold_norms_for_inference(p == Precision::kBf16);
  if (p == Precision::kInt8) backbone_->quantize_for_inference(*int8_ranges);
  cpu_precision_ = p;
}

Precision RetinaNetImpl::cpu_precision() const { return cpu_precision_.value_or(detector_inference_precision()); }

namespace {
std::pair<at::Tensor, std::vector<Letterbox>> letterboxed_batch(const std::vector<cv::Mat>& bgr_images,
                                                                const RetinaNetOptions& o) {
  std::vector<at::Tensor> inputs;
  std::vector<Letterbox> boxes;
  for (const auto& img : bgr_images) {
    auto [t, lb] = detector_input(img, o.input_size, o.pixel_mean, o.pixel_std);
    inputs.push_back(t);
    boxes.push_back(lb);
  }
  return {at::stack(inputs), std::move(boxes)};
}
}  // namespace

void RetinaNetImpl::observe_int8_activations(const std::vector<cv::Mat>& bgr_images,
                                             const ResNetImpl::ActivationVisitor& visit) {
  if (bgr_images.empty()) return;
  at::NoGradGuard no_grad;
  backbone_->observe_activations(letterboxed_batch(bgr_images, options_).first, visit);
}

std::vector<std::vector<Detection>> RetinaNetImpl::detect(const std::vector<cv::Mat>& bgr_images) {
  if (bgr_images.empty()) return {};
  auto [batch, boxes] = letterboxed_batch(bgr_images, options_);
  const bool was_training = is_training();
  eval();
  at::NoGradGuard no_grad;
  const auto params = parameters();
  if (!params.empty()) batch = batch.to(params.front().device());
  RetinaNetOutput out;
  {
    const InferencePrecisionScope precision(batch.is_cpu() ? cpu_precision() : Precision::kFp32);
    out = forward(batch);
  }
  out.to_float();
  train(was_training);
  return postprocess(out, boxes, coder_, options_.postprocess);
}

}  // namespace ms
