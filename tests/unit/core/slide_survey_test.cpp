#include "core/slide_survey.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <opencv2/imgproc.hpp>

#include "slide_fixture.h"

namespace ms {
namespace {
namespace fs = std::filesystem;

// One 64 x 64 overview square of each kind.
cv::Mat glass() { return cv::Mat(64, 64, CV_8UC3, cv::Scalar(245, 245, 245)); }
cv::Mat monolayer(bool with_nucleus) {
  cv::Mat m = glass();
  for (int y = 4; y < 64; y += 10)
    for (int x = 4; x < 64; x += 10) cv::circle(m, {x, y}, 4, cv::Scalar(200, 170, 235), cv::FILLED);
  if (with_nucleus) cv::circle(m, {32, 32}, 4, cv::Scalar(150, 40, 110), cv::FILLED);
  return m;
}
cv::Mat thick() { return cv::Mat(64, 64, CV_8UC3, cv::Scalar(190, 150, 225)); }

TEST(SlideSurvey, ScoresTheMonolayerWithWhiteCellsAndNothingElse) {
  EXPECT_FLOAT_EQ(survey_score(0.0, 0.0), 0.f);
  EXPECT_FLOAT_EQ(survey_score(0.05, 0.01), 0.f);  // glass, feathered edge
  EXPECT_FLOAT_EQ(survey_score(0.98, 0.01), 0.f);  // thick part
  EXPECT_FLOAT_EQ(survey_score(0.5, 0.0), 0.f);    // red cells only
  EXPECT_FLOAT_EQ(survey_score(0.5, 0.01), 1.f);
  EXPECT_NEAR(survey_score(0.5, 0.001), 0.5f, 1e-5);
  EXPECT_GT(survey_score(0.2, 0.01), 0.f);
  EXPECT_LT(survey_score(0.2, 0.01), 1.f);

  // A 4 x 2 overview: glass, monolayer without and with a nucleus, thick; then the same with the
  // best square in the second row.
  cv::Mat overview(128, 256, CV_8UC3);
  glass().copyTo(overview(cv::Rect(0, 0, 64, 64)));
  monolayer(false).copyTo(overview(cv::Rect(64, 0, 64, 64)));
  monolayer(true).copyTo(overview(cv::Rect(128, 0, 64, 64)));
  thick().copyTo(overview(cv::Rect(192, 0, 64, 64)));
  monolayer(true).copyTo(overview(cv::Rect(0, 64, 64, 64)));
  monolayer(true).copyTo(overview(cv::Rect(64, 64, 64, 64)));
  glass().copyTo(overview(cv::Rect(128, 64, 64, 64)));
  thick().copyTo(overview(cv::Rect(192, 64, 64, 64)));
  SurveyOptions o;
  o.area_squares = 1;
  o.max_areas = 10;
  // 16 level-0 pixels per overview pixel; squares of 1024 level-0 pixels; the slide's last column
  // is cut at 4000.
  const SlideSurvey s = survey_overview(overview, 16.0, 4000, 2048, 1024, o);
  ASSERT_EQ(s.cols, 4);
  ASSERT_EQ(s.rows, 2);
  EXPECT_EQ(s.scores[0], 0.f);
  EXPECT_EQ(s.scores[1], 0.f);
  EXPECT_GT(s.scores[2], 0.9f);
  EXPECT_EQ(s.scores[3], 0.f);
  EXPECT_GT(s.cover[3], 0.95f);
  EXPECT_LT(s.cover[0], 0.01f);
  ASSERT_EQ(s.areas.size(), 3u);  // the three monolayer squares with a nucleus, nothing else
  for (const auto& a : s.areas) {
    EXPECT_EQ(a.w, 1024);
    EXPECT_GT(a.score, 0.9f);
  }
  // Proposed 2 x 2 areas never leave the slide and never overlap.
  o.area_squares = 2;
  o.min_area_score = 0.0;
  const SlideSurvey t = survey_overview(overview, 16.0, 4000, 2048, 1024, o);
  ASSERT_EQ(t.areas.size(), 2u);
  for (const auto& a : t.areas) EXPECT_LE(a.x + a.w, 4000);
  EXPECT_NE(t.areas[0].x, t.areas[1].x);
}

// A slide without a pyramid (one level) larger than one read may take: surveyed square by
// square, each read bounded.
TEST(SlideSurvey, ASlideWithoutAPyramidIsReadSquareBySquare) {
  const fs::path dir = fs::temp_directory_path() / ("ms_survey_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "flat.tif").string();
  const std::string cmd = "vips black '" + (dir / "flat.v").string() + "' 6000 4000 --bands 3 && vips tiffsave '" +
                          (dir / "flat.v").string() + "' '" + path + "' --tile --tile-width 256 --tile-height 256";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "libvips-tools";
  auto slide = SlideReader::open(path);
  ASSERT_TRUE(slide) << slide.error().message;
  ASSERT_EQ((*slide)->levels().size(), 1u);
  EXPECT_EQ((*slide)->mpp(), 0.0);  // libvips' default 1 px/mm is no microscope's scale
  auto s = survey_slide(**slide);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->cols, 6);  // no scale recorded: 1024-px squares
  EXPECT_EQ(s->rows, 4);
  for (float v : s->scores) EXPECT_EQ(v, 0.f);  // all black: covered, no stained nuclei
  EXPECT_TRUE(s->areas.empty());
  EXPECT_LE((*slide)->largest_read_pixels(), 1024LL * 1024LL);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace ms
