#pragma once
// Cell crops for display and export, computed from the stored field image and the cell's box
// (core/box.h crop_square with the pipeline's margin, i.e. the crop the classifier saw). Decoded
// fields are kept in a small LRU cache, so a gallery that asks for every crop of a field decodes
// the field once; a crop then costs a copy, a resize and a JPEG encode (about a millisecond).
// Computing on request instead of storing crops keeps analysis jobs and the database lean, and a
// change of crop margin needs no migration.
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <opencv2/core.hpp>

#include "core/box.h"
#include "core/error.h"
#include "server/file_store.h"

namespace ms::server {

class CellCrops {
 public:
  // capacity: decoded fields kept (a 2,000 x 2,000 field is 12 MB).
  CellCrops(const FileStore& files, float margin, std::size_t capacity = 16);

  // The decoded field (BGR) of a stored image; shared, never modified.
  Result<std::shared_ptr<const cv::Mat>> field(const std::string& sha256);
  // box: xyxy, pixels of the field. Square BGR crop around it; `side` > 0 resizes it to side x
  // side pixels (area interpolation when shrinking), 0 keeps the natural size.
  Result<cv::Mat> crop(const std::string& sha256, const Box& box, int side = 0);
  // The same, encoded as JPEG (quality 90).
  Result<std::string> crop_jpeg(const std::string& sha256, const Box& box, int side = 0);
  float margin() const { return margin_; }

 private:
  const FileStore& files_;
  float margin_;
  std::size_t capacity_;
  std::mutex mu_;
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, std::pair<std::shared_ptr<const cv::Mat>, std::list<std::string>::iterator>> cache_;
};

// Encodes BGR as JPEG bytes in a string (for HTTP bodies and ZIP entries).
Result<std::string> jpeg_bytes(const cv::Mat& bgr, int quality = 90);

}  // namespace ms::server
