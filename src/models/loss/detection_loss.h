#pragma once
// The RetinaNet training loss on assigned targets, with the thesis's options (ch. 4):
//   L = FL(cls) / N_pos + lambda_box * L_box / N_pos + lambda_iou * BCE(iou) / N_pos
// - classification: sigmoid focal loss (alpha 0.25, gamma 2) over every non-ignored anchor and
//   class, one-hot targets (background = all zeros), summed and divided by N_pos = max(1, number
//   of positive anchors in the batch) (Lin et al. 2017, sec. 3.3);
// - box (positives only): smooth-L1 on the encoded deltas (beta configurable; beta 0 = L1), or
//   GIoU loss on the decoded boxes (Rezatofighi et al. 2019);
// - IoU branch (positives only, thesis 4.2.2, after IoU-aware RetinaNet, Wu et al. 2020): BCE
//   between the predicted IoU logit and the IoU of the decoded box with its target, the target
//   detached so it does not pull the box regression.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/detector/box_coder.h"

namespace ms {

enum class BoxLossKind { kSmoothL1, kGiou };
const std::vector<std::pair<BoxLossKind, std::string>>& enum_names(BoxLossKind);

struct DetectionLossOptions {
  float focal_alpha = 0.25f;
  float focal_gamma = 2.0f;
  BoxLossKind box_loss = BoxLossKind::kGiou;
  float smooth_l1_beta = 1.0f / 9.0f;  // Detectron's RetinaNet value
  float box_weight = 1.0f;             // lambda_box (GIoU is usually weighted 1-2)
  float iou_weight = 1.0f;             // lambda_iou (ignored without an IoU branch)
  template <class V>
  void visit(V& v) {
    v("focal_alpha", focal_alpha);
    v("focal_gamma", focal_gamma);
    v("box_loss", box_loss);
    v("smooth_l1_beta", smooth_l1_beta);
    v("box_weight", box_weight);
    v("iou_weight", iou_weight);
  }
};

// What the trainer builds from the assigner's AssignResult for each image of the batch:
struct DetectionTargets {
  // [B,N] int64 per anchor: >= 0 the class id of a positive anchor, -1 background (kAssignBackground),
  // -2 ignored (kAssignIgnore; contributes nothing).
  at::Tensor labels;
  // [B,N,4] float xyxy input pixels: the matched ground-truth box (only read where labels >= 0).
  at::Tensor boxes;
  // [B,C] float or undefined: 0 where image b does not annotate class c (its objects are there
  // unlabelled), so no anchor's logit of that class is pushed towards background there.
  at::Tensor class_mask{};
};

struct DetectionLoss {
  at::Tensor total;  // scalar, differentiable
  at::Tensor cls;    // scalar parts (already weighted and normalised), for logging
  at::Tensor box;
  at::Tensor iou;    // 0 without an IoU branch
  int64_t num_positive = 0;
};

// cls_logits [B,N,C], box_deltas [B,N,4], iou_logits [B,N] or undefined, anchors [N,4] xyxy input
// pixels (the RetinaNetOutput fields). Throws MarrowError(kInternal) on inconsistent shapes.
DetectionLoss detection_loss(const at::Tensor& cls_logits, const at::Tensor& box_deltas,
                             const at::Tensor& iou_logits, const at::Tensor& anchors,
                             const DetectionTargets& targets, const BoxCoder& coder,
                             const DetectionLossOptions& options);

}  // namespace ms
