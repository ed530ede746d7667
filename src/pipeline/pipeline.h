#pragma once
// field image -> detect nucleated cells -> square crops with margin -> classify in batches -> per
// cell results. Models are loaded once and shared; analyze_files() decodes ahead on its own
// thread so decoding overlaps inference. Used by `marrowscope analyze` and by the server's jobs.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "core/image.h"
#include "pipeline/cell_result.h"
#include "pipeline/pipeline_options.h"

namespace ms {

class DetectorPredictor;
class ClassifierPredictor;

struct ModelVersions {
  std::string detector;
  std::string classifier;
};

class Pipeline {
 public:
  Pipeline(std::shared_ptr<DetectorPredictor> detector,
           std::shared_ptr<ClassifierPredictor> classifier, PipelineOptions options = {});
  // Loads both model folders (each self-describing: model.pt + model.json).
  static Result<std::unique_ptr<Pipeline>> load(const std::string& detector_dir,
                                                const std::string& classifier_dir,
                                                PipelineOptions options = {},
                                                const std::string& device = "cpu");

  // Analyses decoded fields (BGR). names label the results. Fields are batched for detection
  // and all their crops batched for classification.
  std::vector<FieldResult> analyze(const std::vector<cv::Mat>& fields,
                                   const std::vector<std::string>& names);
  FieldResult analyze(const cv::Mat& field, const std::string& name);

  // Reads, decodes and analyses files in order, decoding on a second thread while the models run.
  // on_result is called once per path, in order (unreadable files come back with `error` set).
  void analyze_files(const std::vector<std::string>& paths,
                     const std::function<void(FieldResult&&)>& on_result,
                     const ImageLimits& limits = {});

  // Classifies single-cell crops without detection (the thesis's recognition module).
  std::vector<CellResult> classify_crops(const std::vector<cv::Mat>& crops);

  // Crops a cell for display or export exactly as the classifier saw it.
  cv::Mat crop(const cv::Mat& field, const Box& box) const;

  ModelVersions versions() const;
  const std::vector<std::string>& cell_classes() const;  // classifier class names
  const PipelineOptions& options() const { return options_; }

 private:
  struct DetectedCell {
    size_t field;
    CellResult result;
  };
  std::vector<std::vector<CellResult>> detect_cells(const std::vector<cv::Mat>& fields);
  std::vector<CellResult> detect_tiled(const cv::Mat& field);
  void classify_into(const std::vector<cv::Mat>& crops, std::vector<CellResult*>& cells);

  std::shared_ptr<DetectorPredictor> detector_;
  std::shared_ptr<ClassifierPredictor> classifier_;
  PipelineOptions options_;
  std::vector<int> cell_class_ids_;  // detector class ids that are nucleated cells
};

}  // namespace ms
