#pragma once
// Generalised IoU loss (Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019,
// Algorithm 2): L = 1 - GIoU. Same as torchvision 0.14 generalized_box_iou_loss (eps 1e-7).
#include <ATen/core/Tensor.h>

namespace ms {

// Element-wise GIoU of aligned boxes: pred, target [..., 4] xyxy (same shape, same pixels) ->
// [...]. Differentiable in both; degenerate boxes are handled with eps in the divisions.
at::Tensor aligned_giou(const at::Tensor& pred, const at::Tensor& target, double eps = 1e-7);
// Element-wise IoU of aligned boxes [..., 4] -> [...], 0 where the union is empty.
at::Tensor aligned_iou(const at::Tensor& pred, const at::Tensor& target, double eps = 1e-7);

// 1 - aligned_giou(pred, target): [..., 4] -> [...] (reduction "none").
at::Tensor giou_loss(const at::Tensor& pred, const at::Tensor& target, double eps = 1e-7);

}  // namespace ms
