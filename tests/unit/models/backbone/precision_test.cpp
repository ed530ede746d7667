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
  const Precision without_int8 = cpu_has_native_bf16() ? Precision::kBf16 : Precision::kFp32;
  for (const char* v : {static_cast<const char*>(nullptr), "auto", "int8"}) {
    // auto and int8 ask for int8: a model with a calibration gets it where the CPU can run it,
    // one without (and a detector in training) bf16 where native, else fp32.
    EnvGuard e(v);
    EXPECT_EQ(inference_precision(), Precision::kInt8) << (v ? v : "unset");
    EXPECT_EQ(usable_precision(inference_precision(), true),
              cpu_has_int8_dot_products() ? Precision::kInt8 : without_int8);
    EXPECT_EQ(usable_precision(inference_precision(), false), without_int8);
    EXPECT_EQ(detector_inference_precision(), without_int8);
  }
  {
    // Asked for explicitly, bf16 and fp32 are used whatever calibration a model has.
    EnvGuard e("bf16");
    EXPECT_EQ(usable_precision(inference_precision(), true), Precision::kBf16);
  }
  EnvGuard e("float16");
  try {
    inference_precision();
    FAIL() << "an unknown precision must be an error";
  } catch (const MarrowError& err) {
    EXPECT_NE(std::string(err.what()).find("float16"), std::string::npos) << err.what();
  }
  EXPECT_EQ(precision_name(Precision::kBf16), "bf16");
  EXPECT_EQ(precision_name(Precision::kInt8), "int8");
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
