#include "models/loss/giou_loss.h"

#include <ATen/ATen.h>

namespace ms {
namespace {

struct Overlap {
  at::Tensor inter, uni;
};
Overlap overlap(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor w = (at::min(a.select(-1, 2), b.select(-1, 2)) - at::max(a.select(-1, 0), b.select(-1, 0))).clamp_min(0);
  const at::Tensor h = (at::min(a.select(-1, 3), b.select(-1, 3)) - at::max(a.select(-1, 1), b.select(-1, 1))).clamp_min(0);
  const at::Tensor area_a = (a.select(-1, 2) - a.select(-1, 0)) * (a.select(-1, 3) - a.select(-1, 1));
  const at::Tensor area_b = (b.select(-1, 2) - b.select(-1, 0)) * (b.select(-1, 3) - b.select(-1, 1));
  const at::Tensor inter = w * h;
  return {inter, area_a + area_b - inter};
}

}  // namespace

at::Tensor aligned_iou(const at::Tensor& pred, const at::Tensor& target, double eps) {
  const auto o = overlap(pred, target);
  return o.inter / (o.uni + eps);
}

at::Tensor aligned_giou(const at::Tensor& pred, const at::Tensor& target, double eps) {
  // torchvision.ops.generalized_box_iou_loss, term by term.
  const auto o = overlap(pred, target);
  const at::Tensor iou = o.inter / (o.uni + eps);
  const at::Tensor cw = at::max(pred.select(-1, 2), target.select(-1, 2)) - at::min(pred.select(-1, 0), target.select(-1, 0));
  const at::Tensor ch = at::max(pred.select(-1, 3), target.select(-1, 3)) - at::min(pred.select(-1, 1), target.select(-1, 1));
  const at::Tensor area_c = cw * ch;
  return iou - (area_c - o.uni) / (area_c + eps);
}

at::Tensor giou_loss(const at::Tensor& pred, const at::Tensor& target, double eps) {
  return 1 - aligned_giou(pred, target, eps);
}

}  // namespace ms
