#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "data/augment.h"
#include "unit/data/augment/disc_scene.h"

namespace ms {
namespace {

using scene::draw_disc;
using scene::expect_boxes_follow_pixels;
using scene::expect_box_near;
using scene::extent_of;

const cv::Vec3b kRed(40, 40, 230), kGreen(40, 220, 40), kBlue(230, 60, 30);

// A non-square noise image with three boxes and labels.
AugmentSample noisy_sample(unsigned seed) {
  AugmentSample s;
  s.image = cv::Mat(48, 80, CV_8UC3);
  cv::theRNG().state = seed;
  cv::randu(s.image, cv::Scalar::all(0), cv::Scalar::all(256));
  s.boxes = {{0, 0, 10, 12}, {30.5f, 7.25f, 79, 48}, {5, 20, 6, 21}};
  s.labels = {3, 1, 4};
  return s;
}

void expect_identical(const AugmentSample& a, const AugmentSample& b) {
  ASSERT_EQ(a.image.size(), b.image.size());
  EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0);
  ASSERT_EQ(a.boxes.size(), b.boxes.size());
  for (size_t i = 0; i < a.boxes.size(); ++i) expect_box_near(a.boxes[i], b.boxes[i], 1e-4f);
  EXPECT_EQ(a.labels, b.labels);
}

TEST(Geometric, FlipTwiceIsIdentity) {
  const AugmentSample s = noisy_sample(1);
  expect_identical(hflip(hflip(s)), s);
  expect_identical(vflip(vflip(s)), s);
  // A single flip really moves things.
  EXPECT_GT(cv::norm(hflip(s).image, s.image, cv::NORM_INF), 0.0);
  EXPECT_FLOAT_EQ(hflip(s).boxes[0].x1, 70.f);
  EXPECT_FLOAT_EQ(vflip(s).boxes[0].y1, 36.f);
}

TEST(Geometric, Rotate90FourTimesIsIdentity) {
  const AugmentSample s = noisy_sample(2);
  AugmentSample r = s;
  for (int i = 0; i < 4; ++i) {
    r = rotate90(r, 1);
    EXPECT_EQ(r.image.cols, i % 2 == 0 ? 48 : 80);
  }
  expect_identical(r, s);
  expect_identical(rotate90(rotate90(s, 3), -3), s);
  expect_identical(rotate90(s, 4), s);
  expect_identical(rotate90(s, 2), rotate90(rotate90(s, 1), 1));
  expect_identical(rotate90(s, -1), rotate90(s, 3));
}

// Off-centre discs on a non-square canvas: after each transform every box must equal the
// extent of its disc's pixels.
scene::DiscField disc_scene() {
  return scene::disc_field({140, 90}, cv::Scalar(0, 0, 0),
                           {{{30, 25}, 12, kRed}, {{100, 60}, 20, kGreen}, {{70, 40}, 6, kBlue}});
}

TEST(Geometric, BoxesFollowPixelsExactlyForFlipsAndQuarterTurns) {
  const scene::DiscField d = disc_scene();
  expect_boxes_follow_pixels(hflip(d.s), d.colours, 0.f);
  expect_boxes_follow_pixels(vflip(d.s), d.colours, 0.f);
  for (int k = 1; k < 4; ++k) {
    SCOPED_TRACE("quarter turns " + std::to_string(k));
    const AugmentSample r = rotate90(d.s, k);
    ASSERT_EQ(r.boxes.size(), 3u);
    expect_boxes_follow_pixels(r, d.colours, 0.f);
  }
  // Counter-clockwise: the red disc in the top-left corner ends up bottom-left.
  const AugmentSample r = rotate90(d.s, 1);
  EXPECT_LT(r.boxes[0].cx(), r.image.cols / 2.f);
  EXPECT_GT(r.boxes[0].cy(), r.image.rows / 2.f);
}

TEST(Geometric, ArbitraryRotationKeepsRoundCellsTight) {
  const scene::DiscField d = disc_scene();
  for (float deg : {15.f, 33.f, -70.f, 137.f, 180.f}) {
    SCOPED_TRACE("degrees " + std::to_string(deg));
    const AugmentSample r = rotate(d.s, deg, 0.f);
    EXPECT_EQ(r.image.size(), d.s.image.size());
    // Every box keeps its size (a disc's box is rotation invariant) and matches the pixels.
    for (size_t i = 0; i < r.boxes.size(); ++i) {
      const Box& in = d.s.boxes[r.labels[i]];
      if (r.boxes[i].x1 > 0 && r.boxes[i].y1 > 0 && r.boxes[i].x2 < 140 && r.boxes[i].y2 < 90) {
        EXPECT_NEAR(r.boxes[i].width(), in.width(), 1e-3);
      }
    }
    expect_boxes_follow_pixels(r, d.colours, 1.5f);
  }
}

TEST(Geometric, ArbitraryRotationOfAnEllipseUsesTheRotatedEllipseHull) {
  AugmentSample s;
  s.image = cv::Mat(120, 120, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::ellipse(s.image, {60, 60}, {30, 12}, 0, 0, 360, cv::Scalar(kRed[0], kRed[1], kRed[2]), cv::FILLED);
  s.boxes = {extent_of(s.image, kRed, 0)};
  s.labels = {0};
  for (float deg : {30.f, 45.f, 90.f}) {
    SCOPED_TRACE("degrees " + std::to_string(deg));
    const AugmentSample r = rotate(s, deg);
    ASSERT_EQ(r.boxes.size(), 1u);
    expect_box_near(r.boxes[0], extent_of(r.image, kRed), 1.5f);
  }
  // The rotated corners' hull at 45 degrees is (w + h) / sqrt(2) wide (61 px here); the ellipse
  // rule gives 2 sqrt((a^2 + b^2) / 2) (46 px), which is what the pixels show.
  const Box b = rotate(s, 45.f).boxes[0];
  const float w = s.boxes[0].width(), h = s.boxes[0].height();
  EXPECT_LT(b.width(), 0.8f * (w + h) / std::sqrt(2.f));
  EXPECT_NEAR(b.width(), 2.f * std::sqrt((w * w + h * h) / 8.f), 1e-3);
}

TEST(Geometric, RotationShrinksCutCellsToTheirVisibleCap) {
  AugmentSample s;
  s.image = cv::Mat(100, 100, CV_8UC3, cv::Scalar(0, 0, 0));
  // A disc in the bottom-right corner, turned about 45 degrees counter-clockwise about (50,50),
  // lands with its centre ~6.5 px beyond the right edge: only a thin cap stays visible.
  s.boxes.push_back(draw_disc(s.image, {90, 90}, 10, kRed));
  s.labels = {0};
  for (float deg : {40.f, 45.f, 50.f}) {
    SCOPED_TRACE("degrees " + std::to_string(deg));
    const AugmentSample r = rotate(s, deg, 0.1f);
    ASSERT_EQ(r.boxes.size(), 1u);
    // The cap's tips meet the edge at a shallow angle, where bilinear blending smears them over
    // several rows: count pixels at least half covered (half of red's 230 is 115).
    expect_box_near(r.boxes[0], extent_of(r.image, kRed, 110), 2.f);
    EXPECT_LT(r.boxes[0].height(), s.boxes[0].height() - 3.f);  // shorter than the whole disc
  }
}

TEST(Geometric, RotationDropsBoxesMostlyOutsideAndKeepsLabelsInStep) {
  AugmentSample s;
  s.image = cv::Mat(100, 200, CV_8UC3, cv::Scalar(0, 0, 0));
  const std::vector<cv::Vec3b> colours = {kRed, kGreen, kBlue};
  s.boxes.push_back(draw_disc(s.image, {8, 8}, 6, kRed));      // corner: leaves the canvas
  s.boxes.push_back(draw_disc(s.image, {100, 50}, 10, kGreen));  // centre: stays
  s.boxes.push_back(draw_disc(s.image, {190, 90}, 6, kBlue));  // opposite corner: leaves
  s.labels = {0, 1, 2};
  const AugmentSample r = rotate(s, 90.f);
  ASSERT_EQ(r.boxes.size(), 1u);
  EXPECT_EQ(r.labels, std::vector<int>{1});
  EXPECT_EQ(extent_of(r.image, kRed).valid(), false);
  expect_boxes_follow_pixels(r, colours, 1.5f);
  // The uncovered corners take the border colour (black here), not replicated cells.
  EXPECT_EQ(r.image.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
}

TEST(Geometric, ScaleCropZoomInAndOut) {
  const scene::DiscField d = disc_scene();
  const AugmentSample in = scale_crop(d.s, 1.5f, 20, 10, 0.f);
  EXPECT_EQ(in.image.size(), d.s.image.size());
  EXPECT_FLOAT_EQ(in.boxes[0].x1, d.s.boxes[0].x1 * 1.5f - 20.f);
  expect_boxes_follow_pixels(in, d.colours, 1.5f);

  AugmentSample grey = d.s;
  grey.image.setTo(cv::Scalar(200, 200, 200));
  for (size_t i = 0; i < grey.boxes.size(); ++i) {
    const Box& b = grey.boxes[i];
    cv::circle(grey.image, {int(b.cx()), int(b.cy())}, int(b.width() / 2),
               cv::Scalar(d.colours[i][0], d.colours[i][1], d.colours[i][2]), cv::FILLED);
  }
  const AugmentSample out = scale_crop(grey, 0.5f, -30, -20, 0.f);
  ASSERT_EQ(out.boxes.size(), 3u);
  expect_boxes_follow_pixels(out, d.colours, 1.5f);
  // Padding takes the field's border colour.
  EXPECT_EQ(out.image.at<cv::Vec3b>(0, 0), cv::Vec3b(200, 200, 200));
  EXPECT_EQ(out.image.at<cv::Vec3b>(89, 139), cv::Vec3b(200, 200, 200));
}

TEST(Geometric, ScaleCropDropsBoxesCutOffAndKeepsLabelsInStep) {
  const scene::DiscField d = disc_scene();
  // Zoom 2x on the bottom-right: the red disc (top-left) is gone, the green one stays.
  const AugmentSample r = scale_crop(d.s, 2.f, 140, 90);
  EXPECT_EQ(r.labels, std::vector<int>{1});
  ASSERT_EQ(r.boxes.size(), 1u);
  expect_boxes_follow_pixels(r, d.colours, 1.5f);
  // A box half inside survives at min_visible 0.4 and is dropped at 0.6.
  AugmentSample half;
  half.image = cv::Mat(40, 40, CV_8UC3, cv::Scalar::all(0));
  half.boxes = {{10, 10, 30, 30}};
  half.labels = {7};
  EXPECT_EQ(scale_crop(half, 1.f, 20, 0, 0.4f).labels, std::vector<int>{7});
  EXPECT_TRUE(scale_crop(half, 1.f, 20, 0, 0.6f).boxes.empty());
  EXPECT_TRUE(scale_crop(half, 1.f, 20, 0, 0.6f).labels.empty());
}

TEST(Geometric, BrokenInvariantsThrow) {
  AugmentSample s = noisy_sample(3);
  s.labels.pop_back();
  EXPECT_THROW(hflip(s), MarrowError);
  EXPECT_THROW(scale_crop(noisy_sample(3), 0.f, 0, 0), MarrowError);
  EXPECT_THROW(rotate(AugmentSample{}, 10.f), MarrowError);
}

}  // namespace
}  // namespace ms
