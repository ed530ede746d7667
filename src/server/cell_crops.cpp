#include "server/cell_crops.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "store/database.h"  // MS_ASSIGN_OR_RETURN

namespace ms::server {

CellCrops::CellCrops(const FileStore& files, float margin, std::size_t max_bytes)
    : files_(files), margin_(margin), max_bytes_(max_bytes) {}

std::size_t CellCrops::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::size_t CellCrops::cached_fields() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

CellCrops::Decoded CellCrops::decode(const std::string& sha256) {
  {
    std::unique_lock<std::mutex> lock(decode_mu_);
    decode_cv_.wait(lock, [this] { return decoding_now_ < kConcurrentFieldDecodes; });
    ++decoding_now_;
  }
  struct Done {
    CellCrops& c;
    ~Done() {
      {
        std::lock_guard<std::mutex> lock(c.decode_mu_);
        --c.decoding_now_;
      }
      c.decode_cv_.notify_one();
    }
  } done{*this};
  MS_ASSIGN_OR_RETURN(auto path, files_.path_of(sha256));
  MS_ASSIGN_OR_RETURN(auto mat, read_image(path));
  return std::shared_ptr<const cv::Mat>(std::make_shared<const cv::Mat>(std::move(mat)));
}

void CellCrops::insert_locked(const std::string& sha256, const std::shared_ptr<const cv::Mat>& mat) {
  const std::size_t bytes = mat->total() * mat->elemSize();
  if (bytes > max_bytes_ || cache_.count(sha256)) return;  // too large to keep: used once, dropped
  order_.push_front(sha256);
  cache_.emplace(sha256, Entry{mat, bytes, order_.begin()});
  bytes_ += bytes;
  while (bytes_ > max_bytes_ && !order_.empty()) {
    auto victim = cache_.find(order_.back());
    bytes_ -= victim->second.bytes;
    cache_.erase(victim);
    order_.pop_back();
  }
}

Result<std::shared_ptr<const cv::Mat>> CellCrops::field(const std::string& sha256) {
  std::promise<Decoded> promise;
  std::shared_future<Decoded> pending;
  bool mine = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(sha256);
    if (it != cache_.end()) {
      order_.splice(order_.begin(), order_, it->second.order);
      return it->second.mat;
    }
    // One decode per field: a gallery's parallel crop requests for a new field wait for the
    // first one's decode instead of each decoding the field again.
    auto flying = decoding_.find(sha256);
    if (flying != decoding_.end()) {
      pending = flying->second;
    } else {
      pending = promise.get_future().share();
      decoding_.emplace(sha256, pending);
      mine = true;
    }
  }
  if (!mine) return pending.get();
  Decoded result = fail(ErrorCode::kInternal, "field " + sha256 + " was not decoded");
  try {
    result = decode(sha256);
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      decoding_.erase(sha256);
    }
    promise.set_exception(std::current_exception());
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    decoding_.erase(sha256);
    if (result) insert_locked(sha256, *result);
  }
  promise.set_value(result);
  return result;
}

float margin_for_side(const Box& box, int crop_side, float fallback) {
  const float longer = std::max(box.width(), box.height());
  if (crop_side <= 0 || !(longer > 0.f)) return fallback;
  return 0.5f * (static_cast<float>(crop_side) / longer - 1.f);
}

Result<std::shared_ptr<const SlideReader>> CellCrops::slide(const store::Image& image) {
  {
    std::lock_guard<std::mutex> lock(slides_mu_);
    if (auto it = slides_.find(image.sha256); it != slides_.end()) return it->second;
  }
  MS_ASSIGN_OR_RETURN(auto path, files_.slide_path(image.sha256, image.filename));
  MS_ASSIGN_OR_RETURN(auto opened, SlideReader::open(path));
  std::shared_ptr<const SlideReader> shared(std::move(opened));
  std::lock_guard<std::mutex> lock(slides_mu_);
  if (slides_.size() >= kOpenSlides) slides_.clear();  // rare: a gallery shows one sample's slides
  slides_.emplace(image.sha256, shared);
  return shared;
}

// The crop's square read from the slide: the same square crop_square cuts from a field.
Result<cv::Mat> CellCrops::slide_square(const store::Image& image, const Box& box, float margin) {
  MS_ASSIGN_OR_RETURN(auto s, slide(image));
  const int side = crop_square_side(box, margin);
  const auto x0 = static_cast<std::int64_t>(std::round(box.cx() - side / 2.f));
  const auto y0 = static_cast<std::int64_t>(std::round(box.cy() - side / 2.f));
  return s->read_region(0, x0, y0, side, side);
}

Result<cv::Mat> CellCrops::crop(const store::Image& image, const store::Cell& cell, int side) {
  const Box box{static_cast<float>(cell.x1), static_cast<float>(cell.y1), static_cast<float>(cell.x2),
                static_cast<float>(cell.y2)};
  // The side comes from the pipeline, never from a request; the bound only keeps a damaged row
  // from asking for gigabytes (real crops are a fraction of the field; a slide's read is refused
  // above SlideReader::kMaxReadPixels).
  const std::int64_t most = 4LL * std::max(image.width, image.height);
  const int crop_side = static_cast<int>(std::clamp<std::int64_t>(cell.crop_side.value_or(0), 0, most));
  cv::Mat out;
  if (image.kind == store::ImageKind::kSlide) {
    MS_ASSIGN_OR_RETURN(out, slide_square(image, box, margin_for_side(box, crop_side, margin_)));
  } else {
    MS_ASSIGN_OR_RETURN(auto f, field(image.sha256));
    out = crop_square(*f, box, margin_for_side(box, crop_side, margin_));
  }
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

Result<std::string> CellCrops::crop_jpeg(const store::Image& image, const store::Cell& cell, int side) {
  MS_ASSIGN_OR_RETURN(auto mat, crop(image, cell, side));
  return jpeg_bytes(mat);
}

Result<std::string> jpeg_bytes(const cv::Mat& bgr, int quality) {
  MS_ASSIGN_OR_RETURN(auto bytes, encode_image(bgr, ".jpg", quality));
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace ms::server
