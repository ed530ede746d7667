#include "core/box.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "core/area_resize.h"
#include "core/error.h"

namespace ms {

float intersection_area(const Box& a, const Box& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  return (w > 0 && h > 0) ? w * h : 0.f;
}

float iou(const Box& a, const Box& b) {
  const float inter = intersection_area(a, b);
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

float giou(const Box& a, const Box& b) {
  const float inter = intersection_area(a, b);
  const float uni = a.area() + b.area() - inter;
  const float cw = std::max(a.x2, b.x2) - std::min(a.x1, b.x1);
  const float ch = std::max(a.y2, b.y2) - std::min(a.y1, b.y1);
  const float c = cw * ch;
  const float i = uni > 0 ? inter / uni : 0.f;
  if (c <= 0) return i;
  return i - (c - uni) / c;
}

Box clip_box(const Box& b, float width, float height) {
  return {std::clamp(b.x1, 0.f, width), std::clamp(b.y1, 0.f, height),
          std::clamp(b.x2, 0.f, width), std::clamp(b.y2, 0.f, height)};
}

Letterbox make_letterbox(int src_w, int src_h, int dst_w, int dst_h) {
  // A zero side would give an infinite scale and a huge resize further on.
  MS_CHECK(src_w > 0 && src_h > 0 && dst_w > 0 && dst_h > 0,
           "letterbox " + std::to_string(src_w) + "x" + std::to_string(src_h) + " -> " +
               std::to_string(dst_w) + "x" + std::to_string(dst_h));
  Letterbox lb;
  lb.src_w = src_w;
  lb.src_h = src_h;
  lb.dst_w = dst_w;
  lb.dst_h = dst_h;
  lb.scale = std::min(float(dst_w) / float(src_w), float(dst_h) / float(src_h));
  const float w = std::round(src_w * lb.scale), h = std::round(src_h * lb.scale);
  lb.pad_x = std::floor((dst_w - w) / 2.f);
  lb.pad_y = std::floor((dst_h - h) / 2.f);
  return lb;
}

Box Letterbox::forward(const Box& b) const {
  return {b.x1 * scale + pad_x, b.y1 * scale + pad_y, b.x2 * scale + pad_x, b.y2 * scale + pad_y};
}

Box Letterbox::inverse(const Box& b) const {
  Box r{(b.x1 - pad_x) / scale, (b.y1 - pad_y) / scale, (b.x2 - pad_x) / scale,
        (b.y2 - pad_y) / scale};
  return clip_box(r, float(src_w), float(src_h));
}

cv::Mat letterbox_image(const cv::Mat& src, const Letterbox& lb, const cv::Scalar& pad) {
  const int w = static_cast<int>(std::round(src.cols * lb.scale));
  const int h = static_cast<int>(std::round(src.rows * lb.scale));
  cv::Mat resized;
  if (w == src.cols && h == src.rows) {
    resized = src;
  } else {
    resize_for_model(src, resized, cv::Size(std::max(w, 1), std::max(h, 1)));
  }
  cv::Mat out(lb.dst_h, lb.dst_w, src.type(), pad);
  const int px = static_cast<int>(lb.pad_x), py = static_cast<int>(lb.pad_y);
  const int cw = std::min(resized.cols, lb.dst_w - px), ch = std::min(resized.rows, lb.dst_h - py);
  resized(cv::Rect(0, 0, cw, ch)).copyTo(out(cv::Rect(px, py, cw, ch)));
  return out;
}

int crop_square_side(const Box& b, float margin) {
  const float side = std::max(b.width(), b.height()) * (1.f + 2.f * margin);
  return std::max(1, static_cast<int>(std::round(side)));
}

cv::Mat crop_square(const cv::Mat& image, const Box& b, float margin, const cv::Scalar& pad) {
  const int s = crop_square_side(b, margin);
  const int x0 = static_cast<int>(std::round(b.cx() - s / 2.f));
  const int y0 = static_cast<int>(std::round(b.cy() - s / 2.f));
  cv::Mat out(s, s, image.type(), pad);
  const cv::Rect want(x0, y0, s, s);
  const cv::Rect have = want & cv::Rect(0, 0, image.cols, image.rows);
  if (have.area() > 0) image(have).copyTo(out(cv::Rect(have.x - x0, have.y - y0, have.width, have.height)));
  return out;
}

}  // namespace ms
