#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "data/augment.h"

namespace ms {
namespace {

cv::Mat flat(int value, int size = 256) {
  return cv::Mat(size, size, CV_8UC3, cv::Scalar::all(value));
}

// Mean and variance over every channel value.
std::pair<double, double> moments(const cv::Mat& img) {
  cv::Scalar mean, sd;
  cv::meanStdDev(img.reshape(1), mean, sd);
  return {mean[0], sd[0] * sd[0]};
}

TEST(Photometric, GaussianNoiseHasTheAskedMeanAndVariance) {
  std::mt19937 rng(7);
  // sigma 0.04 of full scale = 10.2 grey levels; 196,608 values -> mean error ~0.02.
  const auto [mean, var] = moments(gaussian_noise(flat(128), 0.04f, rng));
  EXPECT_NEAR(mean, 128.0, 0.2);
  EXPECT_NEAR(std::sqrt(var), 0.04 * 255, 0.04 * 255 * 0.03);
  EXPECT_EQ(cv::norm(gaussian_noise(flat(128), 0.f, rng), flat(128), cv::NORM_INF), 0.0);
  // Near white the noise saturates: P(out = 255 | 250) = P(N(0, 10.2^2) > 4.5) = 0.3296.
  const cv::Mat bright = gaussian_noise(flat(250), 0.04f, rng);
  EXPECT_NEAR(cv::countNonZero(bright.reshape(1) == 255) / double(bright.total() * 3), 0.3296, 0.005);
}

// Fraction of channel values equal to v.
double fraction_of(const cv::Mat& img, int v) {
  return cv::countNonZero(img.reshape(1) == v) / double(img.total() * img.channels());
}

TEST(Photometric, PoissonNoiseKeepsTheMeanWithVarianceFromThePeak) {
  std::mt19937 rng(11);
  const int v = 100;
  for (float peak : {20.f, 80.f}) {
    SCOPED_TRACE("peak " + std::to_string(peak));
    const auto [mean, var] = moments(poisson_noise(flat(v), peak, rng));
    EXPECT_NEAR(mean, v, 0.01 * v);
    // Var[255/peak * K] with K ~ Poisson(v/255 * peak) is v * 255 / peak.
    EXPECT_NEAR(var, v * 255.0 / peak, 0.05 * v * 255.0 / peak);
  }
  // The whole discrete law at a low peak: white (lambda = 3 photons) becomes 85 * K, K ~
  // Poisson(3), saturating at 255 for K >= 3.
  const cv::Mat low = poisson_noise(flat(255), 3.f, rng);
  EXPECT_NEAR(fraction_of(low, 0), 0.049787, 0.003);
  EXPECT_NEAR(fraction_of(low, 85), 0.149361, 0.003);
  EXPECT_NEAR(fraction_of(low, 170), 0.224042, 0.003);
  EXPECT_NEAR(fraction_of(low, 255), 0.576810, 0.003);
  // Black stays black: Poisson(0) is 0.
  EXPECT_EQ(cv::countNonZero(poisson_noise(flat(0, 32), 10.f, rng).reshape(1)), 0);
}

TEST(Photometric, SaltAndPepperReplacesTheAskedFraction) {
  std::mt19937 rng(3);
  const cv::Mat out = salt_pepper_noise(flat(128), 0.1f, rng);
  int black = 0, white = 0, kept = 0;
  for (int y = 0; y < out.rows; ++y)
    for (int x = 0; x < out.cols; ++x) {
      const cv::Vec3b p = out.at<cv::Vec3b>(y, x);
      if (p == cv::Vec3b(0, 0, 0)) ++black;
      else if (p == cv::Vec3b(255, 255, 255)) ++white;
      else if (p == cv::Vec3b(128, 128, 128)) ++kept;
    }
  const double n = out.total();
  EXPECT_EQ(black + white + kept, out.total());  // whole pixels change, never single channels
  EXPECT_NEAR(black / n, 0.05, 0.004);
  EXPECT_NEAR(white / n, 0.05, 0.004);
}

TEST(Photometric, NoiseIsSeeded) {
  const cv::Mat img = flat(90, 64);
  std::mt19937 a(5), b(5), c(6);
  EXPECT_EQ(cv::norm(gaussian_noise(img, 0.1f, a), gaussian_noise(img, 0.1f, b), cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(gaussian_noise(img, 0.1f, a), gaussian_noise(img, 0.1f, c), cv::NORM_INF), 0.0);
}

TEST(Photometric, BrightnessAddsAFractionOfFullScaleAndSaturates) {
  const cv::Mat out = adjust_brightness(flat(100, 8), 0.2f);  // +51
  EXPECT_EQ(out.at<cv::Vec3b>(3, 3), cv::Vec3b(151, 151, 151));
  EXPECT_EQ(adjust_brightness(flat(240, 8), 0.2f).at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(adjust_brightness(flat(20, 8), -0.2f).at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
}

TEST(Photometric, ChannelGainCastsEachChannelAndSaturates) {
  // A yellow camera: blue at 60%, green and red as they are; bright red saturates at 1.3.
  cv::Mat img(4, 4, CV_8UC3, cv::Scalar(200, 150, 230));
  const cv::Mat yellow = adjust_channel_gain(img, {0.6f, 1.f, 1.f});
  EXPECT_EQ(yellow.at<cv::Vec3b>(1, 2), cv::Vec3b(120, 150, 230));
  EXPECT_EQ(adjust_channel_gain(img, {1.f, 0.5f, 1.3f}).at<cv::Vec3b>(0, 0), cv::Vec3b(200, 75, 255));
  EXPECT_EQ(adjust_channel_gain(flat(101, 2), {0.5f, 0.5f, 0.5f}).at<cv::Vec3b>(0, 0), cv::Vec3b(50, 50, 50))
      << "50.5 rounds to even";
  EXPECT_THROW(adjust_channel_gain(img, {-1.f, 1.f, 1.f}), MarrowError);
}

TEST(Photometric, ContrastScalesAboutTheMeanGrey) {
  cv::Mat img = flat(100, 8);
  img(cv::Rect(0, 0, 8, 4)).setTo(cv::Scalar::all(140));  // mean grey 120
  const cv::Mat twice = adjust_contrast(img, 2.f);
  EXPECT_EQ(twice.at<cv::Vec3b>(0, 0), cv::Vec3b(160, 160, 160));
  EXPECT_EQ(twice.at<cv::Vec3b>(7, 0), cv::Vec3b(80, 80, 80));
  EXPECT_EQ(cv::norm(adjust_contrast(img, 0.f), flat(120, 8), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(adjust_contrast(img, 1.f), img, cv::NORM_INF), 0.0);
}

TEST(Photometric, HueRotatesPrimaries) {
  cv::Mat red(4, 4, CV_8UC3, cv::Scalar(0, 0, 255));
  const cv::Vec3b g = adjust_hue(red, 120.f).at<cv::Vec3b>(1, 1);
  EXPECT_EQ(g, cv::Vec3b(0, 255, 0));
  EXPECT_EQ(adjust_hue(red, -120.f).at<cv::Vec3b>(1, 1), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(adjust_hue(red, 480.f).at<cv::Vec3b>(1, 1), cv::Vec3b(0, 255, 0));
  // A full turn is the identity to within rounding on an arbitrary colour.
  cv::Mat mauve(4, 4, CV_8UC3, cv::Scalar(180, 90, 150));
  EXPECT_LE(cv::norm(adjust_hue(mauve, 360.f), mauve, cv::NORM_INF), 1.0);
  EXPECT_GT(cv::norm(adjust_hue(mauve, 30.f), mauve, cv::NORM_INF), 10.0);
  // Grey has no hue to turn.
  EXPECT_LE(cv::norm(adjust_hue(flat(77, 4), 90.f), flat(77, 4), cv::NORM_INF), 1.0);
}

TEST(Photometric, HueMatchesOpenCvsHsvRoundTrip) {
  // Reference: OpenCV's float BGR->HSV, shift H (degrees), HSV->BGR.
  cv::Mat img(40, 40, CV_8UC3);
  cv::theRNG().state = 12;
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(256));
  for (float deg : {7.f, 60.f, 145.f, -100.f, 359.f}) {
    SCOPED_TRACE(deg);
    cv::Mat f, hsv;
    img.convertTo(f, CV_32F, 1.0 / 255.0);
    cv::cvtColor(f, hsv, cv::COLOR_BGR2HSV);
    for (int y = 0; y < hsv.rows; ++y)
      for (int x = 0; x < hsv.cols; ++x) {
        float& h = hsv.at<cv::Vec3f>(y, x)[0];
        h = std::fmod(h + deg + 720.f, 360.f);
      }
    cv::cvtColor(hsv, f, cv::COLOR_HSV2BGR);
    cv::Mat want;
    f.convertTo(want, CV_8U, 255.0);
    EXPECT_LE(cv::norm(adjust_hue(img, deg), want, cv::NORM_INF), 1.0);
  }
}

TEST(Photometric, SaturationBlendsWithGrey) {
  cv::Mat mauve(4, 4, CV_8UC3, cv::Scalar(180, 90, 150));
  const cv::Vec3b grey = adjust_saturation(mauve, 0.f).at<cv::Vec3b>(0, 0);
  EXPECT_EQ(grey[0], grey[1]);
  EXPECT_EQ(grey[1], grey[2]);
  EXPECT_NEAR(grey[0], 0.114 * 180 + 0.587 * 90 + 0.299 * 150, 1.0);
  EXPECT_EQ(cv::norm(adjust_saturation(mauve, 1.f), mauve, cv::NORM_INF), 0.0);
  // Factor 2 pushes every channel away from grey.
  const cv::Vec3b more = adjust_saturation(mauve, 2.f).at<cv::Vec3b>(0, 0);
  EXPECT_GT(more[0], 180);
  EXPECT_LT(more[1], 90);
}

TEST(Photometric, BadParametersThrow) {
  std::mt19937 rng(1);
  EXPECT_THROW(gaussian_noise(flat(1, 4), -0.1f, rng), MarrowError);
  EXPECT_THROW(salt_pepper_noise(flat(1, 4), 1.5f, rng), MarrowError);
  EXPECT_THROW(poisson_noise(flat(1, 4), 0.f, rng), MarrowError);
  EXPECT_THROW(adjust_hue(cv::Mat(4, 4, CV_8UC1), 10.f), MarrowError);
}

}  // namespace
}  // namespace ms
