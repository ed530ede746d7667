#pragma once
// Two-sided confidence intervals for a binomial proportion, used for the blast percentage: a
// count of k blasts among n cells is a sample, and on 100 cells 5% could well be 2% or 11%
// (DOMAIN.md "Counting targets"; ICSH, Lee et al., Int J Lab Hematol 2008;30:349).
#include <string>
#include <utility>
#include <vector>

namespace ms {

enum class IntervalMethod { kWilson, kClopperPearson };
const std::vector<std::pair<IntervalMethod, std::string>>& enum_names(IntervalMethod);

// A proportion interval, as fractions in [0, 1].
struct ProportionInterval {
  double low = 0;
  double high = 0;
  template <class V>
  void visit(V& v) {
    v("low", low);
    v("high", high);
  }
};

// Wilson score interval (Wilson, JASA 1927;22:209) for k successes in n trials at the two-sided
// level `confidence`. Behaves well near 0 and for small n, unlike the Wald interval.
// Requires 0 <= k <= n, n > 0, 0 < confidence < 1 (throws MarrowError otherwise).
ProportionInterval wilson_interval(int k, int n, double confidence = 0.95);

// Clopper-Pearson "exact" interval (Biometrika 1934;26:404): the beta quantiles
// B(alpha/2; k, n-k+1) and B(1-alpha/2; k+1, n-k). Conservative (coverage >= the level).
ProportionInterval clopper_pearson_interval(int k, int n, double confidence = 0.95);

ProportionInterval proportion_interval(IntervalMethod method, int k, int n,
                                       double confidence = 0.95);

// Regularised incomplete beta function I_x(a, b), a, b > 0, x in [0, 1] (exposed for tests).
double regularized_incomplete_beta(double a, double b, double x);
// The standard normal quantile, p in (0, 1) (exposed for tests).
double normal_quantile(double p);

}  // namespace ms
