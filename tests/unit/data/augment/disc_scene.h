#pragma once
// Synthetic fields for augmentation tests: filled discs on a flat background, each disc's box
// read back from its pixels so the test knows the exact extent before and after a transform.
#include <cstdlib>
#include <vector>

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/box.h"
#include "data/augment.h"

namespace ms::scene {

// Bounding box (xyxy, continuous pixels: columns c0..c1 -> [c0, c1+1)) of the pixels whose
// colour is within `tol` of `colour` in every channel; an invalid box when there are none.
inline Box extent_of(const cv::Mat& img, const cv::Vec3b& colour, int tol = 60) {
  int x0 = img.cols, y0 = img.rows, x1 = -1, y1 = -1;
  for (int y = 0; y < img.rows; ++y) {
    const auto* p = img.ptr<cv::Vec3b>(y);
    for (int x = 0; x < img.cols; ++x) {
      bool near = true;
      for (int c = 0; c < 3; ++c) near = near && std::abs(int(p[x][c]) - int(colour[c])) <= tol;
      if (!near) continue;
      x0 = std::min(x0, x);
      y0 = std::min(y0, y);
      x1 = std::max(x1, x);
      y1 = std::max(y1, y);
    }
  }
  if (x1 < 0) return {};
  return {float(x0), float(y0), float(x1 + 1), float(y1 + 1)};
}

// Draws a filled disc of `colour` and returns its exact pixel extent.
inline Box draw_disc(cv::Mat& img, cv::Point centre, int radius, const cv::Vec3b& colour) {
  cv::circle(img, centre, radius, cv::Scalar(colour[0], colour[1], colour[2]), cv::FILLED, cv::LINE_8);
  const int x0 = std::max(0, centre.x - radius - 1), y0 = std::max(0, centre.y - radius - 1);
  const int x1 = std::min(img.cols, centre.x + radius + 2), y1 = std::min(img.rows, centre.y + radius + 2);
  const Box local = extent_of(img(cv::Rect(x0, y0, x1 - x0, y1 - y0)), colour, 0);
  return {local.x1 + x0, local.y1 + y0, local.x2 + x0, local.y2 + y0};
}

inline void expect_box_near(const Box& a, const Box& b, float tol) {
  EXPECT_NEAR(a.x1, b.x1, tol);
  EXPECT_NEAR(a.y1, b.y1, tol);
  EXPECT_NEAR(a.x2, b.x2, tol);
  EXPECT_NEAR(a.y2, b.y2, tol);
}

// A field of discs whose colour identifies their label: disc i has colours[i] and label i.
struct DiscField {
  AugmentSample s;
  std::vector<cv::Vec3b> colours;
};
struct Disc {
  cv::Point centre;
  int radius;
  cv::Vec3b colour;
};
inline DiscField disc_field(cv::Size size, const cv::Scalar& background, const std::vector<Disc>& discs) {
  DiscField f;
  f.s.image = cv::Mat(size, CV_8UC3, background);
  for (const Disc& d : discs) {
    f.colours.push_back(d.colour);
    f.s.labels.push_back(static_cast<int>(f.s.boxes.size()));
    f.s.boxes.push_back(draw_disc(f.s.image, d.centre, d.radius, d.colour));
  }
  return f;
}

// Every box equals the extent of the pixels of its label's colour, within tol pixels.
inline void expect_boxes_follow_pixels(const AugmentSample& out, const std::vector<cv::Vec3b>& colours,
                                       float tol) {
  ASSERT_EQ(out.boxes.size(), out.labels.size());
  for (size_t i = 0; i < out.boxes.size(); ++i) {
    SCOPED_TRACE("label " + std::to_string(out.labels[i]));
    expect_box_near(out.boxes[i], extent_of(out.image, colours[out.labels[i]]), tol);
  }
}

}  // namespace ms::scene
