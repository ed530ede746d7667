// resize_area: the separable INTER_AREA shrink must give OpenCV's values, whatever the ratio,
// channel count or memory layout of the source.
#include "core/area_resize.h"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

namespace ms {
namespace {

cv::Mat textured(int w, int h, int type, int seed) {
  cv::Mat img(h, w, type);
  cv::RNG rng(seed);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(img, img, cv::Size(3, 3), 0.8);  // like a stained cell: neither flat nor noise
  return img;
}

// Largest difference and share of differing values against cv::resize(INTER_AREA).
void compare(const cv::Mat& src, cv::Size size, double& max_diff, double& differing) {
  cv::Mat want, got;
  cv::resize(src, want, size, 0, 0, cv::INTER_AREA);
  resize_area(src, got, size);
  ASSERT_EQ(got.size(), size);
  ASSERT_EQ(got.type(), src.type());
  cv::Mat d;
  cv::absdiff(want, got, d);
  cv::minMaxLoc(d.reshape(1), nullptr, &max_diff);
  differing = static_cast<double>(cv::countNonZero(d.reshape(1))) / static_cast<double>(d.total() * d.channels());
}

struct Case {
  int w, h, dw, dh, type;
};

class AreaResize : public ::testing::TestWithParam<Case> {};

TEST_P(AreaResize, GivesOpenCvsValues) {
  const Case c = GetParam();
  const cv::Mat src = textured(c.w, c.h, c.type, c.w * 7 + c.h);
  double max_diff = 0, differing = 0;
  compare(src, cv::Size(c.dw, c.dh), max_diff, differing);
  // Same weights, another order of float sums: a value may round the other way, never further.
  EXPECT_LE(max_diff, 1.0);
  EXPECT_LT(differing, 0.002);
}

INSTANTIATE_TEST_SUITE_P(
    Ratios, AreaResize,
    ::testing::Values(Case{360, 360, 146, 146, CV_8UC3},    // the classifier's crop to its cache side
                      Case{363, 360, 146, 146, CV_8UC3},    // pbc's 360 x 363 cells
                      Case{1000, 777, 146, 146, CV_8UC3},   // a large crop, 6.8x and 5.3x
                      Case{147, 147, 146, 146, CV_8UC3},    // barely smaller
                      Case{300, 146, 146, 146, CV_8UC3},    // one axis unchanged
                      Case{292, 250, 146, 146, CV_8UC3},    // one axis an integer ratio, one not
                      Case{500, 400, 123, 77, CV_8UC1},     // grey, unequal ratios
                      Case{201, 199, 57, 61, CV_8UC4},      // four channels
                      Case{292, 292, 146, 146, CV_8UC3},    // integer ratio: OpenCV's own path
                      Case{100, 100, 146, 146, CV_8UC3}));  // enlarging: OpenCV's own path

TEST(AreaResizeLayout, ReadsARegionOfALargerImageAndWritesOverItsSource) {
  const cv::Mat big = textured(500, 500, CV_8UC3, 3);
  const cv::Mat roi = big(cv::Rect(37, 51, 360, 363));  // rows are not contiguous
  ASSERT_FALSE(roi.isContinuous());
  double max_diff = 0, differing = 0;
  compare(roi, cv::Size(146, 146), max_diff, differing);
  EXPECT_LE(max_diff, 1.0);
  EXPECT_LT(differing, 0.002);
  cv::Mat in_place = roi.clone(), want;
  cv::resize(in_place, want, cv::Size(146, 146), 0, 0, cv::INTER_AREA);
  resize_area(in_place, in_place, cv::Size(146, 146));
  ASSERT_EQ(in_place.size(), cv::Size(146, 146));
  EXPECT_LE(cv::norm(in_place, want, cv::NORM_INF), 1.0);
}

TEST(AreaResizeLayout, AFlatImageStaysFlat) {
  const cv::Mat flat(360, 363, CV_8UC3, cv::Scalar(200, 120, 37));
  cv::Mat out;
  resize_area(flat, out, cv::Size(146, 146));
  EXPECT_EQ(cv::norm(out, cv::Mat(146, 146, CV_8UC3, cv::Scalar(200, 120, 37)), cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace ms
