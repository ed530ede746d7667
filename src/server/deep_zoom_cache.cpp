#include "server/deep_zoom_cache.h"

#include <fmt/format.h>

#include "core/image.h"
#include "server/decode_slots.h"
#include "store/database.h"  // MS_ASSIGN_OR_RETURN

namespace ms::server {
namespace {

// Decoding a field and rendering a slide tile are where a request becomes megabytes of pixels: at
// most this many run at once.
DecodeSlots& tile_slots() {
  static DecodeSlots slots(4);
  return slots;
}

// Tiles are JPEG at this quality: what OpenSeadragon's DZI viewers are used to, a few KB a tile.
constexpr int kTileQuality = 85;

}  // namespace

std::shared_ptr<const TileSource> TileSource::of_slide(std::unique_ptr<SlideReader> slide) {
  auto s = std::make_shared<TileSource>();
  s->layout_.width = slide->width();
  s->layout_.height = slide->height();
  s->slide_ = std::move(slide);
  return s;
}

std::shared_ptr<const TileSource> TileSource::of_image(cv::Mat bgr) {
  auto s = std::make_shared<TileSource>();
  s->layout_.width = bgr.cols;
  s->layout_.height = bgr.rows;
  s->image_ = std::move(bgr);
  return s;
}

Result<cv::Mat> TileSource::tile(int level, std::int64_t column, std::int64_t row) const {
  if (slide_) return render_deep_zoom_tile(*slide_, layout_, level, column, row);
  return render_deep_zoom_tile(image_, layout_, level, column, row);
}

Result<std::shared_ptr<const TileSource>> DeepZoomCache::source(const FileStore& files, const std::string& sha256,
                                                                const std::string& format, bool is_slide,
                                                                const std::string& filename) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = sources_.at.find(sha256); it != sources_.at.end()) {
      sources_.order.splice(sources_.order.begin(), sources_.order, it->second);
      return it->second->second;
    }
  }
  MS_ASSIGN_OR_RETURN(auto path, files.path_of(sha256));
  std::shared_ptr<const TileSource> made;
  {
    DecodeSlots::Hold hold(tile_slots());
    if (is_slide) {
      MS_ASSIGN_OR_RETURN(auto slide_path, files.slide_path(sha256, filename));
      MS_ASSIGN_OR_RETURN(auto slide, SlideReader::open(slide_path));
      made = TileSource::of_slide(std::move(slide));
    } else if (format == "TIFF") {
      // A TIFF may be a tiled pyramid OpenSlide reads; a plain (strip) TIFF it refuses is a field.
      auto slide = SlideReader::open(path);
      if (slide) made = TileSource::of_slide(std::move(*slide));
      else if (slide.error().code != ErrorCode::kUnsupportedFormat) return tl::unexpected(slide.error());
    }
    if (!made) {
      // The file passed the upload's checks (size, pixel count) when it was stored.
      MS_ASSIGN_OR_RETURN(auto bgr, read_image(path));
      made = TileSource::of_image(std::move(bgr));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++source_loads_;
  if (auto it = sources_.at.find(sha256); it != sources_.at.end()) return it->second->second;  // a racing load won
  keep_source(sha256, made);
  return made;
}

void DeepZoomCache::keep_source(const std::string& key, std::shared_ptr<const TileSource> s) {
  if (!s->is_slide() && s->bytes() > budget_.image_bytes) return;
  sources_.order.emplace_front(key, s);
  sources_.at[key] = sources_.order.begin();
  (s->is_slide() ? slides_ : image_bytes_) += s->is_slide() ? 1 : s->bytes();
  while (image_bytes_ > budget_.image_bytes || slides_ > budget_.slides) {
    // Evicts the least recently used source of the kind that is over its budget.
    const bool slides_over = slides_ > budget_.slides;
    for (auto it = std::prev(sources_.order.end());; --it) {
      if (it->second->is_slide() == slides_over) {
        if (slides_over) --slides_;
        else image_bytes_ -= it->second->bytes();
        sources_.at.erase(it->first);
        sources_.order.erase(it);
        break;
      }
      if (it == sources_.order.begin()) return;  // cannot happen: the over-budget kind is listed
    }
  }
}

Result<std::shared_ptr<const std::string>> DeepZoomCache::jpeg_tile(const FileStore& files, const std::string& sha256,
                                                                    const std::string& format, int level,
                                                                    std::int64_t column, std::int64_t row, bool is_slide,
                                                                    const std::string& filename) {
  const std::string key = fmt::format("{}/{}/{}_{}", sha256, level, column, row);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = tiles_.at.find(key); it != tiles_.at.end()) {
      tiles_.order.splice(tiles_.order.begin(), tiles_.order, it->second);
      ++tile_hits_;
      return it->second->second;
    }
    ++tile_misses_;
  }
  MS_ASSIGN_OR_RETURN(auto src, source(files, sha256, format, is_slide, filename));
  std::vector<std::uint8_t> jpeg;
  {
    DecodeSlots::Hold hold(tile_slots());
    MS_ASSIGN_OR_RETURN(auto bgr, src->tile(level, column, row));
    MS_ASSIGN_OR_RETURN(jpeg, encode_image(bgr, ".jpg", kTileQuality));
  }
  auto tile = std::make_shared<const std::string>(jpeg.begin(), jpeg.end());
  std::lock_guard<std::mutex> lock(mu_);
  if (tiles_.at.count(key)) return tile;
  keep_tile(key, tile);
  return tile;
}

void DeepZoomCache::keep_tile(const std::string& key, std::shared_ptr<const std::string> t) {
  if (t->size() > budget_.tile_bytes) return;
  tiles_.order.emplace_front(key, t);
  tiles_.at[key] = tiles_.order.begin();
  tile_bytes_ += t->size();
  while (tile_bytes_ > budget_.tile_bytes) {
    auto last = std::prev(tiles_.order.end());
    tile_bytes_ -= last->second->size();
    tiles_.at.erase(last->first);
    tiles_.order.erase(last);
  }
}

DeepZoomCache::Stats DeepZoomCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {sources_.order.size(), image_bytes_, tiles_.order.size(), tile_bytes_, tile_hits_, tile_misses_, source_loads_};
}

}  // namespace ms::server
