#pragma once
// ResNet backbone (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) returning
// the C2..C5 feature maps a feature pyramid (Lin et al., CVPR 2017) or a pooled classifier head
// consumes. Depth 18/34 use BasicBlock, 50 uses Bottleneck (expansion 4, stride on the 3x3 conv as
// in torchvision's "ResNet v1.5"). Total stride 32: C2 stride 4, C3 8, C4 16, C5 32.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>

#include "core/config.h"

namespace ms {

enum class NormKind {
  kBatch,   // ordinary BatchNorm2d: trains weights and updates running stats
  kFrozen,  // BatchNorm2d kept in eval mode with weight/bias frozen (fine-tuning from a
            // pretrained backbone with batches too small for stable statistics, as in
            // Detectron/torchvision detection models). From random init it is close to identity.
  kGroup,   // GroupNorm (Wu & He 2018; up to 32 groups of at least 4 channels): normalises each
            // image by its own statistics, so no statistics of the training lab are stored in the
            // network (Tsutsui et al. 2023 found BatchNorm ResNets generalise badly across
            // white-cell datasets). It cannot be folded into the convolutions: such a network runs
            // unfolded, and has no int8 path.
};
const std::vector<std::pair<NormKind, std::string>>& enum_names(NormKind);

struct ResNetOptions {
  int depth = 18;       // 18 | 34 | 50
  float width = 1.0f;   // multiplier on the stage widths 64/128/256/512 (and the stem)
  NormKind norm = NormKind::kBatch;
  // Stages whose parameters get no gradient: 0 none, 1 stem, 2 stem+C2, ... 5 everything.
  int frozen_stages = 0;
  // Zero-init the last BN gamma of each residual branch (Goyal et al. 2017): each block starts
  // as identity, which helps training from scratch.
  bool zero_init_residual = true;
  int in_channels = 3;
  template <class V>
  void visit(V& v) {
    v("depth", depth);
    v("width", width);
    v("norm", norm);
    v("frozen_stages", frozen_stages);
    v("zero_init_residual", zero_init_residual);
    v("in_channels", in_channels);
  }
};

// Throws MarrowError(kInvalidArgument) naming the bad field (depth not 18/34/50, width <= 0, ...).
void validate(const ResNetOptions& o);

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options = {});

  // x: [B, in_channels, H, W] float (normalised pixels). Returns {C2, C3, C4, C5}:
  //   C_l: [B, out_channels()[l-2], ceil(H / 2^l), ceil(W / 2^l)] (for H, W multiples of 32 exact).
  std::vector<at::Tensor> forward(const at::Tensor& x);

  // Channels of C2..C5 (with width 1: 64,128,256,512 for depth 18/34; 256,...,2048 for 50).
  const std::vector<int64_t>& out_channels() const { return out_channels_; }
  const ResNetOptions& options() const { return options_; }

  // False for GroupNorm: nothing to fold, no int8 path (fold_norms_for_inference is then a no-op).
  bool foldable() const { return options_.norm != NormKind::kGroup; }

  // Keeps frozen BatchNorm layers in eval mode whatever `on` is, so their running statistics
  // never move (weights are frozen through requires_grad(false)).
  void train(bool on = true) override;

  // For inference: folds every BatchNorm (its running statistics) into the convolution before it,
  // so forward runs one convolution with a bias per pair instead of a convolution and a separate
  // normalisation pass, and pools the stem in channels-last order (LibTorch's channels-first CPU
  // max-pool is several times slower, most of all on bfloat16). The parameters are not changed:
  // the folded copies are used only in eval mode with gradients off, and train(true) drops them.
  // Where `bf16_copies`, bfloat16 copies are kept too and used under bf16 autocast, so the weights
  // are not cast again on every call. Idempotent; call it after moving the module to its device.
  void fold_norms_for_inference(bool bf16_copies);
  bool norms_folded() const { return folded_ != nullptr; }

  // 8-bit inference of the folded network. An activation range is the [lo, hi] of the values at
  // one point where the int8 path stores a tensor: the input, every convolution's output (after
  // its ReLU when one follows) and every block's output, in forward order.
  using ActivationRanges = std::vector<std::pair<float, float>>;
  // Runs the folded network in float32 on `x` and calls visit(i, values) with the tensor stored at
  // each point i, in order (0 .. activation_points() - 1). Needs fold_norms_for_inference first.
  using ActivationVisitor = std::function<void(size_t point, const at::Tensor& values)>;
  void observe_activations(const at::Tensor& x, const ActivationVisitor& visit) const;
  // observe_activations widening `ranges` (empty: starts them) to cover what it saw.
  void observe_activation_ranges(const at::Tensor& x, ActivationRanges& ranges) const;
  // Quantizes the folded convolutions (int8 weights per output channel, symmetric) and fixes each
  // stored tensor's 8-bit scale from `ranges`; forward then runs int8 inside an int8
  // InferencePrecisionScope (models/runtime.h) and returns float features. With `last_only` only C5
  // is converted back to float (C2..C4 come back undefined): a pooled classifier reads nothing
  // else. Throws when `ranges` does not fit this network (count) or the folding has not been done.
  // CPU only.
  void quantize_for_inference(const ActivationRanges& ranges, bool last_only = false);
  bool quantized() const { return quantized_ != nullptr; }
  // How many ranges this network's int8 path needs.
  size_t activation_points() const;

 private:
  struct Folded;
  struct Quantized;
  // With `visit`: float32, visiting the input and every stored tensor (observe_activations).
  std::vector<at::Tensor> forward_folded(const at::Tensor& x, const ActivationVisitor* visit = nullptr) const;
  std::vector<at::Tensor> forward_int8(const at::Tensor& x) const;

  ResNetOptions options_;
  std::vector<int64_t> out_channels_;
  torch::nn::Sequential stem_{nullptr};         // conv7x7/2, norm, relu, maxpool3x3/2
  std::vector<torch::nn::Sequential> stages_;   // layer1..layer4 -> C2..C5
  std::vector<torch::nn::BatchNorm2d> norms_;   // every norm layer, for the frozen mode
  std::shared_ptr<const Folded> folded_;        // set by fold_norms_for_inference
  std::shared_ptr<const Quantized> quantized_;  // set by quantize_for_inference
  bool int8_last_only_ = false;
};
TORCH_MODULE(ResNet);

// Widens ranges[point] ([lo, hi]) to cover `values`; ranges grows to hold the point, a point seen
// for the first time starting from its values. The one min/max rule of every int8 calibration.
void widen_activation_range(ResNetImpl::ActivationRanges& ranges, size_t point, const at::Tensor& values);

}  // namespace ms
