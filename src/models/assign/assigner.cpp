#include "models/assign/assigner.h"

#include <ATen/core/grad_mode.h>

namespace ms {

const std::vector<std::pair<AssignerKind, std::string>>& enum_names(AssignerKind) {
  static const std::vector<std::pair<AssignerKind, std::string>> names = {
      {AssignerKind::kMaxIou, "max_iou"}, {AssignerKind::kAtss, "atss"}, {AssignerKind::kOta, "ota"},
      {AssignerKind::kPaa, "paa"}};
  return names;
}

Assigner::Assigner(const AssignerOptions& options)
    : options_(options), max_iou_(options.max_iou), atss_(options.atss), ota_(options.ota), paa_(options.paa) {}

AssignResult Assigner::assign(const AssignInput& input) const {
  at::NoGradGuard no_grad;
  switch (options_.kind) {
    case AssignerKind::kMaxIou: return max_iou_.assign(input);
    case AssignerKind::kAtss: return atss_.assign(input);
    case AssignerKind::kOta: return ota_.assign(input);
    case AssignerKind::kPaa: return paa_.assign(input);
  }
  return max_iou_.assign(input);
}

}  // namespace ms
