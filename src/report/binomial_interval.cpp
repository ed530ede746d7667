#include "report/binomial_interval.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ms {

const std::vector<std::pair<IntervalMethod, std::string>>& enum_names(IntervalMethod) {
  static const std::vector<std::pair<IntervalMethod, std::string>> names{
      {IntervalMethod::kWilson, "wilson"}, {IntervalMethod::kClopperPearson, "clopper_pearson"}};
  return names;
}

namespace {

void check_arguments(int k, int n, double confidence) {
  MS_CHECK(n > 0 && k >= 0 && k <= n, "binomial interval needs 0 <= k <= n, n > 0; got k=" +
                                          std::to_string(k) + ", n=" + std::to_string(n));
  MS_CHECK(confidence > 0 && confidence < 1,
           "confidence must lie in (0, 1); got " + std::to_string(confidence));
}

// Continued fraction for I_x(a, b), modified Lentz method (Press et al., Numerical Recipes,
// 3rd ed., section 6.4, "betacf"). Converges quickly for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIterations = 1000;
  constexpr double kEpsilon = 1e-15;
  constexpr double kTiny = 1e-300;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEpsilon) break;
  }
  return h;
}

// The x with I_x(a, b) = p, by bisection: I_x is increasing in x, and 200 halvings of [0, 1]
// reach double precision without the failure modes of Newton steps near 0 and 1.
double beta_quantile(double p, double a, double b) {
  double lo = 0, hi = 1;
  for (int i = 0; i < 200 && hi - lo > 1e-16; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (regularized_incomplete_beta(a, b, mid) < p)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  MS_CHECK(a > 0 && b > 0 && x >= 0 && x <= 1, "regularized_incomplete_beta: a, b > 0, x in [0,1]");
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double normal_quantile(double p) {
  MS_CHECK(p > 0 && p < 1, "normal_quantile: p must lie in (0, 1)");
  // Acklam's rational approximation (relative error 1.15e-9), then one Halley step on
  // Phi(x) - p, which brings it to full double precision.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  constexpr double kPi = 3.14159265358979323846;
  double x;
  if (p < kLow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * kPi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

ProportionInterval wilson_interval(int k, int n, double confidence) {
  check_arguments(k, n, confidence);
  const double z = normal_quantile(1 - (1 - confidence) / 2);
  const double p = static_cast<double>(k) / n, z2n = z * z / n;
  const double centre = (p + z2n / 2) / (1 + z2n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2n / (4.0 * n)) / (1 + z2n);
  // At k = 0 or k = n the formula gives the bound exactly up to rounding; clamp the rest.
  return {k == 0 ? 0.0 : std::max(0.0, centre - half), k == n ? 1.0 : std::min(1.0, centre + half)};
}

ProportionInterval clopper_pearson_interval(int k, int n, double confidence) {
  check_arguments(k, n, confidence);
  const double alpha = 1 - confidence;
  const double low = k == 0 ? 0.0 : beta_quantile(alpha / 2, k, n - k + 1);
  const double high = k == n ? 1.0 : beta_quantile(1 - alpha / 2, k + 1, n - k);
  return {low, high};
}

ProportionInterval proportion_interval(IntervalMethod method, int k, int n, double confidence) {
  return method == IntervalMethod::kWilson ? wilson_interval(k, n, confidence)
                                           : clopper_pearson_interval(k, n, confidence);
}

}  // namespace ms
