// The CPU inference precision: its setting, and a bf16 scope that runs convolutions in bfloat16
// and leaves the thread as it found it.
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/runtime.h"

namespace ms {
namespace {

struct EnvGuard {
  explicit EnvGuard(const char* v) {
    if (const char* old = std::getenv("MARROWSCOPE_PRECISION")) saved = old, had = true;
    if (v) setenv("MARROWSCOPE_PRECISION", v, 1);
    else unsetenv("MARROWSCOPE_PRECISION");
  }
  ~EnvGuard() {
    if (had) setenv("MARROWSCOPE_PRECISION", saved.c_str(), 1);
    else unsetenv("MARROWSCOPE_PRECISION");
  }
  std::string saved;
  bool had = false;
};

TEST(InferencePrecision, SettingAndDefault) {
  {
    EnvGuard e("fp32");
    EXPECT_EQ(inference_precision(), Precision::kFp32);
    EXPECT_EQ(detector_inference_precision(), Precision::kFp32);
  }
  {
    EnvGuard e("bf16");
    EXPECT_EQ(inference_precision(), Precision::kBf16);
    EXPECT_EQ(detector_inference_precision(), Precision::kBf16);
  }
  {
    EnvGuard e(nullptr);
    EXPECT_EQ(inference_precision(), cpu_has_native_bf16() ? Precision::kBf16 : Precision::kFp32);
    EXPECT_EQ(detector_inference_precision(), inference_precision());
  }
  {
    EnvGuard e("auto");
    EXPECT_EQ(inference_precision(), cpu_has_native_bf16() ? Precision::kBf16 : Precision::kFp32);
  }
  EnvGuard e("float16");
  try {
    inference_precision();
    FAIL() << "an unknown precision must be an error";
  } catch (const MarrowError& err) {
    EXPECT_NE(std::string(err.what()).find("float16"), std::string::npos) << err.what();
  }
  EXPECT_EQ(precision_name(Precision::kBf16), "bf16");
}

TEST(InferencePrecision, Bf16ScopeRunsConvolutionsInBfloat16AndRestores) {
  at::manual_seed(0);
  const auto x = at::randn({2, 8, 12, 12});
  const auto w = at::randn({4, 8, 3, 3});
  const auto exact = at::conv2d(x, w);
  ASSERT_FALSE(at::autocast::is_cpu_enabled());
  {
    const InferencePrecisionScope fp32(Precision::kFp32);
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
  }
  {
    const InferencePrecisionScope bf16(Precision::kBf16);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    const auto y = at::conv2d(x, w);
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    // bfloat16 keeps 8 bits of mantissa: close to the float32 result, not equal to it.
    const double err = (y.to(at::kFloat) - exact).abs().max().item<double>();
    EXPECT_GT(err, 0.0);
    EXPECT_LT(err, 0.05 * exact.abs().max().item<double>());
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace ms
