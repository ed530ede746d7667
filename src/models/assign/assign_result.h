#pragma once
// What every label assigner returns: one entry per anchor saying which ground-truth box (if any)
// that anchor learns from. The trainer turns this into classification / box / IoU targets.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace ms {

// Values of AssignResult::matched_gt besides a ground-truth index.
constexpr std::int64_t kAssignBackground = -1;  // negative sample: classification target all zero
constexpr std::int64_t kAssignIgnore = -2;      // neither positive nor negative: no loss at all

struct AssignResult {
  // [A] int64 (CPU or the anchors' device): >= 0 index into the ground-truth boxes,
  // kAssignBackground or kAssignIgnore.
  at::Tensor matched_gt;
  // OTA only (undefined otherwise): the entropic transport plan [G+1, N] between the G ground-truth
  // boxes plus one background supplier (last row) and the N candidate anchors...
  at::Tensor plan;
  // ...and the anchor index of each plan column, [N] int64.
  at::Tensor plan_anchor_index;
  // OTA only: dynamic k (units supplied) per ground-truth box, [G] int64.
  at::Tensor dynamic_k;

  std::int64_t num_positive() const;
};

// What an assigner may look at. Boxes are xyxy in pixels of the network input (letterboxed).
struct AssignInput {
  at::Tensor anchors;                          // [A,4] float
  std::vector<std::int64_t> anchors_per_level;  // sum == A, level-major order as the head emits
  std::vector<float> level_strides;            // stride (input pixels) of each level, same length
  std::int64_t anchors_per_location = 1;       // scales x ratios
  at::Tensor gt_boxes;                         // [G,4] float (G may be 0)
  at::Tensor gt_labels;                        // [G] int64 class ids
  // Prediction-aware assigners (OTA) also need the network's current guesses, detached:
  at::Tensor cls_logits;  // [A,C] raw logits (before sigmoid)
  at::Tensor pred_boxes;  // [A,4] decoded boxes, xyxy input pixels
};

// Pairwise IoU of a [N,4] and b [M,4] (xyxy, any unit) -> [N,M]; 0 where the union is empty.
at::Tensor pairwise_box_iou(const at::Tensor& a, const at::Tensor& b);

// Pairwise generalised IoU (Rezatofighi et al., CVPR 2019) of a [N,4] and b [M,4] -> [N,M].
at::Tensor pairwise_box_giou(const at::Tensor& a, const at::Tensor& b);

// Centres of [N,4] xyxy boxes -> [N,2] (cx, cy).
at::Tensor box_centers(const at::Tensor& boxes);

// [A] bool: anchor centre strictly inside each box -> [G,A] (eps keeps centres on an edge out).
at::Tensor centers_inside_boxes(const at::Tensor& centers, const at::Tensor& boxes, double eps = 1e-6);

}  // namespace ms
