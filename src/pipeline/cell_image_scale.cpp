#include "pipeline/cell_image_scale.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ms {

float red_cell_side_px(double um_per_px) {
  if (!(um_per_px > 0) || !std::isfinite(um_per_px)) return 0.f;
  return static_cast<float>(kRedCellSideUm / um_per_px);
}

cv::Scalar border_median_colour(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.channels() != 3) return cv::Scalar(255, 255, 255);
  std::vector<unsigned char> ch[3];
  auto take = [&](int y, int x) {
    const auto& p = bgr.at<cv::Vec3b>(y, x);
    for (int c = 0; c < 3; ++c) ch[c].push_back(p[c]);
  };
  for (int x = 0; x < bgr.cols; ++x) {
    take(0, x);
    take(bgr.rows - 1, x);
  }
  for (int y = 1; y + 1 < bgr.rows; ++y) {
    take(y, 0);
    take(y, bgr.cols - 1);
  }
  cv::Scalar out;
  for (int c = 0; c < 3; ++c) {
    auto mid = ch[c].begin() + static_cast<long>(ch[c].size() / 2);
    std::nth_element(ch[c].begin(), mid, ch[c].end());
    out[c] = *mid;
  }
  return out;
}

}  // namespace ms
