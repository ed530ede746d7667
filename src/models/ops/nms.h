#pragma once
// Greedy non-maximum suppression on CPU tensors, with torchvision 0.14 semantics (nms_kernel_cpu):
// boxes are visited by score, highest first (a stable sort, so among equal scores the lower index
// wins); a box is dropped when its IoU with an already kept box is strictly greater than
// iou_threshold. IoU uses areas w*h without +1.
#include <ATen/core/Tensor.h>

namespace ms {

// boxes: [N,4] float xyxy, scores: [N] float -> kept indices [K] int64 (into boxes), in decreasing
// score order. N may be 0 (returns an empty [0] tensor).
at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

// Class-wise NMS: boxes of different `groups` ([N] int64, e.g. class ids) never suppress each
// other. Same return convention as nms(). Implemented with torchvision's coordinate-offset trick
// (each group is shifted past the previous ones), so it costs one nms() call.
at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& groups,
                       double iou_threshold);

}  // namespace ms
