#include "core/slide_reader.h"

#include "core/deep_zoom.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <opencv2/imgproc.hpp>

#include "slide_fixture.h"

namespace ms {
namespace {
namespace fs = std::filesystem;

class SlideReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string root = testing::txl_pbc_root();
    if (root.empty()) return;
    dir_ = fs::temp_directory_path() / ("ms_slide_reader_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    mosaic_ = testing::txl_pbc_mosaic(root, 4, 3);
    path_ = (dir_ / "mosaic.tif").string();
    error_ = testing::write_pyramidal_tiff(mosaic_.image, path_, 0.25);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void SetUp() override {
    if (path_.empty()) GTEST_SKIP() << "../shared/data/txl-pbc is absent";
    ASSERT_EQ(error_, "");
  }
  static inline fs::path dir_;
  static inline testing::MosaicSlide mosaic_;
  static inline std::string path_, error_;
};

TEST_F(SlideReaderTest, OpensAGenericPyramidalTiffWithItsLevelsAndMicronsPerPixel) {
  auto s = SlideReader::open(path_);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->vendor(), "generic-tiff");
  EXPECT_EQ((*s)->width(), mosaic_.image.cols);
  EXPECT_EQ((*s)->height(), mosaic_.image.rows);
  ASSERT_GE((*s)->levels().size(), 2u);  // 2560x1440 with 256-px tiles: at least one halving
  EXPECT_NEAR((*s)->levels()[1].downsample, 2.0, 0.01);
  EXPECT_NEAR((*s)->mpp(), 0.25, 0.001);
}

TEST_F(SlideReaderTest, ARegionReadIsThePixelsOfTheMosaicAcrossTileEdges) {
  auto s = SlideReader::open(path_);
  ASSERT_TRUE(s);
  // 300x200 starting inside one 256-px tile and crossing two tile edges each way.
  auto r = (*s)->read_region(0, 200, 230, 300, 300);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->type(), CV_8UC3);
  cv::Mat diff;
  cv::absdiff(*r, mosaic_.image(cv::Rect(200, 230, 300, 300)), diff);
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);
  EXPECT_EQ((*s)->largest_read_pixels(), 300 * 300);
}

TEST_F(SlideReaderTest, PartsOutsideTheSlideAreWhiteGlass) {
  auto s = SlideReader::open(path_);
  ASSERT_TRUE(s);
  auto r = (*s)->read_region(0, (*s)->width() - 10, 0, 20, 4);
  ASSERT_TRUE(r) << r.error().message;
  const cv::Vec3b outside = r->at<cv::Vec3b>(0, 15);
  EXPECT_EQ(outside, cv::Vec3b(255, 255, 255));
}

TEST_F(SlideReaderTest, AScaledOverviewReadsACoarseLevelNotTheWholeSlide) {
  auto s = SlideReader::open(path_);
  ASSERT_TRUE(s);
  auto r = (*s)->read_scaled(0, 0, (*s)->width(), (*s)->height(), 320, 180);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->cols, 320);
  EXPECT_EQ(r->rows, 180);
  // The pyramid's coarse levels serve it: far fewer pixels read than level 0 holds.
  EXPECT_LT((*s)->largest_read_pixels(), (*s)->width() * (*s)->height() / 16);
}

TEST_F(SlideReaderTest, DeepZoomTilesShowTheSlideAtEveryLevel) {
  auto s = SlideReader::open(path_);
  ASSERT_TRUE(s);
  const DeepZoomLayout layout{(*s)->width(), (*s)->height(), 254, 1};
  // Full resolution: tile (1, 1) is exactly the mosaic's pixels from (253, 253).
  auto full = render_deep_zoom_tile(**s, layout, layout.max_level(), 1, 1);
  ASSERT_TRUE(full) << full.error().message;
  ASSERT_EQ(full->size(), cv::Size(256, 256));
  cv::Mat diff;
  cv::absdiff(*full, mosaic_.image(cv::Rect(253, 253, 256, 256)), diff);
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);
  // Far out: the whole slide in one small tile, close to the mosaic scaled down.
  const int out_level = layout.max_level() - 4;
  auto small = render_deep_zoom_tile(**s, layout, out_level, 0, 0);
  ASSERT_TRUE(small) << small.error().message;
  EXPECT_EQ(small->cols, int(layout.level_width(out_level)));
  cv::Mat expect;
  cv::resize(mosaic_.image, expect, small->size(), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(*small, expect, cv::NORM_L1) / double(expect.total() * 3), 12.0);
  EXPECT_FALSE(render_deep_zoom_tile(**s, layout, layout.max_level() + 1, 0, 0));
}

TEST_F(SlideReaderTest, BadReadsAreRefusedWithTheirReason) {
  auto s = SlideReader::open(path_);
  ASSERT_TRUE(s);
  const auto& slide = **s;
  auto too_big = slide.read_region(0, 0, 0, 5000, 5000);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(slide.largest_read_pixels(), 0);  // refused before allocating
  auto level = slide.read_region(99, 0, 0, 10, 10);
  ASSERT_FALSE(level);
  EXPECT_NE(level.error().message.find("slide level"), std::string::npos);
  EXPECT_FALSE(slide.read_region(0, slide.width() + 5, 0, 10, 10));
  EXPECT_FALSE(slide.read_region(0, -500, -500, 10, 10));
  EXPECT_FALSE(slide.read_region(0, 0, 0, 0, 10));
}

TEST_F(SlideReaderTest, NonSlidesMissingAndTruncatedFilesAreErrorsNotCrashes) {
  auto missing = SlideReader::open((dir_ / "nope.tif").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  const std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "not a slide";
  auto not_slide = SlideReader::open(text);
  ASSERT_FALSE(not_slide);
  EXPECT_EQ(not_slide.error().code, ErrorCode::kUnsupportedFormat);
  // The first 40 KB of the slide: the header and some tiles survive, the rest is gone.
  const std::string cut = (dir_ / "cut.tif").string();
  {
    std::ifstream in(path_, std::ios::binary);
    std::vector<char> head(40000);
    in.read(head.data(), long(head.size()));
    std::ofstream(cut, std::ios::binary).write(head.data(), in.gcount());
  }
  auto truncated = SlideReader::open(cut);
  if (truncated) {
    // Opening may succeed (the directory can sit early); reading the lost tiles must then fail.
    auto r = (*truncated)->read_region(0, 0, 0, int(std::min<int64_t>(2048, (*truncated)->width())),
                                       int(std::min<int64_t>(1024, (*truncated)->height())));
    EXPECT_FALSE(r);
  }
}

}  // namespace
}  // namespace ms
