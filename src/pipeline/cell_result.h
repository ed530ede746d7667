#pragma once
// What the pipeline says about one field and each nucleated cell in it.
#include <string>
#include <utility>
#include <vector>

#include "core/box.h"

namespace ms {

struct ClassScore {
  std::string class_name;
  float probability = 0.f;
};

struct CellResult {
  Box box;                     // xyxy, pixels of the original field image
  std::string det_class;       // the detector's class ("WBC")
  float det_score = 0.f;       // detector ranking score in [0,1]
  float iou_pred = -1.f;       // predicted IoU when the detector has the branch, else -1
  std::string class_name;      // classifier top-1
  float probability = 0.f;     // top-1 probability
  std::vector<ClassScore> top; // top-k, descending
  float entropy = 0.f;         // of the full class distribution, nats
  // Share of the training lab's held-out cells that look more typical (engine/classifier/
  // atypical.h), in [0,1]; -1 when the classifier has no atypical reference.
  float atypical = -1.f;
  bool flagged = false;        // needs attention: review first
  std::string flag_reason;     // why flagged (flag_reason() below); empty when not flagged
};

struct FieldResult {
  std::string image;           // path or name as given
  int width = 0, height = 0;
  std::vector<CellResult> cells;
  float rbc_side = 0.f;         // median red-cell box side (pixels) used to size crops; 0: none
  std::string scale_source = "none";  // red_cells (measured in the field) | declared | none
  std::string error;           // non-empty when the field could not be analysed
  bool ok() const { return error.empty(); }
};

// Shannon entropy (nats) of a probability vector; zero entries contribute nothing.
float entropy_nats(const std::vector<float>& probs);

// Why a cell needs attention, the weightiest reason first: "atypical" (unlike every class the
// classifier was taught, so its class is a guess whatever the probability), "low_confidence"
// (top-1 probability below min_probability), "high_entropy" (entropy, nats, above max_entropy);
// empty when none applies. atypical < 0 (no reference) never flags.
std::string flag_reason(float probability, float entropy, float atypical, float min_probability,
                        float max_entropy, float min_atypical);

}  // namespace ms
