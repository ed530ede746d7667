#pragma once
// GroupNorm (Wu & He 2018) that normalises in float32 whatever its input: LibTorch 1.13's CPU group
// norm has no kernel for a bfloat16 input with float32 parameters, which is what bf16 autocast
// hands it; the next convolution casts down again. One module for every network that uses group
// norm (the classifier's ResNet, the detector head's towers). Parameters "weight" (ones) and
// "bias" (zeros), as torch.nn.GroupNorm names them, so state dicts and the PyTorch mirrors match.
#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace ms {

// The largest group count <= max_groups, halving from it, that divides `channels` into groups of
// at least min_channels_per_group (1 when none does).
int64_t group_norm_groups(int64_t channels, int64_t max_groups, int64_t min_channels_per_group);

class Float32GroupNormImpl : public torch::nn::Module {
 public:
  // groups must divide channels (a broken invariant otherwise: MarrowError).
  Float32GroupNormImpl(int64_t groups, int64_t channels, double eps = 1e-5);
  at::Tensor forward(const at::Tensor& x);
  int64_t groups() const { return groups_; }
  at::Tensor weight, bias;

 private:
  int64_t groups_;
  double eps_;
};
TORCH_MODULE(Float32GroupNorm);

}  // namespace ms
