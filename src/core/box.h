#pragma once
// Axis-aligned boxes. Convention everywhere: xyxy in pixels of the image they belong to, with
// continuous coordinates (a box covering pixel columns 0..9 is x1=0, x2=10; area = w*h, no +1).
#include <opencv2/core.hpp>
#include <vector>

namespace ms {

struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
  float area() const { return (x2 > x1 && y2 > y1) ? (x2 - x1) * (y2 - y1) : 0.f; }
  float cx() const { return 0.5f * (x1 + x2); }
  float cy() const { return 0.5f * (y1 + y2); }
  bool valid() const { return x2 > x1 && y2 > y1; }
  bool operator==(const Box& o) const { return x1 == o.x1 && y1 == o.y1 && x2 == o.x2 && y2 == o.y2; }
  static Box from_cxcywh(float cx, float cy, float w, float h) {
    return {cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h};
  }
};

float intersection_area(const Box& a, const Box& b);
// Intersection over union; 0 when the union is empty.
float iou(const Box& a, const Box& b);
// Generalised IoU (Rezatofighi et al., CVPR 2019): IoU - |C \ (A u B)| / |C|, C the enclosing box.
float giou(const Box& a, const Box& b);
// Clips to [0,width] x [0,height].
Box clip_box(const Box& b, float width, float height);

// Letterbox: scale the image by one factor to fit inside target_w x target_h, centre it, pad the
// rest. Maps boxes both ways.
struct Letterbox {
  float scale = 1.f;
  float pad_x = 0.f;  // left padding, pixels of the output
  float pad_y = 0.f;  // top padding
  int src_w = 0, src_h = 0, dst_w = 0, dst_h = 0;
  Box forward(const Box& b) const;  // source pixels -> letterboxed pixels
  Box inverse(const Box& b) const;  // letterboxed pixels -> source pixels (clipped to the source)
};
Letterbox make_letterbox(int src_w, int src_h, int dst_w, int dst_h);
// Resizes (area interpolation when shrinking, linear when growing) and pads with `pad` colour.
cv::Mat letterbox_image(const cv::Mat& src, const Letterbox& lb,
                        const cv::Scalar& pad = cv::Scalar(114, 114, 114));

// Square crop around a box, grown by `margin` (fraction of the longer side on each side), clipped
// to the image and padded with `pad` where it leaves the image, so every crop is square and the
// cell stays centred. Returns the crop at its natural size.
cv::Mat crop_square(const cv::Mat& image, const Box& b, float margin,
                    const cv::Scalar& pad = cv::Scalar(255, 255, 255));
// The side of that crop (pixels), centred at round(centre - side / 2).
int crop_square_side(const Box& b, float margin);

}  // namespace ms
