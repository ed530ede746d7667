#pragma once
// cv::Mat (8-bit BGR, OpenCV's order) -> normalised float RGB tensors, the one conversion every
// trainer, evaluator and predictor uses, so training and inference cannot drift apart.
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "engine/train/stain_standardise.h"

namespace ms {

// Per-channel normalisation in RGB order on [0,1] pixel values: (x/255 - mean) / std, after the
// stain standardisation when the model was trained with one.
struct Normalization {
  std::vector<float> mean{0.5f, 0.5f, 0.5f};
  std::vector<float> std{0.25f, 0.25f, 0.25f};
  std::optional<StainStandardisation> stain;
  template <class V>
  void visit(V& v) {
    v("mean", mean); v("std", std); v("stain_standardisation", stain);
  }
};

// Resizes to size x size (area interpolation when shrinking, linear when growing) without
// keeping the aspect ratio (cell crops are near-square).
cv::Mat resize_square(const cv::Mat& bgr, int size);

// Writes one size x size CV_8UC3 BGR image into dst, laid out [3,size,size] RGB, normalised.
void bgr_to_chw(const cv::Mat& bgr, const Normalization& n, float* dst);

// crops: N images CV_8UC3 BGR of any size -> [N,3,size,size] float32, RGB, normalised.
at::Tensor bgr_batch_to_tensor(const std::vector<cv::Mat>& crops, int size, const Normalization& n);

// Mean and std per RGB channel over images (CV_8UC3 BGR), on [0,1] values.
Normalization measure_normalization(const std::vector<cv::Mat>& images);

}  // namespace ms
