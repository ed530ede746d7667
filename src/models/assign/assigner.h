#pragma once
// One config switch over the label assigners (variants are configs, docs/STYLE.md):
//   "assigner": {"kind": "atss", "atss": {"top_k": 9}}
#include <string>
#include <utility>
#include <vector>

#include "models/assign/atss_assigner.h"
#include "models/assign/max_iou_assigner.h"
#include "models/assign/ota_assigner.h"
#include "models/assign/paa_assigner.h"

namespace ms {

enum class AssignerKind { kMaxIou, kAtss, kOta, kPaa };
const std::vector<std::pair<AssignerKind, std::string>>& enum_names(AssignerKind);

struct AssignerOptions {
  AssignerKind kind = AssignerKind::kMaxIou;
  MaxIouAssignerOptions max_iou;
  AtssAssignerOptions atss;
  OtaAssignerOptions ota;
  PaaAssignerOptions paa;
  template <class V>
  void visit(V& v) {
    v("kind", kind);
    v("max_iou", max_iou);
    v("atss", atss);
    v("ota", ota);
    v("paa", paa);
  }
};

class Assigner {
 public:
  explicit Assigner(const AssignerOptions& options);
  // True when assign() reads input.cls_logits / input.pred_boxes (the trainer then decodes them).
  bool needs_predictions() const {
    return options_.kind == AssignerKind::kOta || options_.kind == AssignerKind::kPaa;
  }
  // Runs the chosen assigner without recording gradients. See AssignInput for shapes.
  AssignResult assign(const AssignInput& input) const;

 private:
  AssignerOptions options_;
  MaxIouAssigner max_iou_;
  AtssAssigner atss_;
  OtaAssigner ota_;
  PaaAssigner paa_;
};

}  // namespace ms
