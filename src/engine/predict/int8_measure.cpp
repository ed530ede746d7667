#include "engine/predict/int8_measure.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/image.h"
#include "core/utc_time.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "models/backbone/resnet.h"

namespace ms {

namespace {

using Ranges = std::vector<std::pair<float, float>>;
using Visitor = std::function<void(size_t, const at::Tensor&)>;
using Observe = std::function<Status(const std::vector<cv::Mat>&, const Visitor&)>;

// Every k-th of `total` items, `n` of them.
size_t spread(size_t i, size_t n, size_t total) { return i * total / n; }

// Each point's values over the calibration images, seen in two passes over the same images: the
// first finds the min and max, the second histograms the values between them.
class ActivationStatistics {
 public:
  static constexpr int kBins = 2048;
  void visit(size_t point, const at::Tensor& values) {
    if (!histograms_) {
      widen_activation_range(ranges_, point, values);
      return;
    }
    const auto& r = ranges_.at(point);
    if (counts_.size() <= point) counts_.resize(ranges_.size(), std::vector<double>(kBins, 0.0));
    if (!(r.second > r.first)) return;
    const at::Tensor h = at::histc(values.to(at::kFloat), kBins, r.first, r.second).to(at::kDouble).contiguous();
    const double* c = h.data_ptr<double>();
    for (int k = 0; k < kBins; ++k) counts_[point][k] += c[k];
  }
  void begin_histograms() { histograms_ = true; }
  const Ranges& min_max() const { return ranges_; }
  Ranges mse_ranges() const {
    Ranges out;
    for (size_t i = 0; i < ranges_.size(); ++i) {
      const auto [a, b] = i < counts_.size() ? mse_clip_range(counts_[i], ranges_[i].first, ranges_[i].second)
                                             : std::pair<double, double>(ranges_[i].first, ranges_[i].second);
      out.emplace_back(static_cast<float>(a), static_cast<float>(b));
    }
    return out;
  }

 private:
  bool histograms_ = false;
  Ranges ranges_;
  std::vector<std::vector<double>> counts_;
};

// One pass over `n` of `paths` (spread evenly) in chunks of `chunk` images.
Status measure_pass(const Int8MeasureRequest& r, size_t n, size_t chunk, ActivationStatistics& stats,
                    const Observe& observe, const char* what) {
  const Visitor visit = [&](size_t i, const at::Tensor& t) { stats.visit(i, t); };
  for (size_t b = 0; b < n; b += chunk) {
    const size_t e = std::min(n, b + chunk);
    std::vector<cv::Mat> images;
    for (size_t i = b; i < e; ++i) {
      const std::string& p = r.image_paths[spread(i, n, r.image_paths.size())];
      auto img = read_image(p);
      if (!img) return fail(img.error().code, p + ": " + img.error().message);
      images.push_back(std::move(*img));
    }
    if (auto s = observe(images, visit); !s) return s;
    if (r.progress) r.progress(fmt::format("{} {} of {}", what, e, n));
  }
  return {};
}

// Writes how many items it measured under provenance[measured_key], beside `provenance`.
Result<Int8Calibration> measure_and_write(const Int8MeasureRequest& r, const std::string& version, size_t chunk,
                                          const Observe& observe, const char* measured_key, Json provenance) {
  if (r.method != "minmax" && r.method != "mse")
    return fail(ErrorCode::kInvalidArgument, "int8 calibration method", "minmax or mse", r.method);
  if (r.image_paths.empty()) return fail(ErrorCode::kInvalidArgument, "int8 calibration: no images to measure on");
  const size_t n = std::min(r.image_paths.size(), std::max<size_t>(1, r.max_items));
  ActivationStatistics stats;
  if (auto s = measure_pass(r, n, chunk, stats, observe, "ranges:"); !s) return tl::unexpected(s.error());
  Ranges ranges = stats.min_max();
  if (r.method == "mse") {
    stats.begin_histograms();
    if (auto s = measure_pass(r, n, chunk, stats, observe, "histograms:"); !s) return tl::unexpected(s.error());
    ranges = stats.mse_ranges();
  }
  Int8Calibration c;
  c.model_version = version;
  c.provenance = r.provenance.is_object() ? r.provenance : Json::object();
  for (auto& [k, v] : provenance.items()) c.provenance[k] = v;
  c.provenance[measured_key] = n;
  c.provenance["date"] = utc_time_text();
  c.provenance["method"] = r.method;
  for (const auto& [lo, hi] : ranges) c.ranges.push_back({lo, hi});
  if (auto s = write_int8_calibration(r.model_dir, c); !s) return tl::unexpected(s.error());
  return c;
}

}  // namespace

Result<Int8Calibration> calibrate_classifier_int8(const Int8MeasureRequest& r) {
  auto loaded = ClassifierPredictor::load(r.model_dir, "cpu", Precision::kFp32);
  if (!loaded) return tl::unexpected(loaded.error());
  auto& pred = **loaded;
  return measure_and_write(
      r, pred.version(), 64,
      [&](const std::vector<cv::Mat>& m, const Visitor& v) { return pred.observe_int8_activations(m, v); },
      "measured_cells", {{"test_time_views", pred.test_time_views()}});
}

Result<Int8Calibration> calibrate_detector_int8(const Int8MeasureRequest& r) {
  auto loaded = DetectorPredictor::load(r.model_dir, "cpu", Precision::kFp32);
  if (!loaded) return tl::unexpected(loaded.error());
  auto& det = **loaded;
  return measure_and_write(
      r, det.version(), 8,
      [&](const std::vector<cv::Mat>& m, const Visitor& v) { return det.observe_int8_activations(m, v); },
      "measured_fields", Json::object());
}

Result<std::string> base_int8_method(const std::string& base_dir, const std::string& base_version,
                                     const std::string& fallback) {
  auto cal = read_int8_calibration(base_dir, base_version);
  if (!cal) return tl::unexpected(cal.error());
  return cal->provenance.value("method", fallback);
}

}  // namespace ms
