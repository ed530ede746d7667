#include "models/assign/assign_result.h"

namespace ms {
namespace {

at::Tensor box_area(const at::Tensor& x) {
  return (x.select(1, 2) - x.select(1, 0)).clamp_min(0) * (x.select(1, 3) - x.select(1, 1)).clamp_min(0);
}

// Pairwise intersection and union areas of a [N,4] and b [M,4] -> two [N,M] tensors.
std::pair<at::Tensor, at::Tensor> inter_union(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && a.size(1) == 4, "box pairs: a must be [N,4], got ", a.sizes());
  TORCH_CHECK(b.dim() == 2 && b.size(1) == 4, "box pairs: b must be [M,4], got ", b.sizes());
  const auto lt = at::max(a.slice(1, 0, 2).unsqueeze(1), b.slice(1, 0, 2).unsqueeze(0));  // [N,M,2]
  const auto rb = at::min(a.slice(1, 2, 4).unsqueeze(1), b.slice(1, 2, 4).unsqueeze(0));
  const auto wh = (rb - lt).clamp_min(0);
  const auto inter = wh.select(2, 0) * wh.select(2, 1);
  return {inter, box_area(a).unsqueeze(1) + box_area(b).unsqueeze(0) - inter};
}

at::Tensor safe_ratio(const at::Tensor& num, const at::Tensor& den) {
  return at::where(den > 0, num / den.clamp_min(1e-12), at::zeros_like(num));
}

}  // namespace

std::int64_t AssignResult::num_positive() const {
  if (!matched_gt.defined()) return 0;
  return matched_gt.ge(0).sum().item<std::int64_t>();
}

at::Tensor pairwise_box_iou(const at::Tensor& a, const at::Tensor& b) {
  const auto [inter, uni] = inter_union(a, b);
  return safe_ratio(inter, uni);
}

at::Tensor pairwise_box_giou(const at::Tensor& a, const at::Tensor& b) {
  const auto [inter, uni] = inter_union(a, b);
  const auto elt = at::min(a.slice(1, 0, 2).unsqueeze(1), b.slice(1, 0, 2).unsqueeze(0));
  const auto erb = at::max(a.slice(1, 2, 4).unsqueeze(1), b.slice(1, 2, 4).unsqueeze(0));
  const auto ewh = (erb - elt).clamp_min(0);
  const auto enclose = ewh.select(2, 0) * ewh.select(2, 1);
  return safe_ratio(inter, uni) - safe_ratio(enclose - uni, enclose);
}

at::Tensor box_centers(const at::Tensor& boxes) {
  return at::stack({(boxes.select(1, 0) + boxes.select(1, 2)) * 0.5,
                    (boxes.select(1, 1) + boxes.select(1, 3)) * 0.5},
                   1);
}

at::Tensor centers_inside_boxes(const at::Tensor& centers, const at::Tensor& boxes, double eps) {
  const auto cx = centers.select(1, 0).unsqueeze(0);  // [1,A]
  const auto cy = centers.select(1, 1).unsqueeze(0);
  const auto l = cx - boxes.select(1, 0).unsqueeze(1);  // [G,A]
  const auto t = cy - boxes.select(1, 1).unsqueeze(1);
  const auto r = boxes.select(1, 2).unsqueeze(1) - cx;
  const auto b = boxes.select(1, 3).unsqueeze(1) - cy;
  return at::min(at::min(l, t), at::min(r, b)).gt(eps);
}

}  // namespace ms
