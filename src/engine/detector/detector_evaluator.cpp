#include "engine/detector/detector_evaluator.h"

#include <algorithm>
#include <chrono>

#include <ATen/ATen.h>

#include "core/image.h"
#include "models/runtime.h"

namespace ms {
namespace {

std::vector<BoxAnnotation> to_annotations(const std::vector<Detection>& dets) {
  std::vector<BoxAnnotation> out;
  out.reserve(dets.size());
  for (const auto& d : dets) out.push_back({d.box, d.class_id, d.score});
  return out;
}

}  // namespace

std::vector<BoxAnnotation> scored_detections(std::vector<BoxAnnotation> detections, const std::vector<Box>& ignore,
                                             const std::vector<int>& annotated_classes) {
  std::vector<BoxAnnotation> out;
  out.reserve(detections.size());
  for (auto& d : detections) {
    bool skip = !annotated_classes.empty() &&
                std::find(annotated_classes.begin(), annotated_classes.end(), d.class_id) == annotated_classes.end();
    for (const auto& r : ignore) skip = skip || iou(d.box, r) >= 0.5f;
    if (!skip) out.push_back(d);
  }
  return out;
}

std::vector<FieldDetections> detect_prepared_fields(RetinaNetImpl& net, const DetectorDataset& ds,
                                                    int batch_size) {
  std::vector<FieldDetections> out(ds.size());
  const bool was_training = net.is_training();
  net.eval();
  at::NoGradGuard no_grad;
  const auto params = net.parameters();
  const auto device = params.empty() ? at::Device(at::kCPU) : params.front().device();
  const auto& o = net.options();
  // As prepared by the caller (the predictor: int8 from the folder's calibration), else as the
  // process's precision asks.
  if (!net.backbone()->norms_folded()) net.prepare_for_inference(device.is_cpu() ? detector_inference_precision()
                                                                                 : Precision::kFp32);
  for (size_t s = 0; s < ds.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(ds.size(), s + static_cast<size_t>(batch_size));
    std::vector<at::Tensor> images;
    std::vector<Letterbox> boxes;
    for (size_t i = s; i < e; ++i) {
      images.push_back(normalize_image(ds.field(i).image, o.pixel_mean, o.pixel_std));
      boxes.push_back(ds.field(i).letterbox);
    }
    RetinaNetOutput raw;
    {
      // Inference as the product runs it: in the process's CPU precision (models/runtime.h).
      const InferencePrecisionScope precision(device.is_cpu() ? net.cpu_precision() : Precision::kFp32);
      raw = net.forward(at::stack(images).to(device));
    }
    raw.to_float();
    const auto result = postprocess(raw, boxes, net.box_coder(), o.postprocess);
    for (size_t i = s; i < e; ++i) {
      out[i].truth = ds.field(i).truth;
      out[i].detections = scored_detections(to_annotations(result[i - s]), ds.field(i).ignore_truth,
                                            ds.field(i).annotated_classes);
    }
  }
  net.train(was_training);
  return out;
}

Result<FieldEvaluation> evaluate_fields(const FieldDetector& detect, const FieldDataset& ds, int batch_size,
                                        const DetectionEvalOptions& options) {
  FieldEvaluation ev;
  std::vector<FieldDetections> pairs(ds.fields.size());
  double seconds = 0;
  for (size_t s = 0; s < ds.fields.size(); s += static_cast<size_t>(std::max(1, batch_size))) {
    const size_t e = std::min(ds.fields.size(), s + static_cast<size_t>(std::max(1, batch_size)));
    std::vector<cv::Mat> images;
    for (size_t i = s; i < e; ++i) {
      auto img = read_image(ds.fields[i].image_path);
      if (!img) return tl::unexpected(img.error());
      images.push_back(*img);
      pairs[i].truth = ds.fields[i].boxes;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto dets = detect(images);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = s; i < e; ++i)
      pairs[i].detections = scored_detections(to_annotations(dets.at(i - s)), ds.fields[i].ignore,
                                              ds.fields[i].annotated_classes);
  }
  auto m = evaluate_detections(pairs, options);
  if (!m) return tl::unexpected(m.error());
  ev.metrics = std::move(*m);
  ev.images = static_cast<int64_t>(ds.fields.size());
  ev.seconds = seconds;
  ev.images_per_second = seconds > 0 ? static_cast<double>(ev.images) / seconds : 0;
  return ev;
}

double select_metric(const DetectionMetrics& m, const std::string& metric, const std::string& class_name) {
  auto pick = [&](double ap, double ap50, double ap75, double ap90, double ar100) {
    if (metric == "AP") return ap;
    if (metric == "AP50") return ap50;
    if (metric == "AP75") return ap75;
    if (metric == "AP90") return ap90;
    if (metric == "AR100") return ar100;
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "best_metric: expected AP|AP50|AP75|AP90|AR100, found \"" + metric + "\"");
  };
  if (class_name.empty()) return pick(m.ap, m.ap50, m.ap75, m.ap90, m.ar100);
  for (const auto& c : m.per_class)
    if (c.name == class_name) return pick(c.ap, c.ap50, c.ap75, c.ap90, c.ar100);
  throw MarrowError(ErrorCode::kInvalidArgument,
                    "best_metric_class: expected a model class, found \"" + class_name + "\"");
}

}  // namespace ms
