#pragma once
// Every cell image decoded and resized once into memory (8-bit BGR, size x size). Decoding a
// 360 px JPEG costs more than a training step of a small model on one core, so training
// augments from this cache instead of re-reading files (6.5k PBC cells at 128 px: 320 MB).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "data/annotation.h"

namespace ms {

struct CellCache {
  int size = 0;                       // side of every image, pixels
  std::vector<std::string> classes;   // class id -> name
  std::vector<cv::Mat> images;        // CV_8UC3 BGR, size x size
  std::vector<int> labels;            // class id per image
  std::vector<std::string> paths;     // source file per image
  std::vector<std::string> skipped;   // "path: reason" for files that did not decode
};

// Decodes each cell (by content, core/image.h) and resizes it to size x size. Unreadable files
// are listed in `skipped`, not fatal; no readable image at all is an error naming the dataset.
// progress(done, total) is called now and then.
Result<CellCache> build_cell_cache(const CellDataset& ds, int size,
                                   const std::function<void(size_t, size_t)>& progress = {});

// Center crop of side `crop` from a square image (the evaluation view of a cached cell).
cv::Mat center_crop(const cv::Mat& img, int crop);

// Cache side used for a model input: the input is a crop of crop_fraction of the cached cell, as
// the usual resize-then-center-crop evaluation (0.875 in Szegedy et al. / torchvision).
int cache_side_for(int input_size, double crop_fraction);

}  // namespace ms
