#pragma once
// MARROWSCOPE_PRECISION set for one scope and put back as it was when the scope ends: ctest runs
// every suite with fp32, and a test that leaves it changed would run the later tests of its
// binary in another precision.
#include <cstdlib>
#include <optional>
#include <string>

namespace ms::testing {

class PrecisionEnv {
 public:
  explicit PrecisionEnv(const char* value) {
    if (const char* v = std::getenv("MARROWSCOPE_PRECISION")) saved_ = v;
    if (value) setenv("MARROWSCOPE_PRECISION", value, 1);
    else unsetenv("MARROWSCOPE_PRECISION");
  }
  ~PrecisionEnv() {
    if (saved_) setenv("MARROWSCOPE_PRECISION", saved_->c_str(), 1);
    else unsetenv("MARROWSCOPE_PRECISION");
  }
  PrecisionEnv(const PrecisionEnv&) = delete;
  PrecisionEnv& operator=(const PrecisionEnv&) = delete;

 private:
  std::optional<std::string> saved_;
};

}  // namespace ms::testing
