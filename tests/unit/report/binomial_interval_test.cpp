#include "report/binomial_interval.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace ms {
namespace {

TEST(BinomialInterval, NormalQuantileMatchesTables) {
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(0.005), -2.575829303548901, 1e-12);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
}

TEST(BinomialInterval, IncompleteBetaMatchesClosedFormsAndScipy) {
  // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
  EXPECT_NEAR(regularized_incomplete_beta(1, 4, 0.3), 1 - std::pow(0.7, 4), 1e-13);
  EXPECT_NEAR(regularized_incomplete_beta(3, 1, 0.6), std::pow(0.6, 3), 1e-13);
  // scipy.special.betainc(2.5, 3.5, 0.3) and betainc(30, 470, 0.07) (scipy 1.10).
  EXPECT_NEAR(regularized_incomplete_beta(2.5, 3.5, 0.3), 0.2967529892956661, 1e-12);
  EXPECT_NEAR(regularized_incomplete_beta(30, 470, 0.07), 0.8292260795575775, 1e-10);
}

TEST(BinomialInterval, WilsonByHand) {
  // 5/100, z = 1.96: centre = (0.05 + 0.019208) / 1.038415 = 0.066648,
  // half = 1.96 * sqrt(0.000475 + 0.000096) / 1.038415 = 0.045105 -> 2.15 % .. 11.18 %.
  const auto w = wilson_interval(5, 100);
  EXPECT_NEAR(w.low, 0.0215436792, 1e-9);
  EXPECT_NEAR(w.high, 0.1117504692, 1e-9);
  // DOMAIN.md anchor: 25/500 -> about 3.3-7.3 %.
  const auto w500 = wilson_interval(25, 500);
  EXPECT_NEAR(w500.low, 0.0340937452, 1e-9);
  EXPECT_NEAR(w500.high, 0.0727681612, 1e-9);
}

TEST(BinomialInterval, ClopperPearsonMatchesDomainAnchors) {
  // DOMAIN.md: 5 % blasts on 100 cells -> about 1.6-11.3 % (the exact interval);
  // reference values from scipy.stats.beta.ppf.
  const auto c = clopper_pearson_interval(5, 100);
  EXPECT_NEAR(c.low, 0.0164318792, 1e-9);
  EXPECT_NEAR(c.high, 0.1128349111, 1e-9);
  const auto c500 = clopper_pearson_interval(25, 500);
  EXPECT_NEAR(c500.low, 0.0326151801, 1e-9);
  EXPECT_NEAR(c500.high, 0.0729276217, 1e-9);
  const auto c3 = clopper_pearson_interval(3, 200);
  EXPECT_NEAR(c3.low, 0.0031041076, 1e-9);
  EXPECT_NEAR(c3.high, 0.0432082819, 1e-9);
}

TEST(BinomialInterval, EdgesAtZeroAndAll) {
  // k = 0: lower bound 0; CP upper = 1 - 0.025^(1/50) = 0.0711217.
  const auto c0 = clopper_pearson_interval(0, 50);
  EXPECT_EQ(c0.low, 0.0);
  EXPECT_NEAR(c0.high, 1 - std::pow(0.025, 1.0 / 50), 1e-10);
  const auto w0 = wilson_interval(0, 50);
  EXPECT_EQ(w0.low, 0.0);
  EXPECT_NEAR(w0.high, 0.0713475991, 1e-9);
  const auto cn = clopper_pearson_interval(50, 50);
  EXPECT_NEAR(cn.low, std::pow(0.025, 1.0 / 50), 1e-10);
  EXPECT_EQ(cn.high, 1.0);
  EXPECT_EQ(wilson_interval(50, 50).high, 1.0);
}

TEST(BinomialInterval, ExactIntervalIsWiderThanWilsonAndContainsTheEstimate) {
  for (int k : {1, 7, 50, 160}) {
    const auto w = wilson_interval(k, 500);
    const auto c = clopper_pearson_interval(k, 500);
    const double p = k / 500.0;
    EXPECT_LT(c.low, w.low) << k;
    EXPECT_LE(w.low, p);
    EXPECT_GE(w.high, p);
    EXPECT_LT(c.low, p);
    EXPECT_GT(c.high, p);
  }
  // A higher level widens the interval.
  EXPECT_LT(wilson_interval(5, 100, 0.99).low, wilson_interval(5, 100, 0.95).low);
}

TEST(BinomialInterval, BadArgumentsThrow) {
  EXPECT_THROW(wilson_interval(5, 0), MarrowError);
  EXPECT_THROW(wilson_interval(6, 5), MarrowError);
  EXPECT_THROW(clopper_pearson_interval(-1, 5), MarrowError);
  EXPECT_THROW(wilson_interval(1, 5, 1.0), MarrowError);
}

}  // namespace
}  // namespace ms
