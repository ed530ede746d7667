#pragma once
// Deep Zoom (DZI) tiles of a whole slide, as OpenSeadragon reads them: level L of 0..max is the
// slide scaled by 2^(L - max) (level max = level-0 pixels, level 0 = one pixel), cut into
// tile_size squares from the top-left, each grown by `overlap` pixels on every inner side.
// Reference: Microsoft Deep Zoom file format (DZI), as implemented by OpenSeadragon's DziTileSource.
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "core/slide_reader.h"

namespace ms {

struct DeepZoomLayout {
  std::int64_t width = 0, height = 0;  // level-0 pixels
  int tile_size = 254;                 // OpenSeadragon's default: 254 + 2 x 1 overlap = 256
  int overlap = 1;

  int max_level() const;  // ceil(log2(max(width, height)))
  // Size of `level` in its own pixels: ceil(width / 2^(max_level - level)).
  std::int64_t level_width(int level) const;
  std::int64_t level_height(int level) const;
  std::int64_t columns(int level) const;  // tiles across
  std::int64_t rows(int level) const;
  // The DZI descriptor OpenSeadragon opens (format: "jpeg" or "png").
  std::string descriptor_xml(const std::string& format = "jpeg") const;
};

// One tile: the level-0 rectangle it shows and its size in pixels.
struct DeepZoomTile {
  std::int64_t x = 0, y = 0, w = 0, h = 0;  // level-0 pixels
  int out_w = 0, out_h = 0;                 // the tile image's size
};

// The tile at (level, column, row); kNotFound for a level, column or row the layout lacks (a tile
// URL is request text: every number is checked against the layout, nothing else is read from it).
Result<DeepZoomTile> deep_zoom_tile(const DeepZoomLayout& layout, int level, std::int64_t column, std::int64_t row);

// The tile's pixels (BGR) read from the slide's best pyramid level; memory is bounded by
// SlideReader::kMaxReadPixels (a slide without a pyramid cannot serve its far-out levels: kTooLarge).
Result<cv::Mat> render_deep_zoom_tile(const SlideReader& slide, const DeepZoomLayout& layout, int level,
                                      std::int64_t column, std::int64_t row);

// The same tile of an image held in memory (an ordinary field, decoded once): the tile's
// rectangle scaled to its output size with area averaging.
Result<cv::Mat> render_deep_zoom_tile(const cv::Mat& image, const DeepZoomLayout& layout, int level,
                                      std::int64_t column, std::int64_t row);

}  // namespace ms
