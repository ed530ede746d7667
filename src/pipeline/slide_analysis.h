#pragma once
// Analysis of a rectangle of a whole slide: the region is read chunk by chunk (never whole), each
// chunk goes through Pipeline::analyze (which tiles it with its own cross-tile merge), and the
// chunks' cells are merged across chunk edges by the same rule (pipeline/tiling.h). Cells keep
// slide coordinates (level-0 pixels).
#include <cstdint>
#include <functional>
#include <string>

#include "core/error.h"
#include "core/slide_reader.h"
#include "pipeline/cell_result.h"

namespace ms {

class Pipeline;

struct SlideRegion {
  std::int64_t x = 0, y = 0, w = 0, h = 0;  // level-0 pixels
};

// "x,y,w,h" in level-0 pixels, or in microns when mpp > 0 (converted with mpp, microns per
// level-0 pixel). The region must lie inside the slide (width x height) and have a positive size.
Result<SlideRegion> parse_slide_region(const std::string& text, std::int64_t width, std::int64_t height,
                                       double mpp = 0);

struct RegionAnalysisOptions {
  // Chunk side (level-0 pixels) read and analysed at a time: memory is one chunk plus the
  // detector's batch of tiles, whatever the region's size.
  int chunk_size = 2048;
  // Chunks overlap by more than a cell and its classifier crop, so every cell lies whole, with its
  // context, inside at least one chunk.
  int chunk_overlap = 320;
  // A cell closer than this (pixels) to an inner chunk edge counts as cut there: its classifier
  // crop would be padded where the neighbouring chunk, which overlaps by more than twice this
  // plus a cell, sees it with all its context. Below chunk_overlap / 2.
  int context_px = 96;
  // Context read around the region (level-0 pixels, cut to the slide): a cell the region's edge
  // crosses is then seen whole, and the region keeps the cells whose box centre lies inside it,
  // so regions side by side count each cell once. 0: the region is read as it is and its edges
  // cut cells like the edges of a field.
  int margin = 0;
  // Microns per level-0 pixel (the slide's or the sample's), used to frame cells where a chunk's
  // red cells are too few to measure; 0: none.
  double um_per_px = 0;
};

// progress(done, total): chunks analysed so far; returning false cancels (kConflict).
using RegionProgress = std::function<bool(size_t done, size_t total)>;

// The region's cells, boxes in level-0 slide pixels (with a margin, those whose centre lies in
// the region); image names the slide; width/height are the region's. rbc_side is the median of the chunks' red-cell rulers.
Result<FieldResult> analyze_slide_region(Pipeline& pipeline, const SlideReader& slide, const SlideRegion& region,
                                         const RegionAnalysisOptions& options = {},
                                         const RegionProgress& progress = {});

}  // namespace ms
