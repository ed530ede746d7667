// Tiling of large fields: tiles cover the image with the overlap that keeps every small cell
// whole in some tile, and the merge keeps one box per cell (a cell cut by a tile border is one
// cell, whichever view scored higher).
#include <gtest/gtest.h>

#include "pipeline/tiling.h"

namespace ms {
namespace {

TEST(MakeTiles, SmallImageIsOneTile) {
  const auto tiles = make_tiles(300, 200, 640, 192);
  ASSERT_EQ(tiles.size(), 1u);
  EXPECT_EQ(tiles[0], cv::Rect(0, 0, 300, 200));
}

TEST(MakeTiles, LastTileEndsAtTheBorderAndAllAreFullSize) {
  // 1000 wide, 640 tiles, step 448: starts 0 and 360 (shifted back from 448 to end at 1000);
  // 700 high: starts 0 and 60.
  const auto tiles = make_tiles(1000, 700, 640, 192);
  ASSERT_EQ(tiles.size(), 4u);
  EXPECT_EQ(tiles[0], cv::Rect(0, 0, 640, 640));
  EXPECT_EQ(tiles[1], cv::Rect(360, 0, 640, 640));
  EXPECT_EQ(tiles[2], cv::Rect(0, 60, 640, 640));
  EXPECT_EQ(tiles[3], cv::Rect(360, 60, 640, 640));
}

TEST(MakeTiles, EveryBoxSmallerThanTheOverlapLiesWhollyInATile) {
  for (const auto& [w, h] : {std::pair{4000, 3000}, std::pair{1301, 641}, std::pair{2000, 999}}) {
    const int size = 640, overlap = 192;
    const auto tiles = make_tiles(w, h, size, overlap);
    const cv::Rect image(0, 0, w, h);
    for (const auto& t : tiles) {
      EXPECT_EQ(t.width, size);
      EXPECT_EQ(t.height, size);
      EXPECT_EQ(t & image, t) << "tile leaves the image";
    }
    // Slide a (overlap-1)-pixel square over the whole image in 7-pixel steps.
    const int s = overlap - 1;
    for (int y = 0; y + s <= h; y += 7)
      for (int x = 0; x + s <= w; x += 7) {
        const cv::Rect cell(x, y, s, s);
        bool inside = false;
        for (const auto& t : tiles) inside = inside || (t & cell) == cell;
        ASSERT_TRUE(inside) << w << "x" << h << ": cell at " << x << "," << y << " is cut by every tile";
      }
  }
}

// Two tiles side by side: A = [0,100) and B = [60,160) in x, both [0,100) in y.
class MergeTiled : public ::testing::Test {
 protected:
  const std::vector<cv::Rect> tiles_{cv::Rect(0, 0, 100, 100), cv::Rect(60, 0, 100, 100)};
  std::vector<TiledBox> merge(const std::vector<TiledBox>& a, const std::vector<TiledBox>& b) {
    return merge_tiled({a, b}, tiles_, 160, 100);
  }
};

TEST_F(MergeTiled, CellCutByATileBorderBecomesOneCellWithTheWholeBox) {
  // The cell spans x 80..115. Tile A ends at 100, so it sees the cut part 80..100; tile B sees
  // the whole cell. The cut view scores higher and must still lose to the whole one.
  const TiledBox cut{{80, 30, 100, 62}, 0, 0.95f, 1};
  const TiledBox whole{{80, 30, 115, 62}, 0, 0.80f, 2};
  const auto merged = merge({cut}, {whole});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].source, 2);
  EXPECT_EQ(merged[0].box, whole.box);
}

TEST_F(MergeTiled, CutOnTheLeftEdgeOfTheRightTileToo) {
  // Cell spans x 45..75: tile B starts at 60 and sees 60..75; tile A sees it whole.
  const TiledBox whole{{45, 10, 75, 40}, 0, 0.7f, 1};
  const TiledBox cut{{60, 10, 75, 40}, 0, 0.9f, 2};
  const auto merged = merge({whole}, {cut});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].source, 1);
}

TEST_F(MergeTiled, CellWhollyInTheOverlapIsKeptOnceWithTheHigherScore) {
  const auto merged = merge({{{65, 20, 95, 50}, 0, 0.6f, 1}}, {{{66, 21, 95, 51}, 0, 0.9f, 2}});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].source, 2);
}

TEST_F(MergeTiled, NeighbouringCellsInTheOverlapStayTwo) {
  const TiledBox left{{62, 10, 78, 26}, 0, 0.9f, 1}, right{{80, 10, 96, 26}, 0, 0.8f, 2};
  const auto merged = merge({left, right}, {{left.box, 0, 0.85f, 3}, {right.box, 0, 0.7f, 4}});
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].source, 1);  // best first
  EXPECT_EQ(merged[1].source, 2);
}

TEST_F(MergeTiled, OtherClassesAreNotMerged) {
  const auto merged = merge({{{65, 20, 95, 50}, 0, 0.9f, 1}}, {{{65, 20, 95, 50}, 1, 0.8f, 2}});
  EXPECT_EQ(merged.size(), 2u);
}

TEST_F(MergeTiled, OuterImageBordersDoNotMakeABoxCut) {
  // P (tile A) touches only the image's top border: it is whole. Q (tile B) touches B's inner
  // left edge at x 60: it is cut, so it loses to P despite its higher score.
  const TiledBox p{{65, 0, 95, 30}, 0, 0.5f, 1};
  const TiledBox q{{60, 2, 95, 30}, 0, 0.9f, 2};
  const auto merged = merge({p}, {q});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].source, 1);
}

TEST(SuppressDuplicates, PartialBoxInsideAWholeOneIsDroppedNeighboursStay) {
  // The case the shipped detector produces on large cells: a second box covering the upper part
  // of the cell (IoU 0.45 with the whole box, but 100% inside it), and a true neighbour.
  const std::vector<TiledBox> sorted{{{150, 130, 415, 430}, 0, 0.8f, 0},
                                     {{180, 140, 385, 310}, 0, 0.32f, 1},
                                     {{420, 130, 500, 210}, 0, 0.31f, 2}};
  ASSERT_LT(iou(sorted[0].box, sorted[1].box), 0.5f);
  const auto kept = suppress_duplicates(sorted, 0.3f, 0.7f);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].source, 0);
  EXPECT_EQ(kept[1].source, 2);
  // Thresholds of 1 disable both tests.
  EXPECT_EQ(suppress_duplicates(sorted, 1.f, 1.f).size(), 3u);
  // IoU alone: two boxes offset by a quarter of their side (IoU 0.6) are one cell at 0.5.
  const std::vector<TiledBox> shifted{{{0, 0, 40, 40}, 0, 0.9f, 0}, {{10, 0, 50, 40}, 0, 0.5f, 1}};
  EXPECT_EQ(suppress_duplicates(shifted, 0.5f, 1.f).size(), 1u);
  EXPECT_EQ(suppress_duplicates(shifted, 0.7f, 1.f).size(), 2u);
}

TEST_F(MergeTiled, EmptyTilesGiveNothing) { EXPECT_TRUE(merge({}, {}).empty()); }

}  // namespace
}  // namespace ms
