#pragma once
// Inference with a shipped cell classifier (the pipeline and the server call this). Torch-free
// header (pimpl): callers need not parse LibTorch headers.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "models/runtime.h"

namespace at {
class Tensor;  // the activations a calibration visitor sees (LibTorch stays in the .cpp)
}  // namespace at

namespace ms {

struct ClassPrediction {
  int class_id = -1;            // arg-max class
  float probability = 0.f;      // its softmax probability
  std::vector<float> probs;     // [C] softmax over the model's classes
  float entropy = 0.f;          // -sum p log p, nats (0 = certain, log C = uniform)
  // How unlike the training cells the cell looks (engine/classifier/atypical.h): the share of
  // the training lab's held-out cells that look more typical, in [0,1]; -1 when the model folder
  // has no atypical reference.
  float atypical = -1.f;
};

class ClassifierPredictor {
 public:
  // model_dir: a folder with model.json + model.pt (engine/classifier/classifier_model_file.h).
  // device: "cpu" or "cuda[:N]". precision: what to ask for instead of MARROWSCOPE_PRECISION
  // (a calibration loads in fp32 whatever the process runs in).
  static Result<std::unique_ptr<ClassifierPredictor>> load(const std::string& model_dir,
                                                          const std::string& device = "cpu",
                                                          std::optional<Precision> precision = std::nullopt);
  ~ClassifierPredictor();

  const std::vector<std::string>& classes() const;
  std::string version() const;
  int input_size() const;
  // Dihedral views averaged per crop (models/classifier/test_time_views.h); model.json's
  // test_time_views unless overridden. set_test_time_views throws kInvalidArgument unless 1/2/4/8.
  int test_time_views() const;
  void set_test_time_views(int views);

  // crops_bgr: single-cell crops, CV_8UC3 BGR, any size (resized to the model's cache size and
  // center-cropped to input_size, as in validation), averaged over test_time_views() views. One
  // prediction per crop, in order; run in batches of up to 64. An empty or non-BGR crop throws MarrowError(kInvalidArgument).
  std::vector<ClassPrediction> classify(const std::vector<cv::Mat>& crops_bgr);
  // The features the atypical score is measured on: per crop, the embedding before the linear
  // head, averaged over the same views and preprocessed exactly as classify().
  std::vector<std::vector<float>> embed(const std::vector<cv::Mat>& crops_bgr);
  // True when the folder has an atypical reference (atypical.json), so predictions carry a score.
  bool has_atypical() const;
  // The number format CPU inference runs in (models/runtime.h): "int8" where MARROWSCOPE_PRECISION
  // asks for it and the folder has a calibration (int8.json) that this CPU can use, else "bf16" or "fp32".
  std::string precision() const;
  // Runs the network in float32 on these crops (preprocessed as classify() does, in each of its
  // test-time views) and calls visit(point, values) at every point its int8 path stores a tensor:
  // what calibrate-int8 measures int8.json's ranges with. Fails (kUnsupportedFormat) for a network
  // without an int8 path.
  using ActivationVisitor = std::function<void(size_t point, const at::Tensor& values)>;
  Status observe_int8_activations(const std::vector<cv::Mat>& crops_bgr, const ActivationVisitor& visit);

  struct Impl;
  Impl& impl() { return *impl_; }  // for `explain` and evaluation (engine-internal)

 private:
  explicit ClassifierPredictor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ms
