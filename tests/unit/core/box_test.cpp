#include <gtest/gtest.h>

#include "core/box.h"
#include "core/error.h"

namespace ms {
namespace {

TEST(Box, IouOfHalfOverlap) {
  // [0,10]x[0,10] and [5,15]x[0,10]: intersection 50, union 150.
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.f / 150.f);
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.f);
  EXPECT_FLOAT_EQ(iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.f);
}

TEST(Box, GiouPenalisesDistance) {
  // Disjoint boxes: IoU 0, enclosing box 30x10=300, union 200 -> GIoU = -100/300.
  EXPECT_FLOAT_EQ(giou({0, 0, 10, 10}, {20, 0, 30, 10}), -1.f / 3.f);
  EXPECT_FLOAT_EQ(giou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
}

TEST(Box, LetterboxInverseUndoesForward) {
  const Letterbox lb = make_letterbox(640, 480, 320, 320);
  EXPECT_FLOAT_EQ(lb.scale, 0.5f);
  EXPECT_FLOAT_EQ(lb.pad_x, 0.f);
  EXPECT_FLOAT_EQ(lb.pad_y, 40.f);
  const Box b{100, 50, 300, 400};
  const Box f = lb.forward(b);
  EXPECT_FLOAT_EQ(f.y1, 65.f);
  const Box r = lb.inverse(f);
  EXPECT_NEAR(r.x1, b.x1, 1e-4);
  EXPECT_NEAR(r.y2, b.y2, 1e-4);
}

}  // namespace
}  // namespace ms

namespace ms {
namespace {

// A field of flat colour with one filled square; returns its pixel box (xyxy, continuous).
Box paint_square(cv::Mat& img, int x, int y, int side, const cv::Scalar& colour) {
  img(cv::Rect(x, y, side, side)).setTo(colour);
  return {float(x), float(y), float(x + side), float(y + side)};
}

// The extent of pixels whose red channel is above 128.
Box red_extent(const cv::Mat& img) {
  int x0 = img.cols, y0 = img.rows, x1 = -1, y1 = -1;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x)
      if (img.at<cv::Vec3b>(y, x)[2] > 128) {
        x0 = std::min(x0, x);
        y0 = std::min(y0, y);
        x1 = std::max(x1, x);
        y1 = std::max(y1, y);
      }
  return {float(x0), float(y0), float(x1 + 1), float(y1 + 1)};
}

TEST(Box, ClipBox) {
  const Box c = clip_box({-5, 3, 120, 90}, 100, 80);
  EXPECT_EQ(c, (Box{0, 3, 100, 80}));
  EXPECT_FALSE(clip_box({120, 10, 130, 20}, 100, 80).valid());
}

TEST(Letterbox, PadsTheShortSideAndBoxesFollowPixels) {
  cv::Mat src(100, 200, CV_8UC3, cv::Scalar(0, 0, 0));
  const Box b = paint_square(src, 150, 20, 40, cv::Scalar(0, 0, 255));
  const Letterbox lb = make_letterbox(200, 100, 64, 64);
  EXPECT_FLOAT_EQ(lb.scale, 0.32f);
  EXPECT_FLOAT_EQ(lb.pad_x, 0.f);
  EXPECT_FLOAT_EQ(lb.pad_y, 16.f);
  const cv::Mat out = letterbox_image(src, lb, cv::Scalar(114, 114, 114));
  ASSERT_EQ(out.size(), cv::Size(64, 64));
  // Rows 0..15 and 48..63 are padding; the image occupies 64x32 between them.
  EXPECT_EQ(out.at<cv::Vec3b>(0, 10), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(out.at<cv::Vec3b>(15, 63), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(out.at<cv::Vec3b>(48, 0), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(out.at<cv::Vec3b>(16, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(out.at<cv::Vec3b>(47, 0), cv::Vec3b(0, 0, 0));
  const Box f = lb.forward(b);
  const Box seen = red_extent(out);
  EXPECT_NEAR(f.x1, seen.x1, 1.f);
  EXPECT_NEAR(f.y1, seen.y1, 1.f);
  EXPECT_NEAR(f.x2, seen.x2, 1.f);
  EXPECT_NEAR(f.y2, seen.y2, 1.f);
  // Inverse clips to the source: a box over the padding maps to the image's edge.
  const Box back = lb.inverse({-4, 0, 10, 20});
  EXPECT_FLOAT_EQ(back.x1, 0.f);
  EXPECT_FLOAT_EQ(back.y1, 0.f);
  EXPECT_NEAR(back.y2, 12.5f, 1e-4);
}

TEST(Letterbox, OddPaddingAndUpscaling) {
  // 30x10 into 64x48: scale 64/30, height 21.33 -> 21, pad_y = floor(27 / 2) = 13.
  const Letterbox lb = make_letterbox(30, 10, 64, 48);
  EXPECT_FLOAT_EQ(lb.pad_x, 0.f);
  EXPECT_FLOAT_EQ(lb.pad_y, 13.f);
  cv::Mat src(10, 30, CV_8UC3, cv::Scalar(0, 0, 255));
  const cv::Mat out = letterbox_image(src, lb);
  ASSERT_EQ(out.size(), cv::Size(64, 48));
  EXPECT_EQ(out.at<cv::Vec3b>(12, 5), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(out.at<cv::Vec3b>(13, 5), cv::Vec3b(0, 0, 255));
  EXPECT_EQ(out.at<cv::Vec3b>(33, 5), cv::Vec3b(0, 0, 255));
  EXPECT_EQ(out.at<cv::Vec3b>(34, 5), cv::Vec3b(114, 114, 114));
  // Same size: no resize, no padding.
  const Letterbox same = make_letterbox(30, 10, 30, 10);
  EXPECT_EQ(cv::norm(letterbox_image(src, same), src, cv::NORM_INF), 0.0);
  EXPECT_THROW(make_letterbox(0, 10, 64, 64), MarrowError);
}

TEST(CropSquare, SquareAroundTheBoxWithMargin) {
  cv::Mat img(100, 100, CV_8UC3, cv::Scalar(0, 0, 0));
  const Box b = paint_square(img, 40, 30, 20, cv::Scalar(0, 0, 255));
  const cv::Mat crop = crop_square(img, b, 0.25f);
  ASSERT_EQ(crop.size(), cv::Size(30, 30));  // 20 * (1 + 2 * 0.25)
  const Box seen = red_extent(crop);
  EXPECT_EQ(seen, (Box{5, 5, 25, 25}));  // centred
  // A wide box gives a square on its longer side.
  EXPECT_EQ(crop_square(img, {10, 40, 50, 50}, 0.f).size(), cv::Size(40, 40));
}

TEST(CropSquare, PadsWhereTheCropLeavesTheImage) {
  cv::Mat img(50, 50, CV_8UC3, cv::Scalar(0, 0, 0));
  paint_square(img, 0, 0, 10, cv::Scalar(0, 0, 255));
  const cv::Mat crop = crop_square(img, {0, 0, 10, 10}, 0.5f, cv::Scalar(255, 255, 255));
  ASSERT_EQ(crop.size(), cv::Size(20, 20));
  // The cell stays centred: 5 px of white padding above and left of it.
  EXPECT_EQ(crop.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(crop.at<cv::Vec3b>(4, 10), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(crop.at<cv::Vec3b>(10, 4), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(crop.at<cv::Vec3b>(5, 5), cv::Vec3b(0, 0, 255));
  EXPECT_EQ(crop.at<cv::Vec3b>(14, 14), cv::Vec3b(0, 0, 255));
  EXPECT_EQ(crop.at<cv::Vec3b>(15, 15), cv::Vec3b(0, 0, 0));  // image beyond the cell
  // Entirely outside: all padding, still square.
  const cv::Mat out = crop_square(img, {80, 80, 90, 96}, 0.f, cv::Scalar(1, 2, 3));
  ASSERT_EQ(out.size(), cv::Size(16, 16));
  EXPECT_EQ(cv::countNonZero(out.reshape(1) != 0), 16 * 16 * 3);
  EXPECT_EQ(out.at<cv::Vec3b>(8, 8), cv::Vec3b(1, 2, 3));
}

}  // namespace
}  // namespace ms
