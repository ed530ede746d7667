#pragma once
// Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, eq. 5),
// torchvision.ops.sigmoid_focal_loss semantics:
//   p = sigmoid(x), p_t = p*t + (1-p)*(1-t),
//   FL = alpha_t * (1 - p_t)^gamma * BCE(x, t),  alpha_t = alpha*t + (1-alpha)*(1-t)  (alpha >= 0;
//   alpha < 0 disables the weighting).
#include <ATen/core/Tensor.h>

namespace ms {

// logits, targets: same shape, float (targets in [0,1]; soft targets allowed). Returns the
// element-wise loss, same shape (reduction "none"). The detector sums it and divides by the number
// of positive anchors (max 1), see detection_loss.h.
at::Tensor sigmoid_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha = 0.25,
                              double gamma = 2.0);

}  // namespace ms
