#include "core/deep_zoom.h"

#include <gtest/gtest.h>

#include <tuple>

namespace ms {
namespace {

// 1000 x 600 slide, 254-px tiles with 1 px overlap (OpenSeadragon's defaults).
DeepZoomLayout layout() { return DeepZoomLayout{1000, 600, 254, 1}; }

TEST(DeepZoom, LevelSizesHalveDownToOnePixel) {
  const auto l = layout();
  EXPECT_EQ(l.max_level(), 10);  // 2^10 = 1024 >= 1000
  EXPECT_EQ(l.level_width(10), 1000);
  EXPECT_EQ(l.level_height(10), 600);
  EXPECT_EQ(l.level_width(9), 500);
  EXPECT_EQ(l.level_height(8), 150);
  EXPECT_EQ(l.level_width(1), 2);  // ceil(1000 / 512)
  EXPECT_EQ(l.level_width(0), 1);
  EXPECT_EQ(l.level_height(0), 1);
}

TEST(DeepZoom, TileRectanglesCarryTheOverlapOnInnerSidesOnly) {
  const auto l = layout();
  EXPECT_EQ(l.columns(10), 4);
  EXPECT_EQ(l.rows(10), 3);
  auto first = deep_zoom_tile(l, 10, 0, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->x, 0);
  EXPECT_EQ(first->out_w, 255);  // 254 + right overlap
  auto inner = deep_zoom_tile(l, 10, 1, 0);
  ASSERT_TRUE(inner);
  EXPECT_EQ(inner->x, 253);
  EXPECT_EQ(inner->out_w, 256);  // overlap on both sides
  EXPECT_EQ(inner->out_h, 255);
  auto last = deep_zoom_tile(l, 10, 3, 2);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->x, 761);
  EXPECT_EQ(last->out_w, 239);  // 1000 - 761
  EXPECT_EQ(last->y, 507);
  EXPECT_EQ(last->out_h, 93);   // 600 - 507
  // One level out: a 500 x 300 image whose tile (1, 1) shows level-0 pixels from 506 on.
  auto out = deep_zoom_tile(l, 9, 1, 1);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->x, 506);
  EXPECT_EQ(out->w, 494);
  EXPECT_EQ(out->out_w, 247);
}

TEST(DeepZoom, TilesOutsideTheLayoutAreNotFound) {
  const auto l = layout();
  for (auto [level, col, row] : {std::tuple{11, 0, 0}, {-1, 0, 0}, {10, 4, 0}, {10, 0, 3}, {10, -1, 0}, {0, 1, 0}}) {
    auto t = deep_zoom_tile(l, level, col, row);
    ASSERT_FALSE(t) << level << " " << col << " " << row;
    EXPECT_EQ(t.error().code, ErrorCode::kNotFound);
  }
  EXPECT_TRUE(deep_zoom_tile(l, 0, 0, 0));
}

TEST(DeepZoom, DescriptorNamesSizeTileAndFormat) {
  const std::string xml = layout().descriptor_xml("jpeg");
  EXPECT_NE(xml.find("TileSize=\"254\""), std::string::npos);
  EXPECT_NE(xml.find("Overlap=\"1\""), std::string::npos);
  EXPECT_NE(xml.find("Format=\"jpeg\""), std::string::npos);
  EXPECT_NE(xml.find("<Size Width=\"1000\" Height=\"600\"/>"), std::string::npos);
}

}  // namespace
}  // namespace ms
