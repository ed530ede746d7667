#include "models/assign/gaussian_mixture.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/error.h"

namespace ms {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;  // log(2 pi)

double log_sum_exp(const std::array<double, 2>& v) {
  const double m = std::max(v[0], v[1]);
  if (!std::isfinite(m)) return m;
  return m + std::log(std::exp(v[0] - m) + std::exp(v[1] - m));
}

}  // namespace

std::array<double, 2> TwoGaussianMixture::log_weighted_density(double x) const {
  std::array<double, 2> out{};
  for (int k = 0; k < 2; ++k) {
    const double d = x - mean[k];
    out[k] = std::log(weight[k]) - 0.5 * (kLog2Pi + std::log(variance[k]) + d * d / variance[k]);
  }
  return out;
}

double TwoGaussianMixture::log_density(double x) const { return log_sum_exp(log_weighted_density(x)); }

int TwoGaussianMixture::component(double x) const {
  const auto l = log_weighted_density(x);
  return l[1] > l[0] ? 1 : 0;
}

TwoGaussianMixture fit_two_gaussians(const std::vector<double>& x, const GaussianMixtureOptions& options) {
  MS_CHECK(!x.empty(), "fit_two_gaussians: no values");
  MS_CHECK(options.max_iterations >= 1, "fit_two_gaussians: max_iterations must be at least 1");
  MS_CHECK(options.reg_covar > 0, "fit_two_gaussians: reg_covar must be positive");
  for (double v : x) MS_CHECK(std::isfinite(v), "fit_two_gaussians: values must be finite");
  const auto n = x.size();
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());

  TwoGaussianMixture g;
  g.weight = {0.5, 0.5};
  g.mean = {*lo, *hi};
  g.variance = {1.0, 1.0};

  std::vector<std::array<double, 2>> resp(n);
  double previous = -INFINITY;
  for (int it = 1; it <= options.max_iterations; ++it) {
    // E-step: responsibilities and the mean log-likelihood under the current parameters.
    double log_likelihood = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto l = g.log_weighted_density(x[i]);
      const double norm = log_sum_exp(l);
      log_likelihood += norm;
      resp[i] = {std::exp(l[0] - norm), std::exp(l[1] - norm)};
    }
    log_likelihood /= static_cast<double>(n);
    // M-step.
    std::array<double, 2> nks{};
    for (int k = 0; k < 2; ++k) {
      double nk = 10 * DBL_EPSILON, sx = 0;
      for (size_t i = 0; i < n; ++i) {
        nk += resp[i][k];
        sx += resp[i][k] * x[i];
      }
      const double mean = sx / nk;
      double sxx = 0;
      for (size_t i = 0; i < n; ++i) sxx += resp[i][k] * (x[i] - mean) * (x[i] - mean);
      g.mean[k] = mean;
      g.variance[k] = sxx / nk + options.reg_covar;
      nks[k] = nk;
    }
    for (int k = 0; k < 2; ++k) g.weight[k] = nks[k] / (nks[0] + nks[1]);
    g.iterations = it;
    if (std::abs(log_likelihood - previous) < options.tolerance) {
      g.converged = true;
      break;
    }
    previous = log_likelihood;
  }
  return g;
}

}  // namespace ms
