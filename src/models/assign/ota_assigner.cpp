#include "models/assign/ota_assigner.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ms {

OtaAssigner::OtaAssigner(OtaAssignerOptions options) : options_(options) {
  MS_CHECK(options_.top_q > 0, "OtaAssigner: top_q must be positive");
  MS_CHECK(options_.sinkhorn_epsilon > 0, "OtaAssigner: sinkhorn_epsilon must be positive");
}

at::Tensor OtaAssigner::cost_matrix(const at::Tensor& cls_logits, const at::Tensor& pred_boxes,
                                    const at::Tensor& gt_boxes, const at::Tensor& gt_labels,
                                    const at::Tensor& prior_ok) const {
  const auto logits = cls_logits.to(at::kDouble);
  const auto p = logits.sigmoid();
  const double alpha = options_.focal_alpha, gamma = options_.focal_gamma;
  // Focal loss of every class logit against target 0 and against target 1 (Lin et al. 2017,
  // eq. 5), [N,C]; log-sigmoid keeps it finite for large logits.
  const auto fl_neg = -(1 - alpha) * p.pow(gamma) * at::log_sigmoid(-logits);
  const auto fl_pos = -alpha * (1 - p).pow(gamma) * at::log_sigmoid(logits);
  const auto bg = fl_neg.sum(1);  // [N]: all classes negative
  // For box i of class c: the same sum with class c's term switched to the positive one.
  const auto labels = gt_labels.to(at::kLong);
  const auto cls = bg.unsqueeze(0) + (fl_pos - fl_neg).index_select(1, labels).t();  // [G,N]
  const auto reg = 1.0 - pairwise_box_giou(gt_boxes.to(at::kDouble), pred_boxes.to(at::kDouble));
  auto fg = cls + options_.reg_weight * reg +
            options_.outside_cost * prior_ok.logical_not().to(at::kDouble);
  return at::cat({fg, bg.unsqueeze(0)}, 0);
}

AssignResult OtaAssigner::assign(const AssignInput& input) const {
  const auto& anchors = input.anchors;
  const auto a_count = anchors.size(0);
  AssignResult out;
  out.matched_gt = at::full({a_count}, kAssignBackground, anchors.options().dtype(at::kLong));
  if (!input.gt_boxes.defined() || input.gt_boxes.size(0) == 0 || a_count == 0) return out;
  MS_CHECK(input.cls_logits.defined() && input.cls_logits.size(0) == a_count,
           "OtaAssigner: cls_logits [A,C] are required");
  MS_CHECK(input.pred_boxes.defined() && input.pred_boxes.size(0) == a_count,
           "OtaAssigner: pred_boxes [A,4] are required");

  const auto gt = input.gt_boxes.to(anchors.dtype());
  const auto g_count = gt.size(0);

  // Step 1: centre prior. Stride of every anchor from its level.
  std::vector<std::int64_t> per_level = input.anchors_per_level;
  std::vector<float> strides = input.level_strides;
  if (per_level.empty()) per_level = {a_count};
  if (strides.size() != per_level.size()) strides.assign(per_level.size(), 8.f);
  std::vector<at::Tensor> stride_parts;
  for (size_t l = 0; l < per_level.size(); ++l)
    stride_parts.push_back(at::full({per_level[l]}, strides[l], anchors.options()));
  const auto anchor_stride = at::cat(stride_parts);  // [A]
  const auto centers = box_centers(anchors);         // [A,2]
  const auto in_box = centers_inside_boxes(centers, gt, 0.0);  // [G,A]
  const auto gt_c = box_centers(gt);
  const auto radius = (options_.center_radius * anchor_stride).unsqueeze(0);  // [1,A]
  const auto in_center = (centers.select(1, 0).unsqueeze(0) - gt_c.select(1, 0).unsqueeze(1)).abs().lt(radius)
                             .logical_and((centers.select(1, 1).unsqueeze(0) - gt_c.select(1, 1).unsqueeze(1)).abs().lt(radius));
  const auto candidate = in_box.logical_or(in_center).any(0);  // [A]
  const auto cand_idx = candidate.nonzero().squeeze(1);
  const auto n = cand_idx.size(0);
  if (n == 0) return out;

  const auto cls = input.cls_logits.index_select(0, cand_idx);
  const auto pred = input.pred_boxes.index_select(0, cand_idx).to(anchors.dtype());
  const auto prior_ok = in_box.logical_and(in_center).index_select(1, cand_idx);  // [G,N]

  // Step 2: dynamic k.
  const auto pred_iou = pairwise_box_iou(gt, pred);  // [G,N]
  const auto q = std::min<std::int64_t>(options_.top_q, n);
  const auto topk_sum = std::get<0>(pred_iou.topk(q, 1)).sum(1);
  auto k = topk_sum.to(at::kLong).clamp_min(1);  // [G]
  out.dynamic_k = k;

  // Step 3: supplies; when the boxes ask for more than there are candidates, scale them down so
  // the problem stays balanced (the background then supplies nothing).
  auto supply = at::cat({k.to(at::kDouble), at::zeros({1}, k.options().dtype(at::kDouble))});
  const double asked = k.sum().item<double>();
  if (asked < static_cast<double>(n)) {
    supply[g_count] = static_cast<double>(n) - asked;
  } else {
    supply = supply * (static_cast<double>(n) / asked);
  }
  const auto cost = cost_matrix(cls, pred, gt, input.gt_labels, prior_ok);
  const auto demand = at::ones({n}, supply.options());

  // Step 4: transport and per-anchor argmax.
  const auto plan = sinkhorn(cost, supply, demand,
                             SinkhornOptions{options_.sinkhorn_epsilon, options_.sinkhorn_iterations});
  const auto winner = std::get<1>(plan.max(0));  // [N]
  const auto matched = at::where(winner.eq(g_count), at::full_like(winner, kAssignBackground), winner);
  out.matched_gt.index_put_({cand_idx}, matched.to(out.matched_gt.device()));
  out.plan = plan;
  out.plan_anchor_index = cand_idx;
  return out;
}

}  // namespace ms
