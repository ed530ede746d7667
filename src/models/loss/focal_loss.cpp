#include "models/loss/focal_loss.h"

#include <ATen/ATen.h>

namespace ms {

at::Tensor sigmoid_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha,
                              double gamma) {
  const at::Tensor p = at::sigmoid(logits);
  const at::Tensor ce = at::binary_cross_entropy_with_logits(logits, targets, {}, {}, at::Reduction::None);
  const at::Tensor p_t = p * targets + (1 - p) * (1 - targets);
  at::Tensor loss = ce * at::pow(1 - p_t, gamma);
  if (alpha >= 0) loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss;
  return loss;
}

}  // namespace ms
