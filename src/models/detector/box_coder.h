#pragma once
// Anchor-relative box deltas of R-CNN (Girshick et al., "Rich feature hierarchies", CVPR 2014,
// appendix C), with torchvision 0.14 BoxCoder semantics (widths without +1, centres at x1 + w/2):
//   dx = wx * (gx - ax) / aw,  dy = wy * (gy - ay) / ah,
//   dw = ww * log(gw / aw),    dh = wh * log(gh / ah);
// decoding clamps dw, dh at `clamp` (log(1000/16) by default) so exp() cannot overflow.
#include <cmath>

#include <ATen/core/Tensor.h>

namespace ms {

struct BoxCoderOptions {
  // torchvision's RetinaNet uses (1,1,1,1); Faster R-CNN's RPN heads use (1,1,1,1) too and the
  // ROI heads (10,10,5,5).
  float wx = 1.f, wy = 1.f, ww = 1.f, wh = 1.f;
  float clamp = 4.135166556742356f;  // log(1000 / 16)
  template <class V>
  void visit(V& v) {
    v("wx", wx);
    v("wy", wy);
    v("ww", ww);
    v("wh", wh);
    v("clamp", clamp);
  }
};

class BoxCoder {
 public:
  explicit BoxCoder(const BoxCoderOptions& options = {});
  // boxes, anchors: [..., 4] xyxy (same shape, same pixels) -> deltas [..., 4] (dx, dy, dw, dh).
  at::Tensor encode(const at::Tensor& boxes, const at::Tensor& anchors) const;
  // deltas: [..., 4], anchors: [..., 4] xyxy broadcastable to deltas -> boxes [..., 4] xyxy.
  // Differentiable in deltas (the GIoU and IoU losses decode during training).
  at::Tensor decode(const at::Tensor& deltas, const at::Tensor& anchors) const;
  const BoxCoderOptions& options() const { return options_; }

 private:
  BoxCoderOptions options_;
};

}  // namespace ms
