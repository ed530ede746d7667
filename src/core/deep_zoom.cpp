#include "core/deep_zoom.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace ms {

namespace {
std::int64_t scaled(std::int64_t size, int shift) {
  // ceil(size / 2^shift) without overflow for shift up to 62.
  if (shift <= 0) return size;
  if (shift >= 62) return 1;
  const std::int64_t d = std::int64_t(1) << shift;
  return std::max<std::int64_t>(1, (size + d - 1) / d);
}
}  // namespace

int DeepZoomLayout::max_level() const {
  const std::int64_t side = std::max<std::int64_t>(1, std::max(width, height));
  int level = 0;
  while ((std::int64_t(1) << level) < side) ++level;
  return level;
}
std::int64_t DeepZoomLayout::level_width(int level) const { return scaled(width, max_level() - level); }
std::int64_t DeepZoomLayout::level_height(int level) const { return scaled(height, max_level() - level); }
std::int64_t DeepZoomLayout::columns(int level) const { return (level_width(level) + tile_size - 1) / tile_size; }
std::int64_t DeepZoomLayout::rows(int level) const { return (level_height(level) + tile_size - 1) / tile_size; }

std::string DeepZoomLayout::descriptor_xml(const std::string& format) const {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"{}\" Overlap=\"{}\" TileSize=\"{}\">"
      "<Size Width=\"{}\" Height=\"{}\"/></Image>\n",
      format == "png" ? "png" : "jpeg", overlap, tile_size, width, height);
}

Result<DeepZoomTile> deep_zoom_tile(const DeepZoomLayout& layout, int level, std::int64_t column, std::int64_t row) {
  if (layout.width <= 0 || layout.height <= 0 || layout.tile_size <= 0 || layout.overlap < 0)
    return fail(ErrorCode::kInvalidArgument, "deep zoom layout", "positive sizes",
                fmt::format("{}x{} tile {} overlap {}", layout.width, layout.height, layout.tile_size, layout.overlap));
  const int max = layout.max_level();
  if (level < 0 || level > max)
    return fail(ErrorCode::kNotFound, "deep zoom level", fmt::format("0 to {}", max), std::to_string(level));
  if (column < 0 || column >= layout.columns(level) || row < 0 || row >= layout.rows(level))
    return fail(ErrorCode::kNotFound, fmt::format("deep zoom tile at level {}", level),
                fmt::format("column 0 to {}, row 0 to {}", layout.columns(level) - 1, layout.rows(level) - 1),
                fmt::format("{}_{}", column, row));
  const std::int64_t lw = layout.level_width(level), lh = layout.level_height(level);
  // Tile rectangle in this level's pixels, grown by the overlap on inner sides.
  const std::int64_t x0 = std::max<std::int64_t>(0, column * layout.tile_size - (column > 0 ? layout.overlap : 0));
  const std::int64_t y0 = std::max<std::int64_t>(0, row * layout.tile_size - (row > 0 ? layout.overlap : 0));
  const std::int64_t x1 = std::min(lw, (column + 1) * layout.tile_size + layout.overlap);
  const std::int64_t y1 = std::min(lh, (row + 1) * layout.tile_size + layout.overlap);
  // Level pixels to level-0 pixels: the level is the slide scaled by lw/width.
  const double sx = double(layout.width) / double(lw), sy = double(layout.height) / double(lh);
  DeepZoomTile t;
  t.x = std::int64_t(std::floor(double(x0) * sx));
  t.y = std::int64_t(std::floor(double(y0) * sy));
  t.w = std::max<std::int64_t>(1, std::min(layout.width, std::int64_t(std::ceil(double(x1) * sx))) - t.x);
  t.h = std::max<std::int64_t>(1, std::min(layout.height, std::int64_t(std::ceil(double(y1) * sy))) - t.y);
  t.out_w = int(x1 - x0);
  t.out_h = int(y1 - y0);
  return t;
}

Result<cv::Mat> render_deep_zoom_tile(const SlideReader& slide, const DeepZoomLayout& layout, int level,
                                      std::int64_t column, std::int64_t row) {
  auto t = deep_zoom_tile(layout, level, column, row);
  if (!t) return tl::unexpected(t.error());
  return slide.read_scaled(t->x, t->y, t->w, t->h, t->out_w, t->out_h);
}

Result<cv::Mat> render_deep_zoom_tile(const cv::Mat& image, const DeepZoomLayout& layout, int level,
                                      std::int64_t column, std::int64_t row) {
  if (image.empty() || image.cols != layout.width || image.rows != layout.height)
    return fail(ErrorCode::kInvalidArgument, "deep zoom image", fmt::format("{}x{}", layout.width, layout.height),
                fmt::format("{}x{}", image.cols, image.rows));
  auto t = deep_zoom_tile(layout, level, column, row);
  if (!t) return tl::unexpected(t.error());
  const cv::Mat part = image(cv::Rect(int(t->x), int(t->y), int(t->w), int(t->h)));
  if (part.cols == t->out_w && part.rows == t->out_h) return part.clone();
  cv::Mat out;
  cv::resize(part, out, cv::Size(t->out_w, t->out_h), 0, 0,
             t->out_w < part.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace ms
