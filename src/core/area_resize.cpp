#include "core/area_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace ms {

namespace {

// One output index's source taps along one axis: OpenCV's area table (each output pixel is
// the mean of the source interval [d*scale, (d+1)*scale), partial pixels weighted by overlap).
struct AreaAxis {
  std::vector<int> first;  // [dsize] index of the output's first tap
  std::vector<int> src;    // source index of each tap
  std::vector<float> weight;
};

AreaAxis area_axis(int ssize, int dsize) {
  AreaAxis a;
  a.first.reserve(dsize + 1);
  const double scale = static_cast<double>(ssize) / dsize;
  for (int d = 0; d < dsize; ++d) {
    a.first.push_back(static_cast<int>(a.src.size()));
    const double f1 = d * scale, f2 = f1 + scale;
    const double cell = std::min(scale, ssize - f1);
    const int s2 = std::min(static_cast<int>(std::floor(f2)), ssize - 1);
    const int s1 = std::min(static_cast<int>(std::ceil(f1)), s2);
    auto tap = [&](int s, double w) {
      a.src.push_back(s);
      a.weight.push_back(static_cast<float>(w));
    };
    if (s1 - f1 > 1e-3) tap(s1 - 1, (s1 - f1) / cell);
    for (int s = s1; s < s2; ++s) tap(s, 1.0 / cell);
    if (f2 - s2 > 1e-3) tap(s2, std::min(std::min(f2 - s2, 1.0), cell) / cell);
  }
  a.first.push_back(static_cast<int>(a.src.size()));
  return a;
}

template <int CN>
void shrink(const cv::Mat& src, cv::Mat& dst, const AreaAxis& ax, const AreaAxis& ay) {
  const int line = src.cols * CN;
  std::vector<float> acc(static_cast<size_t>(line));
  for (int dy = 0; dy < dst.rows; ++dy) {
    // Rows first: whole contiguous lines, which the compiler vectorises.
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int k = ay.first[dy]; k < ay.first[dy + 1]; ++k) {
      const std::uint8_t* row = src.ptr<std::uint8_t>(ay.src[k]);
      const float w = ay.weight[k];
      float* a = acc.data();
      for (int i = 0; i < line; ++i) a[i] += w * static_cast<float>(row[i]);
    }
    std::uint8_t* out = dst.ptr<std::uint8_t>(dy);
    for (int dx = 0; dx < dst.cols; ++dx) {
      float s[CN] = {};
      for (int k = ax.first[dx]; k < ax.first[dx + 1]; ++k) {
        const float* p = acc.data() + static_cast<size_t>(ax.src[k]) * CN;
        const float w = ax.weight[k];
        for (int c = 0; c < CN; ++c) s[c] += w * p[c];
      }
      for (int c = 0; c < CN; ++c) out[dx * CN + c] = cv::saturate_cast<std::uint8_t>(s[c]);
    }
  }
}

bool integer_ratio(int ssize, int dsize) { return ssize % dsize == 0; }

}  // namespace

void resize_area(const cv::Mat& src, cv::Mat& dst, cv::Size size) {
  const int cn = src.channels();
  const bool separable = src.depth() == CV_8U && (cn == 1 || cn == 3 || cn == 4) && size.width > 0 &&
                         size.height > 0 && size.width <= src.cols && size.height <= src.rows &&
                         !(integer_ratio(src.cols, size.width) && integer_ratio(src.rows, size.height));
  if (!separable) {
    cv::resize(src, dst, size, 0, 0, cv::INTER_AREA);
    return;
  }
  const AreaAxis ax = area_axis(src.cols, size.width), ay = area_axis(src.rows, size.height);
  cv::Mat out(size, src.type());
  if (cn == 1) shrink<1>(src, out, ax, ay);
  if (cn == 3) shrink<3>(src, out, ax, ay);
  if (cn == 4) shrink<4>(src, out, ax, ay);
  dst = out;
}

void resize_for_model(const cv::Mat& src, cv::Mat& dst, cv::Size size) {
  if (size.width < src.cols || size.height < src.rows)
    resize_area(src, dst, size);
  else
    cv::resize(src, dst, size, 0, 0, cv::INTER_LINEAR);
}

}  // namespace ms
