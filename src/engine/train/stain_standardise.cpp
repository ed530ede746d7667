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

namespace {

// One pass over the image: what measure_stain and stain_standardise both need. Optical density is
// a function of a channel's 8-bit value (given the background), so its quantiles come from
// 256-bin histograms and the standardisation is one 256-entry table per channel: the same float
// values as computing and sorting every pixel's density, at a fraction of the cost.
struct Scan {
  StainMeasure m{};
  std::vector<unsigned char> black;  // per pixel
  float od[3][256];                  // density of each 8-bit value, per channel
};

float od_of(int v, float bg) { return std::max(0.f, -std::log(std::max(v / 255.f, 1.f / 255.f) / bg)); }

// The q-quantile (linear between ranks, as torch.quantile) of n values: `zeros` of them 0, the
// others od[v] for hist[v] pixels; od is non-increasing in v and never negative.
float od_quantile(const std::size_t* hist, const float* od, std::size_t zeros, std::size_t n, float q) {
  const double pos = static_cast<double>(q) * static_cast<double>(n - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(n - 1, lo + 1);
  float a = 0.f, b = 0.f;
  bool have_a = false;
  std::size_t seen = zeros;  // ranks [0, zeros) hold the zeros
  if (lo < seen) { a = 0.f; have_a = true; }
  if (hi < seen) return a;
  for (int v = 255; v >= 0; --v) {
    if (hist[v] == 0) continue;
    seen += hist[v];
    if (!have_a && lo < seen) { a = od[v]; have_a = true; }
    if (hi < seen) { b = od[v]; break; }
  }
  return static_cast<float>(a + (b - a) * (pos - static_cast<double>(lo)));
}

Scan scan(const cv::Mat& bgr, const StainStandardisation& s) {
  MS_CHECK(bgr.type() == CV_8UC3 && !bgr.empty(), "measure_stain expects a non-empty CV_8UC3 image");
  const int h = bgr.rows, w = bgr.cols;
  const std::size_t n = static_cast<std::size_t>(h) * w;
  Scan out;
  out.black.resize(n);
  std::vector<float> sum(n);
  std::size_t hist[3][256] = {};
  std::size_t blacks = 0;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * w + x;
      const uint8_t r = row[3 * x + 2], g = row[3 * x + 1], b = row[3 * x];
      sum[i] = r / 255.f + g / 255.f + b / 255.f;
      const bool black = sum[i] < s.black_sum;
      out.black[i] = black;
      if (black) {
        sum[i] = -1.f;  // never among the brightest
        ++blacks;
      } else {
        ++hist[0][r];
        ++hist[1][g];
        ++hist[2][b];
      }
    }
  }
  // Background: mean colour of the non-black pixels at or above the brightness quantile.
  std::vector<float> sorted = sum;
  const float t = quantile(sorted, s.background_quantile);
  double acc[3] = {0, 0, 0};
  std::size_t count = 0;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * w + x;
      if (out.black[i] || sum[i] < t) continue;
      acc[0] += row[3 * x + 2] / 255.f;
      acc[1] += row[3 * x + 1] / 255.f;
      acc[2] += row[3 * x] / 255.f;
      ++count;
    }
  }
  for (int c = 0; c < 3; ++c) {
    const float bg = std::max(s.min_background, count ? static_cast<float>(acc[c] / count) : 1.f);
    out.m.background[c] = bg;
    for (int v = 0; v < 256; ++v) out.od[c][v] = od_of(v, bg);
    out.m.od_quantile[c] = od_quantile(hist[c], out.od[c], blacks, n, s.od_quantile);
  }
  return out;
}

}  // namespace

StainMeasure measure_stain(const cv::Mat& bgr, const StainStandardisation& s) { return scan(bgr, s).m; }

void stain_standardise(const cv::Mat& bgr, const StainStandardisation& s, float* out) {
  const std::string problem = stain_standardisation_problem(s);
  MS_CHECK(problem.empty(), "stain_standardise: " + problem);
  const Scan sc = scan(bgr, s);
  const int h = bgr.rows, w = bgr.cols;
  const std::size_t n = static_cast<std::size_t>(h) * w;
  float lut[3][256], at_black[3];
  for (int c = 0; c < 3; ++c) {
    const float scale = s.od_p99[c] / std::max(s.min_od, sc.m.od_quantile[c]);
    for (int v = 0; v < 256; ++v) lut[c][v] = std::clamp(s.background[c] * std::exp(-sc.od[c][v] * scale), 0.f, 1.f);
    at_black[c] = std::clamp(s.background[c], 0.f, 1.f);  // density 0
  }
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * w + x;
      const bool black = sc.black[i];
      out[i] = black ? at_black[0] : lut[0][row[3 * x + 2]];
      out[n + i] = black ? at_black[1] : lut[1][row[3 * x + 1]];
      out[2 * n + i] = black ? at_black[2] : lut[2][row[3 * x]];
    }
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
