#include "pipeline/slide_analysis.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "pipeline/pipeline.h"
#include "pipeline/tiling.h"

namespace ms {

Result<SlideRegion> parse_slide_region(const std::string& text, std::int64_t width, std::int64_t height,
                                       double mpp) {
  const std::string what = mpp > 0 ? "--region-um" : "--region";
  double v[4];
  std::istringstream in(text);
  char sep = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0 && !(in >> sep && sep == ','))
      return fail(ErrorCode::kInvalidArgument, what + " " + text, "x,y,w,h (four numbers)", "something else");
    // Bounded before rounding: no slide is 1e12 pixels or microns wide.
    if (!(in >> v[i]) || !std::isfinite(v[i]) || std::fabs(v[i]) > 1e12)
      return fail(ErrorCode::kInvalidArgument, what + " " + text, "x,y,w,h (four numbers)", "something else");
  }
  if (in >> sep) return fail(ErrorCode::kInvalidArgument, what + " " + text, "x,y,w,h (four numbers)", "more");
  const double scale = mpp > 0 ? 1.0 / mpp : 1.0;
  SlideRegion r{std::int64_t(std::llround(v[0] * scale)), std::int64_t(std::llround(v[1] * scale)),
                std::int64_t(std::llround(v[2] * scale)), std::int64_t(std::llround(v[3] * scale))};
  if (r.x < 0 || r.y < 0 || r.w <= 0 || r.h <= 0 || r.x + r.w > width || r.y + r.h > height)
    return fail(ErrorCode::kInvalidArgument, what + " " + text,
                "a rectangle of positive size inside the slide (0,0," + std::to_string(width) + "," +
                    std::to_string(height) + " level-0 pixels)",
                std::to_string(r.x) + "," + std::to_string(r.y) + "," + std::to_string(r.w) + "," + std::to_string(r.h));
  return r;
}

Result<FieldResult> analyze_slide_region(Pipeline& pipeline, const SlideReader& slide, const SlideRegion& asked,
                                         const RegionAnalysisOptions& options, const RegionProgress& progress) {
  if (options.margin < 0 || options.margin > 4096)
    return fail(ErrorCode::kInvalidArgument, "margin", "0 to 4096 pixels", std::to_string(options.margin));
  SlideRegion region = asked;
  if (options.margin > 0) {
    region.x = std::max<std::int64_t>(0, asked.x - options.margin);
    region.y = std::max<std::int64_t>(0, asked.y - options.margin);
    region.w = std::min(slide.width(), asked.x + asked.w + options.margin) - region.x;
    region.h = std::min(slide.height(), asked.y + asked.h + options.margin) - region.y;
  }
  if (options.chunk_size < 128 || std::int64_t(options.chunk_size) * options.chunk_size > SlideReader::kMaxReadPixels)
    return fail(ErrorCode::kInvalidArgument, "chunk_size", "128 to 4096 pixels", std::to_string(options.chunk_size));
  if (options.chunk_overlap < 0 || options.chunk_overlap > options.chunk_size / 2)
    return fail(ErrorCode::kInvalidArgument, "chunk_overlap", "0 to chunk_size/2", std::to_string(options.chunk_overlap));
  if (options.context_px < 0 || options.context_px * 2 >= options.chunk_overlap)
    return fail(ErrorCode::kInvalidArgument, "context_px", "0 to below chunk_overlap/2", std::to_string(options.context_px));
  // Chunk rectangles are ints relative to the region; a region is bounded by the slide, and a
  // region over 2^31 pixels on a side is refused rather than wrapped.
  if (region.w > (1LL << 30) || region.h > (1LL << 30) || region.w <= 0 || region.h <= 0)
    return fail(ErrorCode::kInvalidArgument, "slide region", "1 to 2^30 pixels a side",
                std::to_string(region.w) + "x" + std::to_string(region.h));
  const auto chunks = make_tiles(int(region.w), int(region.h), options.chunk_size, options.chunk_overlap);
  std::vector<std::vector<TiledBox>> per_chunk(chunks.size());
  std::vector<CellResult> all;
  std::vector<float> rulers;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const cv::Rect& c = chunks[i];
    auto pixels = slide.read_region(0, region.x + c.x, region.y + c.y, c.width, c.height);
    if (!pixels) return tl::unexpected(pixels.error());
    FieldResult r = pipeline.analyze(*pixels, slide.path(), options.um_per_px);
    if (!r.ok()) return fail(ErrorCode::kInternal, r.error);
    if (r.rbc_side > 0) rulers.push_back(r.rbc_side);
    for (auto& cell : r.cells) {
      // Boxes in region pixels for the merge (its tile rectangles are region-relative).
      cell.box = {cell.box.x1 + float(c.x), cell.box.y1 + float(c.y), cell.box.x2 + float(c.x), cell.box.y2 + float(c.y)};
      per_chunk[i].push_back({cell.box, 0, cell.det_score, int(all.size())});
      all.push_back(std::move(cell));
    }
    if (progress && !progress(i + 1, chunks.size()))
      return fail(ErrorCode::kConflict, "slide region analysis cancelled");
  }
  FieldResult out;
  out.image = slide.path();
  out.width = int(std::min<std::int64_t>(asked.w, INT32_MAX));
  out.height = int(std::min<std::int64_t>(asked.h, INT32_MAX));
  if (!rulers.empty()) {
    std::nth_element(rulers.begin(), rulers.begin() + long(rulers.size() / 2), rulers.end());
    out.rbc_side = rulers[rulers.size() / 2];
  }
  for (const auto& m : merge_tiled(per_chunk, chunks, int(region.w), int(region.h), float(options.context_px),
                                           pipeline.options().cell_nms_iou, pipeline.options().cell_nms_ios)) {
    CellResult cell = std::move(all[size_t(m.source)]);
    cell.box = {cell.box.x1 + float(region.x), cell.box.y1 + float(region.y), cell.box.x2 + float(region.x),
                cell.box.y2 + float(region.y)};
    if (options.margin > 0) {
      const double cx = (double(cell.box.x1) + double(cell.box.x2)) / 2, cy = (double(cell.box.y1) + double(cell.box.y2)) / 2;
      if (cx < double(asked.x) || cy < double(asked.y) || cx >= double(asked.x + asked.w) || cy >= double(asked.y + asked.h))
        continue;  // the margin's cell: its own area counts it
    }
    out.cells.push_back(std::move(cell));
  }
  return out;
}

}  // namespace ms
