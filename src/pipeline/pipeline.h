#pragma once
// field image -> detect nucleated cells -> square crops with margin -> classify in batches -> per
// cell results. Models are loaded once and shared; analyze_files() decodes ahead on its own
// thread so decoding overlaps inference. Used by `marrowscope analyze` and by the server's jobs.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "core/image.h"
#include "pipeline/cell_image_scale.h"
#include "pipeline/cell_result.h"
#include "pipeline/pipeline_options.h"

namespace ms {

class DetectorPredictor;
class ClassifierPredictor;

struct ModelVersions {
  std::string detector;
  std::string classifier;
};

// Where the time goes, summed over calls since construction or reset_timings() (seconds of wall
// time on the calling thread; decode runs on analyze_files' reader thread, overlapping the rest).
struct PipelineTimings {
  double decode_s = 0;    // read + decode files (analyze_files only)
  double detect_s = 0;    // detector: letterbox, forward, post-process (tiles included)
  double crop_s = 0;      // square crops with margin
  double classify_s = 0;  // classifier: resize, normalise, forward, softmax, top-k
  size_t fields = 0, cells = 0;
  size_t detector_calls = 0, classifier_calls = 0;  // forward passes
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

  // Analyses decoded fields (8-bit BGR; grey and BGRA are converted). names label the results.
  // Fields are batched for detection and all their crops batched for classification. A field
  // that is empty or not 8-bit comes back with `error` set.
  // um_per_px: the fields' declared scale (micrometres per pixel), used for a field whose red
  // cells are too few to measure; 0: none (such a field's crops are the box and a margin).
  std::vector<FieldResult> analyze(const std::vector<cv::Mat>& fields,
                                   const std::vector<std::string>& names, double um_per_px = 0);
  FieldResult analyze(const cv::Mat& field, const std::string& name, double um_per_px = 0);

  // Reads, decodes and analyses files, decoding on a second thread while the models run, on
  // analysis_streams() streams side by side (each with its share of the intra-op threads).
  // on_result is called once per path, in order (unreadable files come back with `error` set,
  // naming the file). The second form also passes the decoded BGR field (empty for errors), so
  // side outputs (crops, drawings) need not decode the file again.
  void analyze_files(const std::vector<std::string>& paths,
                     const std::function<void(FieldResult&&)>& on_result,
                     const ImageLimits& limits = {});
  void analyze_files(const std::vector<std::string>& paths,
                     const std::function<void(FieldResult&&, const cv::Mat& field)>& on_result,
                     const ImageLimits& limits = {});

  // Classifies single-cell crops without detection (the thesis's recognition module).
  std::vector<CellResult> classify_crops(const std::vector<cv::Mat>& crops);
  // Single-cell images of any magnification and framing, framed as the field pipeline frames its
  // crops (pipeline/cell_image_scale.h) and then classified; `framing` (optional) says how each
  // was framed. Images must be 8-bit BGR.
  std::vector<FramedCell> frame_cell_images(const std::vector<cv::Mat>& images, const CellImageScale& scale);
  std::vector<CellResult> classify_cell_images(const std::vector<cv::Mat>& images, const CellImageScale& scale,
                                               std::vector<FramedCell>* framing = nullptr);

  // Crops a cell for display or export exactly as the classifier saw it: square, centred on the
  // box, crop_rbc_sides * rbc_side pixels wide when rbc_side > 0 (FieldResult::rbc_side), else
  // the box grown by crop_margin. box: xyxy, pixels of field.
  cv::Mat crop(const cv::Mat& field, const Box& box, float rbc_side = 0.f) const;
  // The side in pixels of that crop (crop(...).cols), without the image.
  int crop_side(const Box& box, float rbc_side = 0.f) const;

  ModelVersions versions() const;
  const std::vector<std::string>& cell_classes() const;  // classifier class names
  const PipelineOptions& options() const { return options_; }
  // Sums over every stream (with streams > 1, each stage's seconds are added across threads).
  const PipelineTimings& timings() const { return timings_; }
  void reset_timings() { timings_ = {}; }

 private:
  struct DetectedCell {
    size_t field;
    CellResult result;
  };
  // Cells per field, and each field's median red-cell side (0 when too few red cells).
  std::vector<std::vector<CellResult>> detect_cells(const std::vector<cv::Mat>& fields,
                                                    std::vector<float>& rbc_sides);
  std::vector<CellResult> detect_tiled(const cv::Mat& field);
  void classify_into(const std::vector<cv::Mat>& crops, std::vector<CellResult*>& cells);

  std::shared_ptr<DetectorPredictor> detector_;
  std::shared_ptr<ClassifierPredictor> classifier_;
  PipelineOptions options_;
  std::vector<int> cell_class_ids_;  // detector class ids that are nucleated cells
  int scale_class_id_ = -1;          // detector class id of the red-cell ruler, -1: none
  template <class F>
  void count(F&& f) {
    std::lock_guard<std::mutex> lock(timings_mu_);
    f(timings_);
  }

  PipelineTimings timings_;
  std::mutex timings_mu_;  // analyze() runs on several streams at once in analyze_files
};

// Streams analyze_files runs side by side: `option` when positive (at most kMaxAnalysisStreams),
// else 2 when there are at least 2 threads; never more than there are fields.
inline constexpr int kMaxAnalysisStreams = 16;
int analysis_streams(int option, int threads, size_t fields);

}  // namespace ms
