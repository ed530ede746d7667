#include "models/assign/sinkhorn.h"

#include "core/error.h"

namespace ms {

at::Tensor sinkhorn(const at::Tensor& cost, const at::Tensor& supply, const at::Tensor& demand,
                    const SinkhornOptions& options) {
  MS_CHECK(cost.dim() == 2, "sinkhorn: cost must be 2-D");
  MS_CHECK(supply.numel() == cost.size(0) && demand.numel() == cost.size(1),
           "sinkhorn: marginals must match the cost matrix");
  MS_CHECK(options.epsilon > 0, "sinkhorn: epsilon must be positive");
  const auto c = cost.to(at::kDouble);
  const auto log_mu = supply.to(at::kDouble).clamp_min(1e-300).log();
  const auto log_nu = demand.to(at::kDouble).clamp_min(1e-300).log();
  const double eps = options.epsilon;
  // Dual potentials f (rows) and g (columns); plan = exp((f_i + g_j - C_ij) / eps).
  auto f = at::zeros_like(log_mu);
  auto g = at::zeros_like(log_nu);
  const auto neg_c = -c / eps;
  for (int it = 0; it < options.iterations; ++it) {
    g = eps * (log_nu - at::logsumexp(neg_c + (f / eps).unsqueeze(1), 0));
    f = eps * (log_mu - at::logsumexp(neg_c + (g / eps).unsqueeze(0), 1));
  }
  return at::exp(neg_c + (f / eps).unsqueeze(1) + (g / eps).unsqueeze(0));
}

}  // namespace ms
