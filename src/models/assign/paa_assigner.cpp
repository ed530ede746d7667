#include "models/assign/paa_assigner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"
#include "models/assign/max_iou_assigner.h"
#include "models/loss/focal_loss.h"
#include "models/loss/giou_loss.h"

namespace ms {

std::vector<bool> paa_separate(const std::vector<double>& losses, const GaussianMixtureOptions& gmm) {
  const size_t n = losses.size();
  if (n <= 1) return std::vector<bool>(n, true);
  const auto g = fit_two_gaussians(losses, gmm);
  const int fg = g.mean[1] < g.mean[0] ? 1 : 0;
  bool any = false;
  double best_density = -std::numeric_limits<double>::infinity(), threshold = 0;
  for (double x : losses) {
    if (g.component(x) != fg) continue;
    const double d = g.log_density(x);
    // The highest density; on a tie the lower loss, as the first of the sorted candidates.
    if (!any || d > best_density || (d == best_density && x < threshold)) {
      best_density = d;
      threshold = x;
      any = true;
    }
  }
  std::vector<bool> out(n, true);
  if (!any) return out;
  for (size_t i = 0; i < n; ++i) out[i] = losses[i] <= threshold;
  return out;
}

PaaAssigner::PaaAssigner(PaaAssignerOptions options) : options_(options) {
  MS_CHECK(options_.top_k > 0, "PaaAssigner: top_k must be positive");
  MS_CHECK(options_.candidate_iou > 0 && options_.candidate_iou <= 1, "PaaAssigner: candidate_iou must be in (0, 1]");
  MS_CHECK(options_.em_iterations >= 1, "PaaAssigner: em_iterations must be at least 1");
  MS_CHECK(options_.em_tolerance >= 0, "PaaAssigner: em_tolerance must not be negative");
  MS_CHECK(options_.em_reg_covar > 0, "PaaAssigner: em_reg_covar must be positive");
}

at::Tensor PaaAssigner::anchor_losses(const at::Tensor& cls_logits, const at::Tensor& pred_boxes,
                                      const at::Tensor& gt_boxes, const at::Tensor& gt_labels) const {
  MS_CHECK(cls_logits.dim() == 2, "PaaAssigner: cls_logits must be [N,C]");
  const auto n = cls_logits.size(0);
  MS_CHECK(pred_boxes.sizes() == (at::IntArrayRef{n, 4}) && gt_boxes.sizes() == (at::IntArrayRef{n, 4}),
           "PaaAssigner: pred_boxes and gt_boxes must be [N,4]");
  MS_CHECK(gt_labels.dim() == 1 && gt_labels.size(0) == n, "PaaAssigner: gt_labels must be [N]");
  const auto labels = gt_labels.to(at::kLong);
  MS_CHECK(n == 0 || (labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < cls_logits.size(1)),
           "PaaAssigner: a box's class is outside the model's classes");
  const auto logits = cls_logits.to(at::kDouble);
  auto onehot = at::zeros_like(logits);
  if (n > 0) onehot.scatter_(1, labels.to(logits.device()).unsqueeze(1), 1.0);
  const auto cls = sigmoid_focal_loss(logits, onehot, options_.focal_alpha, options_.focal_gamma).sum(1);
  const auto reg = giou_loss(pred_boxes.to(at::kDouble), gt_boxes.to(at::kDouble).to(pred_boxes.device()));
  return cls + static_cast<double>(options_.reg_weight) * reg;
}

AssignResult PaaAssigner::assign(const AssignInput& input) const {
  const auto& anchors = input.anchors;
  const auto a_count = anchors.size(0);
  AssignResult out;
  out.matched_gt = at::full({a_count}, kAssignBackground, anchors.options().dtype(at::kLong));
  if (!input.gt_boxes.defined() || input.gt_boxes.size(0) == 0 || a_count == 0) return out;
  MS_CHECK(input.cls_logits.defined() && input.cls_logits.size(0) == a_count,
           "PaaAssigner: cls_logits [A,C] are required");
  MS_CHECK(input.pred_boxes.defined() && input.pred_boxes.size(0) == a_count,
           "PaaAssigner: pred_boxes [A,4] are required");
  MS_CHECK(input.gt_labels.defined() && input.gt_labels.size(0) == input.gt_boxes.size(0),
           "PaaAssigner: gt_labels [G] are required");
  std::vector<int64_t> per_level = input.anchors_per_level;
  if (per_level.empty()) per_level = {a_count};
  int64_t total = 0;
  for (auto n : per_level) total += n;
  MS_CHECK(total == a_count, "PaaAssigner: anchors_per_level must sum to the anchor count");

  // Step 1: IoU pre-assignment (MaxIoU with equal thresholds: no anchor is ignored).
  MaxIouAssignerOptions pre_options;
  pre_options.pos_iou = options_.candidate_iou;
  pre_options.neg_iou = options_.candidate_iou;
  pre_options.low_quality_matches = true;
  const auto pre = MaxIouAssigner(pre_options).assign(input).matched_gt;  // [A]
  const auto cand_idx = pre.ge(0).nonzero().squeeze(1);
  if (cand_idx.size(0) == 0) return out;
  const auto cand_gt = pre.index_select(0, cand_idx);

  // Step 2: the loss of every candidate against its box.
  const auto gt = input.gt_boxes.to(anchors.device());
  const auto labels = input.gt_labels.to(anchors.device());
  const auto loss = anchor_losses(input.cls_logits.index_select(0, cand_idx),
                                  input.pred_boxes.index_select(0, cand_idx), gt.index_select(0, cand_gt),
                                  labels.index_select(0, cand_gt))
                        .cpu()
                        .contiguous();
  MS_CHECK(at::isfinite(loss).all().item<bool>(),
           "PaaAssigner: a candidate's loss is not finite (the predictions have diverged)");
  const auto idx_cpu = cand_idx.cpu().contiguous();
  const auto gt_cpu = cand_gt.cpu().contiguous();
  const int64_t n = idx_cpu.size(0);
  const int64_t* idx = idx_cpu.data_ptr<int64_t>();
  const int64_t* owner = gt_cpu.data_ptr<int64_t>();
  const double* l = loss.data_ptr<double>();

  // Level of an anchor index from the level-major layout.
  std::vector<int64_t> level_end;
  int64_t end = 0;
  for (auto c : per_level) level_end.push_back(end += c);
  const auto level_of = [&](int64_t a) {
    return static_cast<size_t>(std::upper_bound(level_end.begin(), level_end.end(), a) - level_end.begin());
  };

  // Steps 3-5 per box. Candidates sorted by (loss, anchor index) so the top-k is deterministic.
  const int64_t g_count = input.gt_boxes.size(0);
  std::vector<std::vector<std::vector<std::pair<double, int64_t>>>> by_box(
      static_cast<size_t>(g_count), std::vector<std::vector<std::pair<double, int64_t>>>(per_level.size()));
  for (int64_t i = 0; i < n; ++i)
    by_box[static_cast<size_t>(owner[i])][level_of(idx[i])].push_back({l[i], idx[i]});
  std::vector<int64_t> matched(static_cast<size_t>(a_count), kAssignBackground);
  const GaussianMixtureOptions gmm{options_.em_iterations, options_.em_tolerance, options_.em_reg_covar};
  for (int64_t g = 0; g < g_count; ++g) {
    std::vector<double> losses;
    std::vector<int64_t> anchor_ids;
    for (auto& level : by_box[static_cast<size_t>(g)]) {
      std::sort(level.begin(), level.end());
      const size_t k = std::min(level.size(), static_cast<size_t>(options_.top_k));
      for (size_t j = 0; j < k; ++j) {
        losses.push_back(level[j].first);
        anchor_ids.push_back(level[j].second);
      }
    }
    const auto positive = paa_separate(losses, gmm);
    for (size_t j = 0; j < positive.size(); ++j)
      if (positive[j]) matched[static_cast<size_t>(anchor_ids[j])] = g;
  }
  out.matched_gt = at::tensor(matched, at::kLong).to(anchors.device());
  return out;
}

}  // namespace ms
