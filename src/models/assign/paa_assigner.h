#pragma once
// Probabilistic Anchor Assignment (Kim & Lee, "Probabilistic Anchor Assignment with IoU Prediction
// for Object Detection", ECCV 2020, sec. 3.1 and Algorithm 1; thesis sec. 4.2.3.4), following the
// authors' code (kkhoot/PAA, paa_core/modeling/rpn/paa/loss.py) where the paper leaves a choice:
//  1. IoU pre-assignment: every anchor goes to the box it overlaps most when that IoU is at least
//     candidate_iou; each box also gets its best anchor(s) even below it (low-quality matches,
//     later box wins a tie). So an anchor is a candidate of at most one box: several boxes never
//     share an anchor.
//  2. Anchor score as a loss, from the model's own current predictions (detached):
//       loss(a, g) = sum over classes FL(logits_a, onehot(class_g)) + reg_weight * (1 - GIoU(box_a, g))
//     (the paper's score S = S_cls * S_IoU^lambda enters as exp(-loss); its negative log is the loss).
//  3. Per box and pyramid level, the top_k candidates with the lowest loss (per level, whatever
//     the anchors per location, as the authors' top-9).
//  4. A two-component 1-D Gaussian mixture fitted by EM on those losses (gaussian_mixture.h: start
//     at the minimum and maximum loss, unit variances, equal weights).
//  5. Separation, the paper's Fig. 3(c): the foreground component is the one with the lower mean;
//     among the candidates it claims, take the one where the mixture density is highest (closest to
//     the component's peak); candidates whose loss is at most that one's are positive, the rest
//     negative. Every anchor not selected here is negative (no ignored anchors).
// Edge cases: a box with a single candidate makes it positive (as the authors' code); when the
// foreground component claims no candidate all candidates are positive (the authors' "high recall"
// fallback). On exactly equal losses at the threshold all tied candidates are positive, where the
// authors' code keeps the first one its sort returns; so a box whose candidates all have the same
// loss gets all of them. Boxes that overlap no anchor (outside the image, zero area) get no
// candidate and no positive.
#include <vector>

#include "models/assign/assign_result.h"
#include "models/assign/gaussian_mixture.h"

namespace ms {

struct PaaAssignerOptions {
  float candidate_iou = 0.1f;   // step 1 (the authors' IOU_THRESHOLD)
  int top_k = 9;                // step 3, per level
  float reg_weight = 1.0f;      // lambda of step 2 (the authors' code adds the GIoU loss unweighted)
  float focal_alpha = 0.25f;    // focal-loss parameters of the classification term (Lin et al.)
  float focal_gamma = 2.0f;
  int em_iterations = 100;      // step 4 (scikit-learn's defaults, as the authors use)
  double em_tolerance = 1e-3;
  double em_reg_covar = 1e-6;
  template <class V>
  void visit(V& v) {
    v("candidate_iou", candidate_iou);
    v("top_k", top_k);
    v("reg_weight", reg_weight);
    v("focal_alpha", focal_alpha);
    v("focal_gamma", focal_gamma);
    v("em_iterations", em_iterations);
    v("em_tolerance", em_tolerance);
    v("em_reg_covar", em_reg_covar);
  }
};

// Step 5 on one box's candidate losses (any order, all finite): true where the candidate is positive.
// One candidate -> {true}; none -> {}.
std::vector<bool> paa_separate(const std::vector<double>& losses, const GaussianMixtureOptions& gmm = {});

class PaaAssigner {
 public:
  explicit PaaAssigner(PaaAssignerOptions options = {});
  // Uses anchors [A,4], anchors_per_level, gt_boxes [G,4], gt_labels [G], cls_logits [A,C] and
  // pred_boxes [A,4] (decoded, xyxy input pixels; both detached). Fills matched_gt.
  AssignResult assign(const AssignInput& input) const;

  // The step-2 loss of each anchor against one box each: cls_logits [N,C], pred_boxes [N,4],
  // gt_boxes [N,4], gt_labels [N] -> [N] float64 (exposed for tests).
  at::Tensor anchor_losses(const at::Tensor& cls_logits, const at::Tensor& pred_boxes, const at::Tensor& gt_boxes,
                           const at::Tensor& gt_labels) const;

 private:
  PaaAssignerOptions options_;
};

}  // namespace ms
