#pragma once
// A two-component one-dimensional Gaussian mixture fitted by expectation-maximisation, the model
// PAA fits to the losses of a box's candidate anchors (Kim & Lee, ECCV 2020, sec. 3.1). The fit
// follows scikit-learn's GaussianMixture as the PAA authors call it, so both give the same numbers:
//   - deterministic start: weights (0.5, 0.5), means (min x, max x), variances (1, 1);
//   - each iteration: E-step (responsibilities and the mean log-likelihood), then M-step
//       N_k = sum_i r_ik + 10 * DBL_EPSILON, mean_k = sum_i r_ik x_i / N_k,
//       var_k = sum_i r_ik (x_i - mean_k)^2 / N_k + reg_covar, weight_k = N_k / (N_0 + N_1);
//   - stop when the mean log-likelihood of the E-step changed by less than tolerance, or after
//     max_iterations.
#include <array>
#include <vector>

namespace ms {

struct GaussianMixtureOptions {
  int max_iterations = 100;
  double tolerance = 1e-3;   // on the change of the mean log-likelihood per sample
  double reg_covar = 1e-6;   // added to every variance so a component of equal values stays finite
};

struct TwoGaussianMixture {
  std::array<double, 2> weight{};
  std::array<double, 2> mean{};
  std::array<double, 2> variance{};
  int iterations = 0;      // EM iterations run
  bool converged = false;  // stopped on the tolerance, not on max_iterations

  // log(weight_k * N(x; mean_k, variance_k)) for k = 0, 1.
  std::array<double, 2> log_weighted_density(double x) const;
  // log of the mixture density at x (scikit-learn's score_samples).
  double log_density(double x) const;
  // The component with the larger posterior at x; 0 on a tie (scikit-learn's predict).
  int component(double x) const;
};

// Fits the mixture to x (at least one value, all finite). Throws MarrowError otherwise.
TwoGaussianMixture fit_two_gaussians(const std::vector<double>& x, const GaussianMixtureOptions& options = {});

}  // namespace ms
