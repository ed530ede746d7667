// The classifier's stain standardisation: C++ inference against its training twin (golden file
// made by tools/gen_stain_golden.py), and what it must do whatever the image holds.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "core/error.h"
#include "engine/train/image_tensor.h"
#include "engine/train/stain_standardise.h"

namespace ms {
namespace {

const Json kGolden = *read_json_file(MARROWSCOPE_SOURCE_DIR "/tests/golden/stain/standardise.json");

StainStandardisation golden_standardisation() {
  return config_from_json<StainStandardisation>(kGolden["standardisation"]);
}

cv::Mat bgr_from_rgb(const Json& c) {
  const int h = c["height"].get<int>(), w = c["width"].get<int>();
  const auto rgb = c["rgb"].get<std::vector<int>>();
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < 3; ++ch)
        m.at<cv::Vec3b>(y, x)[2 - ch] = static_cast<uint8_t>(rgb[(static_cast<size_t>(y) * w + x) * 3 + ch]);
  return m;
}

TEST(StainStandardise, EqualsTheTrainingTwin) {
  const auto s = golden_standardisation();
  ASSERT_EQ(kGolden["cases"].size(), 3u);
  for (const auto& c : kGolden["cases"]) {
    const cv::Mat img = bgr_from_rgb(c);
    std::vector<float> out(3 * img.total());
    stain_standardise(img, s, out.data());
    const auto expected = c["expected_rgb_planes"].get<std::vector<float>>();
    ASSERT_EQ(expected.size(), out.size());
    double worst = 0;
    for (size_t i = 0; i < out.size(); ++i) worst = std::max(worst, double(std::fabs(out[i] - expected[i])));
    EXPECT_LT(worst, 2e-4) << c["name"].get<std::string>();
  }
}

TEST(StainStandardise, MeasureAndReferenceEqualTheTrainingTwin) {
  const StainStandardisation defaults;
  std::vector<cv::Mat> images;
  for (const auto& c : kGolden["cases"]) {
    images.push_back(bgr_from_rgb(c));
    const StainMeasure m = measure_stain(images.back(), defaults);
    const auto bg = c["expected_background"].get<std::vector<float>>();
    const auto od = c["expected_od_quantile"].get<std::vector<float>>();
    for (int ch = 0; ch < 3; ++ch) {
      EXPECT_NEAR(m.background[ch], bg[ch], 1e-5) << c["name"].get<std::string>();
      EXPECT_NEAR(m.od_quantile[ch], od[ch], 1e-4) << c["name"].get<std::string>();
    }
  }
  const StainStandardisation ref = stain_reference(images);
  const auto& want = kGolden["reference_of_cases"];
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_NEAR(ref.background[ch], want["background"][ch].get<float>(), 1e-5);
    EXPECT_NEAR(ref.od_p99[ch], want["od_p99"][ch].get<float>(), 1e-4);
  }
  EXPECT_EQ(stain_standardisation_problem(ref), "");
  EXPECT_THROW(stain_reference({}), MarrowError);
}

TEST(StainStandardise, MapsBackgroundAndNucleusOntoTheReference) {
  // A yellow field with a brown disc becomes the reference background with the reference nucleus
  // density: the background pixels take the reference colour exactly.
  auto s = golden_standardisation();
  cv::Mat img(40, 40, CV_8UC3, cv::Scalar(150, 232, 240));  // BGR: yellow
  cv::circle(img, {20, 20}, 10, cv::Scalar(60, 70, 150), -1);
  std::vector<float> out(3 * img.total());
  stain_standardise(img, s, out.data());
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(out[c * img.total()], s.background[c], 1e-5);
  const size_t centre = 20 * 40 + 20;
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(-std::log(out[c * img.total() + centre] / s.background[c]), s.od_p99[c], 1e-3);
}

TEST(StainStandardise, BlackImageAndBlankImageStayFinite) {
  const auto s = golden_standardisation();
  for (const cv::Scalar& colour : {cv::Scalar(0, 0, 0), cv::Scalar(255, 255, 255), cv::Scalar(3, 200, 3)}) {
    cv::Mat img(8, 9, CV_8UC3, colour);
    std::vector<float> out(3 * img.total());
    stain_standardise(img, s, out.data());
    for (float v : out) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_GE(v, 0.f);
      EXPECT_LE(v, 1.f);
    }
  }
}

TEST(StainStandardise, RefusesABrokenReference) {
  auto s = golden_standardisation();
  EXPECT_EQ(stain_standardisation_problem(s), "");
  s.od_p99 = {1.f, 0.f, 1.f};
  EXPECT_NE(stain_standardisation_problem(s), "");
  s = golden_standardisation();
  s.background.pop_back();
  EXPECT_NE(stain_standardisation_problem(s), "");
  s = golden_standardisation();
  s.od_quantile = 1.f;
  EXPECT_NE(stain_standardisation_problem(s), "");
}

TEST(StainStandardise, NormalisationAppliesItBeforeMeanAndStd) {
  Normalization n;
  n.mean = {0.1f, 0.2f, 0.3f};
  n.std = {0.5f, 0.25f, 2.f};
  const cv::Mat img = bgr_from_rgb(kGolden["cases"][1]);
  std::vector<float> plain(3 * img.total()), with(3 * img.total()), standardised(3 * img.total());
  bgr_to_chw(img, n, plain.data());
  n.stain = golden_standardisation();
  bgr_to_chw(img, n, with.data());
  stain_standardise(img, *n.stain, standardised.data());
  double differs = 0;
  for (size_t i = 0; i < with.size(); ++i) {
    const int c = static_cast<int>(i / img.total());
    EXPECT_NEAR(with[i], (standardised[i] - n.mean[c]) / n.std[c], 1e-5);
    differs = std::max(differs, double(std::fabs(with[i] - plain[i])));
  }
  EXPECT_GT(differs, 0.1);
  // The model file keeps it: written and read back through the same visit() list.
  const Normalization back = config_from_json<Normalization>(config_to_json(n));
  ASSERT_TRUE(back.stain.has_value());
  EXPECT_EQ(back.stain->od_p99, n.stain->od_p99);
  EXPECT_FALSE(config_from_json<Normalization>(config_to_json(Normalization{})).stain.has_value());
}

}  // namespace
}  // namespace ms
