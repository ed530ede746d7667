#pragma once
// Contrastive loss on class tokens (thesis 5.2.4; TransFG, He et al., AAAI 2022, eq. 9): pull
// the normalised class tokens of one class together and push different classes below a cosine
// margin, so similar-looking sub-classes (band vs segmented neutrophil, myelocyte vs
// metamyelocyte) separate:
//   L = 1/B^2 * sum_{i,j} [ y_i == y_j ? 1 - cos(z_i, z_j) : max(cos(z_i, z_j) - margin, 0) ]
#include <ATen/core/Tensor.h>

namespace ms {

// embeddings: [B,D] float (need not be normalised); labels: [B] int64. Returns a scalar.
at::Tensor contrastive_loss(const at::Tensor& embeddings, const at::Tensor& labels,
                            double margin = 0.4);

}  // namespace ms
