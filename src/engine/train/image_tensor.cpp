#include "engine/train/image_tensor.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include "core/area_resize.h"
#include "core/error.h"

namespace ms {

cv::Mat resize_square(const cv::Mat& bgr, int size) {
  if (bgr.cols == size && bgr.rows == size) return bgr;
  cv::Mat out;
  resize_for_model(bgr, out, cv::Size(size, size));
  return out;
}

void bgr_to_chw(const cv::Mat& bgr, const Normalization& n, float* dst) {
  MS_CHECK(bgr.type() == CV_8UC3, "bgr_to_chw expects CV_8UC3");
  MS_CHECK(n.mean.size() == 3 && n.std.size() == 3, "normalisation needs 3 means and 3 stds");
  const int h = bgr.rows, w = bgr.cols;
  const size_t plane = static_cast<size_t>(h) * w;
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.f / (255.f * n.std[c]);
    shift[c] = -n.mean[c] / n.std[c];
  }
  if (n.stain) {
    stain_standardise(bgr, *n.stain, dst);
    for (int c = 0; c < 3; ++c) {
      float* p = dst + c * plane;
      const float sc = scale[c] * 255.f;
      for (size_t i = 0; i < plane; ++i) p[i] = p[i] * sc + shift[c];
    }
    return;
  }
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      // BGR in, RGB out.
      dst[i] = row[3 * x + 2] * scale[0] + shift[0];
      dst[plane + i] = row[3 * x + 1] * scale[1] + shift[1];
      dst[2 * plane + i] = row[3 * x] * scale[2] + shift[2];
    }
  }
}

at::Tensor bgr_batch_to_tensor(const std::vector<cv::Mat>& crops, int size, const Normalization& n) {
  auto t = at::empty({static_cast<int64_t>(crops.size()), 3, size, size}, at::kFloat);
  float* base = t.data_ptr<float>();
  const size_t stride = 3u * size * size;
  for (size_t i = 0; i < crops.size(); ++i) {
    cv::Mat img = crops[i];
    if (img.type() != CV_8UC3)
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "crop " + std::to_string(i) + ": expected 8-bit BGR, found type " +
                            std::to_string(img.type()));
    bgr_to_chw(resize_square(img, size), n, base + i * stride);
  }
  return t;
}

Normalization measure_normalization(const std::vector<cv::Mat>& images) {
  double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
  double count = 0;
  for (const auto& img : images) {
    cv::Scalar mean, stddev;
    cv::meanStdDev(img, mean, stddev);
    const double px = static_cast<double>(img.total());
    for (int c = 0; c < 3; ++c) {
      sum[c] += mean[c] * px;
      sq[c] += (stddev[c] * stddev[c] + mean[c] * mean[c]) * px;
    }
    count += px;
  }
  Normalization n;
  if (count == 0) return n;
  for (int c = 0; c < 3; ++c) {  // BGR index c -> RGB index 2-c
    const double m = sum[c] / count;
    const double var = std::max(sq[c] / count - m * m, 1e-6);
    n.mean[2 - c] = static_cast<float>(m / 255.0);
    n.std[2 - c] = static_cast<float>(std::sqrt(var) / 255.0);
  }
  return n;
}

}  // namespace ms
