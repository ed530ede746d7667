#include "pipeline/tiling.h"

#include <algorithm>
#include <numeric>

namespace ms {

namespace {
std::vector<int> tile_starts(int length, int size, int overlap) {
  if (length <= size) return {0};
  const int step = std::max(1, size - overlap);
  std::vector<int> starts;
  for (int s = 0;; s += step) {
    if (s + size >= length) {
      starts.push_back(length - size);
      break;
    }
    starts.push_back(s);
  }
  return starts;
}

bool touches_inner_edge(const Box& b, const cv::Rect& t, int width, int height, float e) {
  return (t.x > 0 && b.x1 <= t.x + e) || (t.y > 0 && b.y1 <= t.y + e) ||
         (t.x + t.width < width && b.x2 >= t.x + t.width - e) ||
         (t.y + t.height < height && b.y2 >= t.y + t.height - e);
}
}  // namespace

std::vector<cv::Rect> make_tiles(int width, int height, int tile_size, int overlap) {
  std::vector<cv::Rect> tiles;
  const int tw = std::min(tile_size, width), th = std::min(tile_size, height);
  for (int y : tile_starts(height, th, overlap))
    for (int x : tile_starts(width, tw, overlap)) tiles.emplace_back(x, y, tw, th);
  return tiles;
}

std::vector<TiledBox> suppress_duplicates(const std::vector<TiledBox>& sorted, float iou_thr, float ios_thr) {
  std::vector<TiledBox> kept;
  for (const auto& c : sorted) {
    bool duplicate = false;
    for (const auto& k : kept) {
      if (k.class_id != c.class_id) continue;
      const float inter = intersection_area(k.box, c.box);
      const float smaller = std::min(k.box.area(), c.box.area());
      if (iou(k.box, c.box) > iou_thr || (smaller > 0 && inter / smaller > ios_thr)) {
        duplicate = true;
        break;
      }
    }
    if (!duplicate) kept.push_back(c);
  }
  return kept;
}

std::vector<TiledBox> merge_tiled(const std::vector<std::vector<TiledBox>>& per_tile,
                                  const std::vector<cv::Rect>& tiles, int width, int height,
                                  float edge_px, float iou_thr, float ios_thr) {
  struct Candidate {
    TiledBox box;
    bool cut;
  };
  std::vector<Candidate> all;
  for (size_t t = 0; t < per_tile.size(); ++t)
    for (const auto& b : per_tile[t])
      all.push_back({b, touches_inner_edge(b.box, tiles[t], width, height, edge_px)});
  // Whole boxes first, then by score: a cut box never suppresses the whole view of its cell.
  std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.cut != b.cut) return !a.cut;
    return a.box.score > b.box.score;
  });
  std::vector<TiledBox> sorted;
  for (const auto& c : all) sorted.push_back(c.box);
  std::vector<TiledBox> kept = suppress_duplicates(sorted, iou_thr, ios_thr);
  std::sort(kept.begin(), kept.end(),
            [](const TiledBox& a, const TiledBox& b) { return a.score > b.score; });
  return kept;
}

}  // namespace ms
