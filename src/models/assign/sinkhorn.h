#pragma once
// Entropy-regularised optimal transport by Sinkhorn-Knopp iterations (Cuturi, "Sinkhorn
// Distances", NeurIPS 2013), in the log domain so costs of 1e5 (OTA's forbidden pairs) cannot
// underflow. The update order (columns first) and the fixed iteration count follow the OTA
// authors' SinkhornDistance (Ge et al., CVPR 2021).
#include <ATen/ATen.h>

namespace ms {

struct SinkhornOptions {
  double epsilon = 0.1;  // entropic regularisation, in cost units
  int iterations = 50;
};

// cost: [M,N]; supply: [M] (> 0); demand: [N] (> 0); supply.sum() should equal demand.sum().
// Returns the transport plan [M,N] (float64, on cost's device): rows sum to supply and columns to
// demand up to the convergence reached in `iterations`.
at::Tensor sinkhorn(const at::Tensor& cost, const at::Tensor& supply, const at::Tensor& demand,
                    const SinkhornOptions& options = {});

}  // namespace ms
