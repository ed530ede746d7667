#pragma once
// Optimal Transport Assignment (Ge, Liu, Li, Yoshie, Sun, "OTA: Optimal Transport Assignment for
// Object Detection", CVPR 2021; thesis sec. 4.2.3). Each ground-truth box is a supplier of
// dynamic-k units of "positive label", one background supplier holds the rest, every anchor
// demands one unit, and the unit cost is the loss the anchor would pay:
//   c_fg(i,j) = L_cls(p_j, class_i) + lambda * L_reg(box_j, box_i) + centre-prior penalty,
//   c_bg(j)   = L_cls(p_j, background),
// with L_cls the sigmoid focal loss summed over classes (the training loss) and L_reg = 1 - GIoU.
// The entropic OT problem is solved with Sinkhorn-Knopp; each anchor takes the supplier that sends
// it the most. Steps:
//  1. candidates: anchors whose centre lies in some box or within centre_radius * stride of its
//     centre (the centre prior; YOLOX's SimOTA uses the same region); the rest are background;
//  2. dynamic k_i = max(1, floor(sum of the top-q IoUs between the predicted boxes and box i));
//  3. cost matrix [G+1, N] (penalty for pairs outside box-and-centre), supplies [k_1..k_G, N - sum k];
//  4. plan = sinkhorn(cost, supplies, ones(N)); anchor j -> argmax_i plan(i,j), background if the
//     last row wins.
#include "models/assign/assign_result.h"
#include "models/assign/sinkhorn.h"

namespace ms {

struct OtaAssignerOptions {
  float reg_weight = 3.0f;        // lambda: weight of the GIoU cost against the focal cost
  float focal_alpha = 0.25f;      // focal-loss parameters of the classification cost (Lin et al.)
  float focal_gamma = 2.0f;
  int top_q = 20;                 // IoUs summed for dynamic k
  float center_radius = 2.5f;     // centre prior radius, in strides of the anchor's level
  float outside_cost = 1e5f;      // added to pairs not both inside the box and its centre region
  double sinkhorn_epsilon = 0.1;
  int sinkhorn_iterations = 50;
  template <class V>
  void visit(V& v) {
    v("reg_weight", reg_weight);
    v("focal_alpha", focal_alpha);
    v("focal_gamma", focal_gamma);
    v("top_q", top_q);
    v("center_radius", center_radius);
    v("outside_cost", outside_cost);
    v("sinkhorn_epsilon", sinkhorn_epsilon);
    v("sinkhorn_iterations", sinkhorn_iterations);
  }
};

class OtaAssigner {
 public:
  explicit OtaAssigner(OtaAssignerOptions options = {});
  // Uses anchors, anchors_per_level, level_strides, gt_boxes, gt_labels, cls_logits [A,C] and
  // pred_boxes [A,4] (both detached). Fills matched_gt, plan, plan_anchor_index and dynamic_k.
  AssignResult assign(const AssignInput& input) const;

  // The cost matrix of step 3 for given candidates (exposed for tests):
  // cls_logits [N,C], pred_boxes [N,4], gt_boxes [G,4], gt_labels [G], prior_ok [G,N] bool
  // -> [G+1, N] float64 (last row: background).
  at::Tensor cost_matrix(const at::Tensor& cls_logits, const at::Tensor& pred_boxes,
                         const at::Tensor& gt_boxes, const at::Tensor& gt_labels,
                         const at::Tensor& prior_ok) const;

 private:
  OtaAssignerOptions options_;
};

}  // namespace ms
