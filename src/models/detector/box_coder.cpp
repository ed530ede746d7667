#include "models/detector/box_coder.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

BoxCoder::BoxCoder(const BoxCoderOptions& options) : options_(options) {
  if (!(options_.wx > 0 && options_.wy > 0 && options_.ww > 0 && options_.wh > 0 && options_.clamp > 0))
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "box_coder: expected positive weights and clamp, found wx=" +
                          std::to_string(options_.wx) + " wy=" + std::to_string(options_.wy) +
                          " ww=" + std::to_string(options_.ww) + " wh=" + std::to_string(options_.wh) +
                          " clamp=" + std::to_string(options_.clamp));
}

at::Tensor BoxCoder::encode(const at::Tensor& boxes, const at::Tensor& anchors) const {
  MS_CHECK(boxes.size(-1) == 4 && anchors.size(-1) == 4, "encode expects [...,4] boxes and anchors");
  const at::Tensor aw = anchors.select(-1, 2) - anchors.select(-1, 0);
  const at::Tensor ah = anchors.select(-1, 3) - anchors.select(-1, 1);
  const at::Tensor ax = anchors.select(-1, 0) + 0.5 * aw;
  const at::Tensor ay = anchors.select(-1, 1) + 0.5 * ah;
  const at::Tensor gw = boxes.select(-1, 2) - boxes.select(-1, 0);
  const at::Tensor gh = boxes.select(-1, 3) - boxes.select(-1, 1);
  const at::Tensor gx = boxes.select(-1, 0) + 0.5 * gw;
  const at::Tensor gy = boxes.select(-1, 1) + 0.5 * gh;
  return at::stack({options_.wx * (gx - ax) / aw, options_.wy * (gy - ay) / ah,
                    options_.ww * at::log(gw / aw), options_.wh * at::log(gh / ah)},
                   -1);
}

at::Tensor BoxCoder::decode(const at::Tensor& deltas, const at::Tensor& anchors) const {
  MS_CHECK(deltas.size(-1) == 4 && anchors.size(-1) == 4, "decode expects [...,4] deltas and anchors");
  const at::Tensor a = anchors.to(deltas.dtype());
  const at::Tensor aw = a.select(-1, 2) - a.select(-1, 0);
  const at::Tensor ah = a.select(-1, 3) - a.select(-1, 1);
  const at::Tensor ax = a.select(-1, 0) + 0.5 * aw;
  const at::Tensor ay = a.select(-1, 1) + 0.5 * ah;
  const at::Tensor dx = deltas.select(-1, 0) / options_.wx;
  const at::Tensor dy = deltas.select(-1, 1) / options_.wy;
  const at::Tensor dw = at::clamp_max(deltas.select(-1, 2) / options_.ww, options_.clamp);
  const at::Tensor dh = at::clamp_max(deltas.select(-1, 3) / options_.wh, options_.clamp);
  const at::Tensor cx = dx * aw + ax, cy = dy * ah + ay;
  const at::Tensor w = at::exp(dw) * aw, h = at::exp(dh) * ah;
  return at::stack({cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h}, -1);
}

}  // namespace ms
