#pragma once
// The detector as the pipeline and the server call it: load a model folder once, then detect
// cells in batches of field images. LibTorch stays behind the pimpl; this header pulls in only
// OpenCV core and the Detection record (models/detector/postprocess.h).
//
//   auto det = DetectorPredictor::load("models/detector");
//   if (!det) ...;                                    // error names the folder and what is wrong
//   auto per_image = (*det)->detect({field1, field2});  // boxes in each field's own pixels
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "models/detector/postprocess.h"
#include "models/runtime.h"

namespace at {
class Tensor;  // the activations a calibration visitor sees (LibTorch stays in the .cpp)
}  // namespace at

namespace ms {

class DetectorPredictor {
 public:
  // model_dir holds model.pt + model.json (engine/detector/detector_model_file.h). device: "cpu"
  // or "cuda[:N]" when this LibTorch build has CUDA. precision: what to ask for instead of
  // MARROWSCOPE_PRECISION (a calibration loads in fp32 whatever the process runs in).
  static Result<std::unique_ptr<DetectorPredictor>> load(const std::string& model_dir,
                                                        const std::string& device = "cpu",
                                                        std::optional<Precision> precision = std::nullopt);
  ~DetectorPredictor();
  DetectorPredictor(const DetectorPredictor&) = delete;
  DetectorPredictor& operator=(const DetectorPredictor&) = delete;

  const std::vector<std::string>& classes() const;
  std::string version() const;
  int input_size() const;
  const std::string& model_dir() const;

  // fields_bgr: 8-bit BGR images of any size (grey and BGRA are converted; empty or other
  // types give no detections). Returns, per
  // image, detections sorted by decreasing score; box xyxy in that image's pixels, class_id
  // indexing classes(). Thread-compatible (one caller at a time).
  std::vector<std::vector<Detection>> detect(const std::vector<cv::Mat>& fields_bgr);

  // The number format CPU inference runs in (models/runtime.h): "int8" (the backbone; neck and
  // head as bf16) where MARROWSCOPE_PRECISION asks for it and the folder has a calibration
  // (int8.json) this CPU can use, else "bf16" or "fp32".
  std::string precision() const;
  // Runs the backbone in float32 on these fields (letterboxed as detect() does) and calls
  // visit(point, values) at every point its int8 path stores a tensor: what calibrate-int8
  // measures int8.json's ranges with.
  using ActivationVisitor = std::function<void(size_t point, const at::Tensor& values)>;
  Status observe_int8_activations(const std::vector<cv::Mat>& fields_bgr, const ActivationVisitor& visit);

 private:
  struct Impl;
  explicit DetectorPredictor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The shipped detector's folder: $MARROWSCOPE_MODELS/detector when set, else
// <directory of the running binary>/../models/detector, else ./models/detector.
std::string default_detector_dir();

}  // namespace ms
