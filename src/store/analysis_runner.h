#pragma once
// What an analysis job runs: one field image in, the cells found in it out. The detection and
// classification pipeline implements this interface; the job queue only stores what it returns,
// so the queue, its durability and its tests do not depend on LibTorch or on trained models.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/box.h"
#include "core/error.h"

namespace ms::store {

struct AnalysisInput {
  std::int64_t job_id = 0, image_id = 0, sample_id = 0;
  std::string image_path;  // absolute path of the original in the content-addressed store
  std::string sha256;      // of the image bytes
  std::string specimen;    // "bone_marrow" | "peripheral_blood"
  double um_per_px = 0;    // the slide's or the sample's declared scale; 0: none (red cells only)
  // An area of a slide (level-0 pixels): the image is a whole-slide file read tile by tile, and
  // the cells' boxes are in slide pixels. Absent: the image is a field, analysed whole.
  struct Region {
    std::int64_t x = 0, y = 0, w = 0, h = 0;
  };
  std::optional<Region> region;
};

struct AnalysedCell {
  Box box;                 // xyxy, pixels of the field image
  float det_score = 0.f;   // detector confidence in [0,1]
  std::string cell_class;  // the classifier's suggestion
  float probability = 0.f; // its softmax probability
  std::vector<std::pair<std::string, float>> top_k;  // best first, probabilities
  float entropy = 0.f;     // nats, of the full class distribution
  bool flagged = false;    // needs attention (low confidence / high entropy)
  // Side, in pixels of the field, of the square crop the classifier saw (centred on the box,
  // core/box.h crop_square). The pipeline sizes it from the field's red cells, so it cannot be
  // recomputed from the box alone; the server's crops reproduce it from this. 0: not recorded
  // (crops then use the pipeline's default crop_margin around the box).
  int crop_side = 0;
  float atypical = -1.f;    // engine/classifier/atypical.h share in [0,1]; -1: not measured
  std::string flag_reason;  // why flagged (pipeline/cell_result.h flag_reason); empty: not flagged
};

struct AnalysisOutput {
  std::vector<AnalysedCell> cells;
  std::string detector_version, classifier_version;
};

// A model the runner uses, recorded in model_versions when the server starts.
struct ModelInfo {
  std::string kind;     // "detector" | "classifier"
  std::string name;     // model family (the model card's name or folder)
  std::string version;  // as written on each cell (detector_version / classifier_version)
  std::string sha256;   // of the weights file
  std::string metrics_json = "{}";  // headline validation metrics from the model card
};

class AnalysisRunner {
 public:
  virtual ~AnalysisRunner() = default;
  // Names the models in logs and on /api/health.
  virtual std::string name() const = 0;
  // The models in use (none for runners that are not models, such as test doubles).
  virtual std::vector<ModelInfo> models() const { return {}; }
  // Must be safe to call from several worker threads at once. `progress` takes a fraction in
  // [0,1]; it throws to stop the analysis of a job that was cancelled or taken over meanwhile,
  // so a runner must let exceptions through it cleanly (RAII, no state left half-changed).
  // Errors are kept on the job (input errors such as an undecodable file fail the job; the job
  // can be retried).
  virtual Result<AnalysisOutput> analyse(const AnalysisInput& input,
                                         const std::function<void(double)>& progress) = 0;
};

}  // namespace ms::store
