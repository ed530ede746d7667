#include "engine/train/stain_standardise.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace ms {

namespace {

// torch.quantile's linear interpolation between the two nearest ranks; v is reordered.
float quantile(std::vector<float>& v, float q) {
  const double pos = static_cast<double>(q) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const float a = v[lo];
  float b = a;
  if (hi != lo) b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  return static_cast<float>(a + (b - a) * (pos - static_cast<double>(lo)));
}

}  // namespace

std::string stain_standardisation_problem(const StainStandardisation& s) {
  if (s.background.size() != 3 || s.od_p99.size() != 3) return "3 background values and 3 od_p99 values";
  for (int c = 0; c < 3; ++c) {
    if (!(s.background[c] > 0 && s.background[c] <= 1)) return "background values in (0, 1]";
    if (!(s.od_p99[c] > 0 && s.od_p99[c] < 10)) return "od_p99 values in (0, 10)";
  }
  if (!(s.background_quantile > 0 && s.background_quantile < 1) || !(s.od_quantile > 0 && s.od_quantile < 1))
    return "quantiles in (0, 1)";
  if (!(s.black_sum >= 0 && s.black_sum < 3) || !(s.min_background > 0 && s.min_background <= 1) ||
      !(s.min_od > 0 && s.min_od < 10))
    return "black_sum in [0, 3), min_background in (0, 1], min_od in (0, 10)";
  return "";
}

StainMeasure measure_stain(const cv::Mat& bgr, const StainStandardisation& s, float* od_planes) {
  MS_CHECK(bgr.type() == CV_8UC3 && !bgr.empty(), "measure_stain expects a non-empty CV_8UC3 image");
  const int h = bgr.rows, w = bgr.cols;
  const size_t n = static_cast<size_t>(h) * w;
  std::vector<float> own;
  if (od_planes == nullptr) {
    own.resize(3 * n);
    od_planes = own.data();
  }
  float* plane[3] = {od_planes, od_planes + n, od_planes + 2 * n};
  std::vector<float> sum(n);
  std::vector<unsigned char> black(n);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      // Pixel values first, in place of the densities they become below.
      plane[0][i] = row[3 * x + 2] / 255.f;
      plane[1][i] = row[3 * x + 1] / 255.f;
      plane[2][i] = row[3 * x] / 255.f;
      sum[i] = plane[0][i] + plane[1][i] + plane[2][i];
      black[i] = sum[i] < s.black_sum;
      if (black[i]) sum[i] = -1.f;  // never among the brightest
    }
  }
  std::vector<float> sorted = sum;
  const float t = quantile(sorted, s.background_quantile);
  double acc[3] = {0, 0, 0};
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (black[i] || sum[i] < t) continue;
    for (int c = 0; c < 3; ++c) acc[c] += plane[c][i];
    ++count;
  }
  StainMeasure m{};
  for (int c = 0; c < 3; ++c) {
    const float bg = std::max(s.min_background, count ? static_cast<float>(acc[c] / count) : 1.f);
    m.background[c] = bg;
    float* p = plane[c];
    for (size_t i = 0; i < n; ++i)
      p[i] = black[i] ? 0.f : std::max(0.f, -std::log(std::max(p[i], 1.f / 255.f) / bg));
    sorted.assign(p, p + n);
    m.od_quantile[c] = quantile(sorted, s.od_quantile);
  }
  return m;
}

void stain_standardise(const cv::Mat& bgr, const StainStandardisation& s, float* out) {
  MS_CHECK(stain_standardisation_problem(s).empty(), "stain_standardise: " + stain_standardisation_problem(s));
  const StainMeasure m = measure_stain(bgr, s, out);
  const size_t n = bgr.total();
  for (int c = 0; c < 3; ++c) {
    const float scale = s.od_p99[c] / std::max(s.min_od, m.od_quantile[c]);
    float* p = out + c * n;
    for (size_t i = 0; i < n; ++i) p[i] = std::clamp(s.background[c] * std::exp(-p[i] * scale), 0.f, 1.f);
  }
}

StainStandardisation stain_reference(const std::vector<cv::Mat>& views) {
  MS_CHECK(!views.empty(), "stain_reference needs at least one image");
  StainStandardisation s;
  std::vector<float> bg[3], od[3];
  for (const cv::Mat& v : views) {
    const StainMeasure m = measure_stain(v, s);
    for (int c = 0; c < 3; ++c) {
      bg[c].push_back(m.background[c]);
      od[c].push_back(m.od_quantile[c]);
    }
  }
  const auto lower_median = [](std::vector<float>& v) {
    const size_t k = (v.size() - 1) / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  };
  s.background.resize(3);
  s.od_p99.resize(3);
  for (int c = 0; c < 3; ++c) {
    s.background[c] = lower_median(bg[c]);
    s.od_p99[c] = std::max(s.min_od, lower_median(od[c]));
  }
  return s;
}

}  // namespace ms
