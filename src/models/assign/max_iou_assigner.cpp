#include "models/assign/max_iou_assigner.h"

#include "core/error.h"

namespace ms {

MaxIouAssigner::MaxIouAssigner(MaxIouAssignerOptions options) : options_(options) {
  MS_CHECK(options_.neg_iou <= options_.pos_iou, "MaxIouAssigner: neg_iou must not exceed pos_iou");
}

AssignResult MaxIouAssigner::assign(const AssignInput& input) const {
  const auto& anchors = input.anchors;
  const auto a_count = anchors.size(0);
  const auto idx_opts = anchors.options().dtype(at::kLong);
  AssignResult out;
  out.matched_gt = at::full({a_count}, kAssignBackground, idx_opts);
  if (!input.gt_boxes.defined() || input.gt_boxes.size(0) == 0 || a_count == 0) return out;

  const auto iou = pairwise_box_iou(input.gt_boxes.to(anchors.dtype()), anchors);  // [G,A]
  const auto [best_iou, best_gt] = iou.max(0);                                    // [A]
  auto matched = best_gt.clone();
  matched.masked_fill_(best_iou.lt(options_.pos_iou), kAssignIgnore);
  matched.masked_fill_(best_iou.lt(options_.neg_iou), kAssignBackground);

  if (options_.low_quality_matches) {
    const auto gt_best = std::get<0>(iou.max(1));  // [G]
    const auto g_count = iou.size(0);
    for (int64_t g = 0; g < g_count; ++g) {
      const float best = gt_best[g].item<float>();
      if (best <= 0.f || best < options_.min_low_quality_iou) continue;
      const auto ties = iou[g].eq(best);
      matched.masked_fill_(ties, g);
    }
  }
  out.matched_gt = matched;
  return out;
}

}  // namespace ms
