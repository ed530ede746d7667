#pragma once
// Internals of ClassifierPredictor shared with `explain` and `eval-classifier` (they need the
// network and its attention maps). Includes LibTorch; keep it out of torch-free headers.
#include <memory>
#include <string>
#include <vector>

#include <optional>

#include "engine/classifier/atypical.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/predict/classifier_predictor.h"
#include "models/runtime.h"

namespace ms {

struct ClassifierPredictor::Impl {
  ClassifierModelInfo info;
  std::shared_ptr<ClassifierNetImpl> net;
  std::string device = "cpu";
  Precision precision = Precision::kFp32;  // of CPU inference (models/runtime.h)
  int cache_side = 0;  // crops are resized to this, then center-cropped to input_size
  std::optional<AtypicalScorer> atypical;  // from atypical.json when the folder has one

  // crops: BGR any size -> [B,3,S,S] float on `device`, preprocessed exactly as validation.
  at::Tensor preprocess(const std::vector<cv::Mat>& crops) const;
};

}  // namespace ms
