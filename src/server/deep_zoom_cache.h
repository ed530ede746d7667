#pragma once
// Internal to src/server: what the deep-zoom (DZI) routes serve from. A stored image is opened
// once as a tile source — through OpenSlide when the file is a slide it reads (tiled pyramidal
// TIFF, .svs, ...), else decoded once into memory (an ordinary field) — and its encoded tiles are
// kept. Both are least-recently-used caches with fixed budgets, so memory stays bounded whatever
// is viewed: decoded fields by their pixel bytes, open slides by count, tiles by their bytes.
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <opencv2/core.hpp>

#include "core/deep_zoom.h"
#include "core/error.h"
#include "core/slide_reader.h"
#include "server/file_store.h"

namespace ms::server {

// One image as deep-zoom tiles. Immutable once made (tiles may be rendered from any thread).
class TileSource {
 public:
  static std::shared_ptr<const TileSource> of_slide(std::unique_ptr<SlideReader> slide);
  static std::shared_ptr<const TileSource> of_image(cv::Mat bgr);
  const DeepZoomLayout& layout() const { return layout_; }
  bool is_slide() const { return slide_ != nullptr; }
  // Memory the source holds (decoded pixels; an open slide counts as its handle only).
  std::size_t bytes() const { return image_.empty() ? 0 : image_.total() * image_.elemSize(); }
  // kNotFound for a level, column or row the layout lacks.
  Result<cv::Mat> tile(int level, std::int64_t column, std::int64_t row) const;

 private:
  DeepZoomLayout layout_;
  std::unique_ptr<SlideReader> slide_;
  cv::Mat image_;
};

class DeepZoomCache {
 public:
  struct Budget {
    std::size_t image_bytes = 512u << 20;  // decoded fields held at once
    std::size_t slides = 16;               // open OpenSlide handles
    std::size_t tile_bytes = 64u << 20;    // encoded tiles
  };
  DeepZoomCache() = default;
  explicit DeepZoomCache(Budget b) : budget_(b) {}

  // The tile source of the stored file `sha256` (format as recorded at upload: "TIFF" files are
  // tried as slides first). A source larger than the whole image budget is served but not kept.
  // A slide (store::ImageKind::kSlide) is only ever read through OpenSlide, never decoded whole;
  // `filename` (as uploaded) gives OpenSlide the extension some formats need.
  Result<std::shared_ptr<const TileSource>> source(const FileStore& files, const std::string& sha256,
                                                  const std::string& format, bool slide = false,
                                                  const std::string& filename = "");
  // The JPEG tile (level, column, row) of the stored file, encoded once and kept.
  Result<std::shared_ptr<const std::string>> jpeg_tile(const FileStore& files, const std::string& sha256,
                                                       const std::string& format, int level, std::int64_t column,
                                                       std::int64_t row, bool slide = false,
                                                       const std::string& filename = "");

  struct Stats {
    std::size_t sources = 0, image_bytes = 0, tiles = 0, tile_bytes = 0;
    std::uint64_t tile_hits = 0, tile_misses = 0, source_loads = 0;
  };
  Stats stats() const;

 private:
  template <typename V>
  struct Lru {
    std::list<std::pair<std::string, V>> order;  // most recent first
    std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> at;
  };
  void keep_source(const std::string& key, std::shared_ptr<const TileSource> s);  // mu_ held
  void keep_tile(const std::string& key, std::shared_ptr<const std::string> t);   // mu_ held

  Budget budget_;
  mutable std::mutex mu_;
  Lru<std::shared_ptr<const TileSource>> sources_;
  Lru<std::shared_ptr<const std::string>> tiles_;
  std::size_t image_bytes_ = 0, slides_ = 0, tile_bytes_ = 0;
  std::uint64_t tile_hits_ = 0, tile_misses_ = 0, source_loads_ = 0;
};

}  // namespace ms::server
