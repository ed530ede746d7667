// `marrowscope calibrate-int8`: measures a model's activation ranges in float32 on its own training
// data and writes them beside the weights (int8.json), so that MARROWSCOPE_PRECISION=int8 can run
// its ResNet on 8-bit integers (engine/int8_calibration.h). A CNN classifier is measured on cells
// (--cells, a class<TAB>path list), a detector on fields (--fields, a folder of images).
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/app.h"
#include "core/image.h"
#include "engine/classifier/cell_list.h"
#include "engine/int8_calibration.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"

namespace ms::cli {

namespace fs = std::filesystem;

namespace {

// Every k-th of `total` items, `n` of them: a class-sorted list gives every class its share.
size_t spread(size_t i, size_t n, size_t total) { return i * total / n; }

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return date;
}

// Reads images[begin, end) of `paths` (chosen by spread), failing on the first unreadable one.
std::vector<cv::Mat> read_chunk(const std::vector<std::string>& paths, size_t begin, size_t end, size_t n) {
  std::vector<cv::Mat> out;
  for (size_t i = begin; i < end; ++i) {
    const std::string& p = paths[spread(i, n, paths.size())];
    auto img = read_image(p);
    if (!img) throw MarrowError(img.error().code, p + ": " + img.error().message);
    out.push_back(std::move(*img));
  }
  return out;
}

// Each point's values over the calibration data, seen in two passes over the same images: the
// first finds the min and max, the second histograms the values between them.
class ActivationStatistics {
 public:
  static constexpr int kBins = 2048;
  void visit(size_t point, const at::Tensor& values) {
    if (point >= ranges_.size()) {
      ranges_.resize(point + 1, {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()});
      counts_.resize(point + 1, std::vector<double>(kBins, 0.0));
    }
    auto& r = ranges_[point];
    if (!histograms_) {
      const auto mm = at::aminmax(values);
      r.first = std::min(r.first, std::get<0>(mm).item<float>());
      r.second = std::max(r.second, std::get<1>(mm).item<float>());
      return;
    }
    if (!(r.second > r.first)) return;
    const at::Tensor h = at::histc(values.to(at::kFloat), kBins, r.first, r.second).to(at::kDouble).contiguous();
    const double* c = h.data_ptr<double>();
    for (int k = 0; k < kBins; ++k) counts_[point][k] += c[k];
  }
  void begin_histograms() { histograms_ = true; }
  const std::vector<std::pair<float, float>>& min_max() const { return ranges_; }
  std::vector<std::pair<float, float>> mse_ranges() const {
    std::vector<std::pair<float, float>> out;
    for (size_t i = 0; i < ranges_.size(); ++i) {
      const auto [a, b] = mse_clip_range(counts_[i], ranges_[i].first, ranges_[i].second);
      out.emplace_back(static_cast<float>(a), static_cast<float>(b));
    }
    return out;
  }

 private:
  bool histograms_ = false;
  std::vector<std::pair<float, float>> ranges_;
  std::vector<std::vector<double>> counts_;
};

// Runs observe over `n` of `paths` (spread evenly) in chunks, visiting `stats`.
template <class Observe>
void measure_pass(const std::vector<std::string>& paths, size_t n, size_t chunk, ActivationStatistics& stats,
                  Observe&& observe, const char* what) {
  const auto visit = [&](size_t i, const at::Tensor& t) { stats.visit(i, t); };
  for (size_t b = 0; b < n; b += chunk) {
    const size_t e = std::min(n, b + chunk);
    if (auto s = observe(read_chunk(paths, b, e, n), visit); !s) throw MarrowError(s.error());
    std::cerr << what << " " << e << " of " << n << "\r" << std::flush;
  }
  std::cerr << "\n";
}

// Both passes; the ranges by `method` (minmax | mse).
template <class Observe>
std::vector<std::pair<float, float>> measure(const std::vector<std::string>& paths, size_t n, size_t chunk,
                                             const std::string& method, Observe&& observe) {
  ActivationStatistics stats;
  measure_pass(paths, n, chunk, stats, observe, "ranges:");
  if (method == "minmax") return stats.min_max();
  stats.begin_histograms();
  measure_pass(paths, n, chunk, stats, observe, "histograms:");
  return stats.mse_ranges();
}

}  // namespace

void register_calibrate_int8(CLI::App& app) {
  struct Args {
    std::string model, data, cells, fields, method = "auto";
    int max_items = 512;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "calibrate-int8", "Write a model folder's int8 calibration (int8.json) from its own training cells or fields");
  cmd->add_option("--model", a->model, "classifier or detector folder (written into)")->required();
  auto* cells = cmd->add_option("--cells", a->cells,
                                "classifier: cells to measure on (class<TAB>path lines: the model's training cells, "
                                "never the ones it is scored on)");
  cmd->add_option("--data", a->data, "classifier: folder that relative paths in --cells start at")->needs(cells);
  auto* fields = cmd->add_option("--fields", a->fields,
                                 "detector: folder of training field images (never the ones it is scored on)");
  cells->excludes(fields);
  cmd->add_option("--max-items", a->max_items, "at most this many cells or fields, spread evenly")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--method", a->method,
                  "each point's range: minmax (everything seen), mse (the clip with least expected 8-bit "
                  "error, from a histogram), or auto: minmax for a classifier, mse for a detector")
      ->check(CLI::IsMember({"auto", "mse", "minmax"}));
  cmd->callback([a] {
    init_torch_runtime();
    if (a->cells.empty() == a->fields.empty())
      throw MarrowError(ErrorCode::kInvalidArgument, "calibrate-int8: give --cells (a classifier) or --fields (a detector)");
    // Loaded as float32: the ranges are measured in float32, and a stale int8.json in the folder
    // (which an int8 load refuses) must not stop its own replacement.
    setenv("MARROWSCOPE_PRECISION", "fp32", 1);
    Int8Calibration c;
    std::vector<std::pair<float, float>> ranges;
    size_t n = 0;
    // A classifier keeps every extreme its training cells reach: its atypical score lives on the
    // features of unusual cells, and clipping them to the typical range hid some (another lab's
    // cells flagged 64.0% with mse, 69.7% with minmax, 68.7% in bf16; docs/RESULTS.md). A
    // detector's boxes are tighter with mse (val WBC AP90 0.476 against 0.458 with minmax).
    const std::string method = a->method != "auto" ? a->method : a->cells.empty() ? "mse" : "minmax";
    if (!a->cells.empty()) {
      if (a->data.empty()) throw MarrowError(ErrorCode::kInvalidArgument, "calibrate-int8: --cells needs --data");
      auto loaded = ClassifierPredictor::load(a->model, "cpu");
      if (!loaded) throw MarrowError(loaded.error());
      auto& pred = **loaded;
      auto list = read_cell_list(a->cells, a->data, pred.classes());
      if (!list) throw MarrowError(list.error());
      std::vector<std::string> paths;
      for (const auto& cell : list->cells) paths.push_back(cell.image_path);
      if (paths.empty()) throw MarrowError(ErrorCode::kInvalidArgument, a->cells + ": no cells");
      n = std::min(paths.size(), static_cast<size_t>(a->max_items));
      ranges = measure(paths, n, 64, method,
                       [&](const std::vector<cv::Mat>& m, const auto& v) { return pred.observe_int8_activations(m, v); });
      c.model_version = pred.version();
      c.provenance = {{"cells", a->cells}, {"data", a->data}, {"measured_cells", n},
                      {"test_time_views", pred.test_time_views()}};
    } else {
      auto loaded = DetectorPredictor::load(a->model, "cpu");
      if (!loaded) throw MarrowError(loaded.error());
      auto& det = **loaded;
      std::vector<std::string> paths;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(a->fields, ec))
        if (e.is_regular_file() && has_image_extension(e.path().string()))
          paths.push_back(e.path().string());
      if (ec) throw MarrowError(ErrorCode::kNotFound, a->fields + ": " + ec.message());
      if (paths.empty()) throw MarrowError(ErrorCode::kInvalidArgument, a->fields + ": no images");
      std::sort(paths.begin(), paths.end());
      n = std::min(paths.size(), static_cast<size_t>(a->max_items));
      ranges = measure(paths, n, 8, method,
                       [&](const std::vector<cv::Mat>& m, const auto& v) { return det.observe_int8_activations(m, v); });
      c.model_version = det.version();
      c.provenance = {{"fields", a->fields}, {"measured_fields", n}};
    }
    c.provenance["date"] = utc_now();
    c.provenance["method"] = method;
    for (const auto& r : ranges) c.ranges.push_back({r.first, r.second});
    if (auto s = write_int8_calibration(a->model, c); !s) throw MarrowError(s.error());
    std::cout << fmt::format("{}/{}: {} activation ranges from {} {}\n", a->model, kInt8File, c.ranges.size(), n,
                             a->cells.empty() ? "fields" : "cells");
  });
}

}  // namespace ms::cli
