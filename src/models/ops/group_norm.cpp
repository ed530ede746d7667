#include "models/ops/group_norm.h"

#include <string>

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

int64_t group_norm_groups(int64_t channels, int64_t max_groups, int64_t min_channels_per_group) {
  int64_t g = max_groups;
  while (g > 1 && (channels % g != 0 || channels / g < min_channels_per_group)) g /= 2;
  return g < 1 ? 1 : g;
}

Float32GroupNormImpl::Float32GroupNormImpl(int64_t groups, int64_t channels, double eps)
    : groups_(groups), eps_(eps) {
  MS_CHECK(groups > 0 && channels > 0 && channels % groups == 0,
           "group norm: " + std::to_string(groups) + " groups do not divide " + std::to_string(channels) +
               " channels");
  weight = register_parameter("weight", at::ones({channels}));
  bias = register_parameter("bias", at::zeros({channels}));
}

at::Tensor Float32GroupNormImpl::forward(const at::Tensor& x) {
  return at::group_norm(x.scalar_type() == at::kFloat ? x : x.to(at::kFloat), groups_, weight, bias, eps_);
}

}  // namespace ms
