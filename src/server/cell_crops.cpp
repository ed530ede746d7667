#include "server/cell_crops.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "store/database.h"  // MS_ASSIGN_OR_RETURN

namespace ms::server {

CellCrops::CellCrops(const FileStore& files, float margin, std::size_t capacity)
    : files_(files), margin_(margin), capacity_(std::max<std::size_t>(1, capacity)) {}

Result<std::shared_ptr<const cv::Mat>> CellCrops::field(const std::string& sha256) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(sha256);
    if (it != cache_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
  }
  // Decode outside the lock: two requests for one new field may both decode it; the second
  // insert is dropped. That is cheaper than making every other field wait.
  MS_ASSIGN_OR_RETURN(auto path, files_.path_of(sha256));
  MS_ASSIGN_OR_RETURN(auto mat, read_image(path));
  auto shared = std::make_shared<const cv::Mat>(std::move(mat));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(sha256);
  if (it != cache_.end()) return it->second.first;
  order_.push_front(sha256);
  cache_.emplace(sha256, std::make_pair(shared, order_.begin()));
  while (cache_.size() > capacity_) {
    cache_.erase(order_.back());
    order_.pop_back();
  }
  return std::shared_ptr<const cv::Mat>(shared);
}

float margin_for_side(const Box& box, int crop_side, float fallback) {
  const float longer = std::max(box.width(), box.height());
  if (crop_side <= 0 || !(longer > 0.f)) return fallback;
  return 0.5f * (static_cast<float>(crop_side) / longer - 1.f);
}

Result<cv::Mat> CellCrops::crop(const std::string& sha256, const store::Cell& cell, int side) {
  MS_ASSIGN_OR_RETURN(auto f, field(sha256));
  const Box box{static_cast<float>(cell.x1), static_cast<float>(cell.y1), static_cast<float>(cell.x2),
                static_cast<float>(cell.y2)};
  // The side comes from the pipeline, never from a request; the bound only keeps a damaged row
  // from asking for gigabytes (real crops are a fraction of the field).
  const std::int64_t most = 4LL * std::max(f->cols, f->rows);
  const int crop_side = static_cast<int>(std::clamp<std::int64_t>(cell.crop_side.value_or(0), 0, most));
  cv::Mat out = crop_square(*f, box, margin_for_side(box, crop_side, margin_));
  if (out.empty())
    return fail(ErrorCode::kInvalidArgument, "cell box", "a box inside the field",
                "[" + std::to_string(box.x1) + ", " + std::to_string(box.y1) + ", " +
                    std::to_string(box.x2) + ", " + std::to_string(box.y2) + "]");
  if (side > 0 && (out.cols != side || out.rows != side)) {
    cv::Mat resized;
    cv::resize(out, resized, cv::Size(side, side), 0, 0, side < out.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
    out = resized;
  }
  return out;
}

Result<std::string> CellCrops::crop_jpeg(const std::string& sha256, const store::Cell& cell, int side) {
  MS_ASSIGN_OR_RETURN(auto mat, crop(sha256, cell, side));
  return jpeg_bytes(mat);
}

Result<std::string> jpeg_bytes(const cv::Mat& bgr, int quality) {
  MS_ASSIGN_OR_RETURN(auto bytes, encode_image(bgr, ".jpg", quality));
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace ms::server
