#include "engine/classifier/cell_cache.h"

#include <cmath>

#include "core/image.h"
#include "engine/train/image_tensor.h"

namespace ms {

Result<CellCache> build_cell_cache(const CellDataset& ds, int size,
                                   const std::function<void(size_t, size_t)>& progress) {
  if (size < 8) return fail(ErrorCode::kInvalidArgument, "cache size", ">= 8 px", std::to_string(size));
  CellCache cache;
  cache.size = size;
  cache.classes = ds.classes;
  const size_t n = ds.cells.size();
  cache.images.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& cell = ds.cells[i];
    auto img = read_image(cell.image_path);
    if (!img) {
      cache.skipped.push_back(cell.image_path + ": " + img.error().message);
    } else {
      cache.images.push_back(resize_square(*img, size).clone());
      cache.labels.push_back(cell.class_id);
      cache.paths.push_back(cell.image_path);
    }
    if (progress && (i % 256 == 0 || i + 1 == n)) progress(i + 1, n);
  }
  if (cache.images.empty())
    return fail(ErrorCode::kInvalidArgument, "cell dataset", "at least one readable image",
                std::to_string(n) + " files, none decodable");
  return cache;
}

cv::Mat center_crop(const cv::Mat& img, int crop) {
  if (img.cols == crop && img.rows == crop) return img;
  const int x = std::max(0, (img.cols - crop) / 2), y = std::max(0, (img.rows - crop) / 2);
  return img(cv::Rect(x, y, std::min(crop, img.cols), std::min(crop, img.rows)));
}

int cache_side_for(int input_size, double crop_fraction) {
  if (crop_fraction <= 0 || crop_fraction > 1) crop_fraction = 1;
  return static_cast<int>(std::lround(input_size / crop_fraction));
}

}  // namespace ms
