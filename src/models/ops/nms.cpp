#include "models/ops/nms.h"

#include <vector>

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  MS_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms boxes must be [N,4]");
  MS_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms scores must be [N]");
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, at::kLong);
  const at::Tensor b = boxes.detach().to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor order =
      std::get<1>(scores.detach().to(at::kCPU, at::kFloat).sort(/*stable=*/true, 0, /*descending=*/true));
  const float* p = b.data_ptr<float>();
  const int64_t* ord = order.data_ptr<int64_t>();
  std::vector<float> area(n);
  for (int64_t i = 0; i < n; ++i) area[i] = (p[4 * i + 2] - p[4 * i]) * (p[4 * i + 3] - p[4 * i + 1]);
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = ord[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const float ix1 = p[4 * i], iy1 = p[4 * i + 1], ix2 = p[4 * i + 2], iy2 = p[4 * i + 3];
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = ord[oj];
      if (suppressed[j]) continue;
      const float w = std::max(0.f, std::min(ix2, p[4 * j + 2]) - std::max(ix1, p[4 * j]));
      const float h = std::max(0.f, std::min(iy2, p[4 * j + 3]) - std::max(iy1, p[4 * j + 1]));
      const float inter = w * h;
      // Same expression as torchvision's kernel (division, not a rearranged comparison), so ties
      // at the threshold resolve identically.
      const float ovr = inter / (area[i] + area[j] - inter);
      if (ovr > iou_threshold) suppressed[j] = 1;
    }
  }
  return at::tensor(keep, at::kLong);
}

at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& groups,
                       double iou_threshold) {
  MS_CHECK(groups.dim() == 1 && groups.size(0) == boxes.size(0), "batched_nms groups must be [N]");
  if (boxes.size(0) == 0) return at::empty({0}, at::kLong);
  const at::Tensor b = boxes.detach().to(at::kCPU, at::kFloat);
  // torchvision _batched_nms_coordinate_trick: shift each group by (max coordinate + 1) * group.
  const at::Tensor offsets = groups.to(at::kCPU, at::kFloat) * (b.max() + 1);
  return nms(b + offsets.unsqueeze(1), scores, iou_threshold);
}

}  // namespace ms
