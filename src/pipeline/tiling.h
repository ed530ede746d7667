#pragma once
// Tiling of large (stitched) fields: overlapping tiles so that every cell lies wholly inside at
// least one tile, and a merge that keeps one box per cell.
#include <vector>

#include <opencv2/core.hpp>

#include "core/box.h"

namespace ms {

// Tile rectangles covering width x height with the given size and overlap (pixels). The last
// tile in each row/column is shifted back to end at the border, so all tiles have full size when
// the image is larger than one tile.
std::vector<cv::Rect> make_tiles(int width, int height, int tile_size, int overlap);

struct TiledBox {
  Box box;          // xyxy, pixels of the whole image
  int class_id = 0;
  float score = 0.f;
  int source = -1;  // caller's index (e.g. the detection within its tile)
};

// Greedy duplicate suppression over boxes sorted best first: a box is dropped when it overlaps a
// kept box of the same class_id with IoU > iou or intersection over the smaller box > ios. The
// second test catches a partial box inside a whole one, whose IoU can be small.
std::vector<TiledBox> suppress_duplicates(const std::vector<TiledBox>& sorted, float iou, float ios);

// Merges detections from overlapping tiles. A box touching an inner tile edge (one shared with a
// neighbour, within `edge_px`) is cut by that edge: the neighbour sees the cell whole, so the cut
// box is dropped when a box of the same class overlaps it; remaining duplicates (IoU > iou or
// intersection over the smaller box > ios) keep the higher score.
std::vector<TiledBox> merge_tiled(const std::vector<std::vector<TiledBox>>& per_tile,
                                  const std::vector<cv::Rect>& tiles, int width, int height,
                                  float edge_px = 2.f, float iou = 0.5f, float ios = 0.7f);

}  // namespace ms
