#include "models/vit/contrastive_loss.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

at::Tensor contrastive_loss(const at::Tensor& embeddings, const at::Tensor& labels, double margin) {
  MS_CHECK(embeddings.dim() == 2 && labels.dim() == 1 && labels.size(0) == embeddings.size(0),
           "contrastive_loss expects embeddings [B,D] and labels [B]");
  const auto b = embeddings.size(0);
  auto z = embeddings / embeddings.norm(2, 1, true).clamp_min(1e-12);
  auto cos = at::matmul(z, z.t());                                   // [B,B]
  auto same = labels.unsqueeze(0).eq(labels.unsqueeze(1));           // [B,B] bool
  auto pos = 1 - cos;
  auto neg = at::clamp_min(cos - margin, 0);
  return at::where(same, pos, neg).sum() / static_cast<double>(b * b);
}

}  // namespace ms
