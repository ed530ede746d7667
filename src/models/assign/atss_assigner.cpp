#include "models/assign/atss_assigner.h"

#include <limits>

#include "core/error.h"

namespace ms {

AtssAssigner::AtssAssigner(AtssAssignerOptions options) : options_(options) {
  MS_CHECK(options_.top_k > 0, "AtssAssigner: top_k must be positive");
}

AssignResult AtssAssigner::assign(const AssignInput& input) const {
  const auto& anchors = input.anchors;
  const auto a_count = anchors.size(0);
  AssignResult out;
  out.matched_gt = at::full({a_count}, kAssignBackground, anchors.options().dtype(at::kLong));
  if (!input.gt_boxes.defined() || input.gt_boxes.size(0) == 0 || a_count == 0) return out;

  std::vector<std::int64_t> per_level = input.anchors_per_level;
  if (per_level.empty()) per_level = {a_count};
  std::int64_t total = 0;
  for (auto n : per_level) total += n;
  MS_CHECK(total == a_count, "AtssAssigner: anchors_per_level must sum to the anchor count");

  const auto gt = input.gt_boxes.to(anchors.dtype());
  const auto g_count = gt.size(0);
  const auto iou = pairwise_box_iou(gt, anchors);                          // [G,A]
  const auto anchor_c = box_centers(anchors);                                // [A,2]
  const auto gt_c = box_centers(gt);                                         // [G,2]
  const auto dist = (gt_c.unsqueeze(1) - anchor_c.unsqueeze(0)).pow(2).sum(2).sqrt();  // [G,A]

  // Step 1: candidates per level.
  std::vector<at::Tensor> candidates;
  std::int64_t start = 0;
  for (auto n : per_level) {
    if (n == 0) continue;
    const auto k = std::min<std::int64_t>(options_.top_k * std::max<std::int64_t>(1, input.anchors_per_location), n);
    const auto idx = std::get<1>(dist.slice(1, start, start + n).topk(k, 1, /*largest=*/false));
    candidates.push_back(idx + start);
    start += n;
  }
  const auto cand = at::cat(candidates, 1);        // [G,K]
  const auto cand_iou = iou.gather(1, cand);       // [G,K]

  // Step 2: adaptive threshold.
  const auto thr = cand_iou.mean(1, true) + (cand_iou.size(1) > 1 ? cand_iou.std(1, true, true)
                                                                  : at::zeros_like(cand_iou.mean(1, true)));
  // Step 3: IoU above it and centre inside the box.
  const auto inside = centers_inside_boxes(anchor_c, gt).gather(1, cand);  // [G,K]
  const auto positive = cand_iou.ge(thr).logical_and(inside);

  // Step 4: resolve anchors claimed by several boxes by the highest IoU.
  const double neg_inf = -std::numeric_limits<double>::infinity();
  auto claim = at::full_like(iou, neg_inf);  // [G,A]
  const auto rows = at::arange(g_count, cand.options()).unsqueeze(1).expand_as(cand);
  const auto pos_rows = rows.masked_select(positive);
  const auto pos_cols = cand.masked_select(positive);
  claim.index_put_({pos_rows, pos_cols}, iou.index({pos_rows, pos_cols}));
  const auto [best, best_gt] = claim.max(0);
  out.matched_gt = at::where(best.gt(neg_inf), best_gt, out.matched_gt);
  return out;
}

}  // namespace ms
