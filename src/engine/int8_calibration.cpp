#include "engine/int8_calibration.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/model_file_json.h"

namespace fs = std::filesystem;

namespace ms {

std::vector<std::pair<float, float>> Int8Calibration::range_pairs() const {
  std::vector<std::pair<float, float>> out;
  out.reserve(ranges.size());
  for (const auto& r : ranges) out.emplace_back(static_cast<float>(r.at(0)), static_cast<float>(r.at(1)));
  return out;
}

std::pair<double, double> mse_clip_range(const std::vector<double>& counts, double lo, double hi) {
  const size_t n = counts.size();
  if (n == 0 || !(hi > lo)) return {lo, hi};
  const double width = (hi - lo) / static_cast<double>(n);
  const auto edge = [&](size_t k) { return lo + width * static_cast<double>(k); };
  // Candidate edges: every stride-th bin edge, plus the one nearest zero so that a range can
  // start or end there (a ReLU's output starts at exactly 0 = lo).
  const size_t stride = std::max<size_t>(1, n / 128);
  std::vector<size_t> edges;
  for (size_t k = 0; k <= n; k += stride) edges.push_back(k);
  if (edges.back() != n) edges.push_back(n);
  const size_t zero = lo >= 0 ? 0 : hi <= 0 ? n : static_cast<size_t>(std::llround(-lo / width));
  edges.push_back(zero);
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  double best = -1;
  std::pair<double, double> out{lo, hi};
  for (size_t ia = 0; ia < edges.size(); ++ia) {
    const size_t i = edges[ia];
    if (i > zero) break;
    for (size_t ib = ia + 1; ib < edges.size(); ++ib) {
      const size_t j = edges[ib];
      if (j < zero) continue;
      const double a = edge(i), b = edge(j), step = (b - a) / 255.0;
      double err = 0;
      for (size_t k = 0; k < n && (best < 0 || err < best); ++k) {
        if (counts[k] == 0) continue;
        const double v = lo + width * (static_cast<double>(k) + 0.5);
        const double d = v < a ? a - v : v > b ? v - b : 0.0;
        err += counts[k] * (d > 0 ? d * d : step * step / 12.0);
      }
      if (best < 0 || err < best) {
        best = err;
        out = {a, b};
      }
    }
  }
  return out;
}

Status validate_int8_calibration(const Int8Calibration& c, const std::string& where) {
  auto bad = [&](const std::string& what) { return fail(ErrorCode::kInvalidArgument, where + ": " + what); };
  if (c.format != kInt8Format) return bad("format: expected " + std::string(kInt8Format) + ", found " + c.format);
  if (c.model_version.empty()) return bad("model_version is empty");
  if (c.ranges.empty()) return bad("ranges is empty");
  for (size_t i = 0; i < c.ranges.size(); ++i) {
    const auto& r = c.ranges[i];
    if (r.size() != 2 || !std::isfinite(r[0]) || !std::isfinite(r[1]) || r[0] > r[1] ||
        std::abs(r[0]) > 1e30 || std::abs(r[1]) > 1e30)
      return bad("ranges[" + std::to_string(i) + "]: expected [lo, hi] with finite lo <= hi");
  }
  return {};
}

Status write_int8_calibration(const std::string& model_dir, const Int8Calibration& c) {
  if (auto s = validate_int8_calibration(c, kInt8File); !s) return s;
  return write_json_file((fs::path(model_dir) / kInt8File).string(), config_to_json(c));
}

Result<Int8Calibration> read_int8_calibration(const std::string& model_dir, const std::string& model_version) {
  const std::string path = (fs::path(model_dir) / kInt8File).string();
  if (!fs::exists(path)) return fail(ErrorCode::kNotFound, path + ": no int8 calibration");
  auto j = read_model_json(path, kInt8Format);
  if (!j) return tl::unexpected(j.error());
  auto c = parse_config<Int8Calibration>(*j, path);
  if (!c) return c;
  if (auto s = validate_int8_calibration(*c, path); !s) return tl::unexpected(s.error());
  if (c->model_version != model_version)
    return fail(ErrorCode::kInvalidArgument, path + ": measured on model version '" + c->model_version +
                                                 "', this model is '" + model_version + "' (run calibrate-int8 again)");
  return c;
}

}  // namespace ms
