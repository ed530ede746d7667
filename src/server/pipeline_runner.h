#pragma once
// The analysis runner `marrowscope serve` uses: the detection + classification pipeline
// (src/pipeline) behind store::AnalysisRunner, and the recognition module (single-cell crops)
// behind CellRecognizer. One Pipeline is shared by every worker thread; its models are
// thread-compatible (one caller at a time), so inference is serialised by a mutex while decoding
// and result conversion run in parallel. LibTorch stays behind ms::Pipeline's own pimpl.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/image.h"
#include "pipeline/pipeline_options.h"
#include "server/cell_recognizer.h"
#include "server/classifier_host.h"
#include "store/analysis_runner.h"

namespace ms {
class Pipeline;
}

namespace ms::server {

class PipelineRunner : public store::AnalysisRunner, public CellRecognizer, public ClassifierHost {
 public:
  // Loads both model folders (model.pt + model.json each). Errors name the folder and what is
  // wrong, so `serve` can refuse to start with a clear message.
  static Result<std::shared_ptr<PipelineRunner>> load(const std::string& detector_dir,
                                                      const std::string& classifier_dir,
                                                      PipelineOptions options = {},
                                                      const std::string& device = "cpu");
  PipelineRunner(std::shared_ptr<Pipeline> pipeline, std::vector<store::ModelInfo> models);
  ~PipelineRunner() override;

  std::string name() const override;
  std::vector<store::ModelInfo> models() const override;
  // Reads the stored field (ImageLimits defaults), detects, crops and classifies. Undecodable
  // files are input errors that fail the job with the decoder's message.
  Result<store::AnalysisOutput> analyse(const store::AnalysisInput& input,
                                        const std::function<void(double)>& progress) override;

  Result<std::vector<store::AnalysedCell>> classify_crops(const std::vector<cv::Mat>& crops_bgr) override;
  Result<std::vector<store::AnalysedCell>> classify_cell_images(const std::vector<cv::Mat>& images_bgr,
                                                                const CellImageScale& scale,
                                                                std::vector<Framing>& framing) override;
  std::vector<std::string> classes() const override;
  std::string classifier_version() const override;

  std::string classifier_dir() const override;
  std::string startup_classifier_dir() const override;
  store::ModelInfo classifier_model() const override;
  Status use_classifier(const std::string& dir) override;

 private:
  // An area of a slide, read and analysed chunk by chunk (pipeline/slide_analysis.h).
  Result<store::AnalysisOutput> analyse_area(const store::AnalysisInput& input,
                                             const std::function<void(double)>& progress);
  std::shared_ptr<Pipeline> current() const;

  // The pipeline and its model records are swapped whole under state_ (use_classifier);
  // callers take a reference first, so an analysis finishes on the models it started with.
  mutable std::mutex state_;
  std::shared_ptr<Pipeline> pipeline_;
  std::vector<store::ModelInfo> models_;
  // How load() built it, so that another classifier can be loaded beside the same detector.
  std::string detector_dir_, classifier_dir_, startup_classifier_dir_, device_;
  PipelineOptions options_;
  std::mutex inference_;
};

// What the runner records for one model folder: kind, folder name, version from model.json, the
// SHA-256 of model.pt, and model.json's scalar metrics. Errors name the folder.
Result<store::ModelInfo> describe_model(const std::string& kind, const std::string& dir,
                                        const std::string& version);

}  // namespace ms::server
