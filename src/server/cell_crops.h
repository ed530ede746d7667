#pragma once
// Cell crops for display and export, computed from the stored field image, the cell's box and the
// side of the square the classifier saw (store::Cell::crop_side, recorded at analysis time because
// the pipeline sizes crops from each field's red cells): the same pixels the classifier was given.
// Cells without a recorded side get the box grown by the default margin. Decoded fields are kept
// in an LRU cache bounded by bytes, so a gallery that asks for every crop of a field decodes the
// field once; a crop then costs a copy, a resize and a JPEG encode (about a millisecond).
// Computing on request instead of storing crops keeps analysis jobs and the database lean.
//
// Memory: the cache holds at most its byte budget of decoded pixels (a field larger than the
// budget is used and dropped, never cached); requests for a field that is being decoded wait for
// that decode instead of starting their own; and at most kConcurrentFieldDecodes fields are decoded
// at once per cache.
#include <condition_variable>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <opencv2/core.hpp>

#include "core/box.h"
#include "core/error.h"
#include "core/slide_reader.h"
#include "server/file_store.h"
#include "store/records.h"

namespace ms::server {

// The cell routes' cache and the exports' together hold at most 512 MiB of decoded fields.
inline constexpr std::size_t kCellCropCacheBytes = 384u << 20;
inline constexpr std::size_t kExportCropCacheBytes = 128u << 20;
inline constexpr int kConcurrentFieldDecodes = 2;
inline constexpr std::size_t kOpenSlides = 8;

class CellCrops {
 public:
  // margin: for cells without a recorded crop side (fraction of the box's longer side added on
  // each side). max_bytes: decoded pixels kept (a 2,000 x 2,000 field is 12 MB).
  CellCrops(const FileStore& files, float margin, std::size_t max_bytes = kCellCropCacheBytes);

  // The decoded field (BGR) of a stored image; shared, never modified.
  Result<std::shared_ptr<const cv::Mat>> field(const std::string& sha256);
  // The square BGR crop of `cell` in the field `sha256` as the classifier saw it (centred on the
  // box, crop_side pixels wide), or with the default margin when the side was not recorded.
  // `side` > 0 resizes it to side x side pixels (area interpolation when shrinking), 0 keeps the
  // natural size.
  // A slide's cells are read from the slide itself (the crop's square only, through OpenSlide);
  // a field's from the decoded field.
  Result<cv::Mat> crop(const store::Image& image, const store::Cell& cell, int side = 0);
  // The same, encoded as JPEG (quality 90).
  Result<std::string> crop_jpeg(const store::Image& image, const store::Cell& cell, int side = 0);
  float margin() const { return margin_; }
  // What the cache holds now: decoded bytes and fields.
  std::size_t cached_bytes() const;
  std::size_t cached_fields() const;

 private:
  using Decoded = Result<std::shared_ptr<const cv::Mat>>;
  struct Entry {
    std::shared_ptr<const cv::Mat> mat;
    std::size_t bytes = 0;
    std::list<std::string>::iterator order;
  };
  Decoded decode(const std::string& sha256);
  Result<cv::Mat> slide_square(const store::Image& image, const Box& box, float margin);
  Result<std::shared_ptr<const SlideReader>> slide(const store::Image& image);
  void insert_locked(const std::string& sha256, const std::shared_ptr<const cv::Mat>& mat);

  const FileStore& files_;
  float margin_;
  std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, Entry> cache_;
  std::size_t bytes_ = 0;
  std::unordered_map<std::string, std::shared_future<Decoded>> decoding_;  // in flight
  std::mutex decode_mu_;
  std::condition_variable decode_cv_;
  int decoding_now_ = 0;
  std::mutex slides_mu_;
  // Open slides by hash (an open slide is a few MB of OpenSlide's caches): at most kOpenSlides.
  std::unordered_map<std::string, std::shared_ptr<const SlideReader>> slides_;
};

// The margin for core/box.h crop_square whose square around `box` (xyxy pixels) is `crop_side`
// pixels wide: crop_square rounds longer side * (1 + 2 margin) to whole pixels, which gives back
// crop_side exactly. A box without extent keeps `fallback` (the pipeline does the same).
float margin_for_side(const Box& box, int crop_side, float fallback);

// Encodes BGR as JPEG bytes in a string (for HTTP bodies and ZIP entries).
Result<std::string> jpeg_bytes(const cv::Mat& bgr, int quality = 90);

}  // namespace ms::server
