#pragma once
// Patch embedding for the Vision Transformer (Dosovitskiy et al., ICLR 2021) with overlapping
// patches (thesis 5.2.1: patch 16, stride 12, so neighbouring patches share a border and a cell
// edge is never cut in two) and an optional convolutional stem (Xiao et al., "Early Convolutions
// Help Transformers See Better", NeurIPS 2021): a few 3x3 stride-2 convolutions before the patch
// projection make a ViT trained from scratch on a few thousand images converge much faster.
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

namespace ms {

struct PatchEmbedOptions {
  int in_channels = 3;
  int dim = 192;        // token width D
  int patch = 16;       // P: kernel of the projection, pixels of the stem output
  int stride = 12;      // S <= P; S < P overlaps neighbouring patches
  // Output channels of each 3x3 stride-2 conv + BN + ReLU of the stem; empty = no stem (the
  // projection sees the image directly, as in the original ViT).
  std::vector<int> stem_channels{};
  template <class V>
  void visit(V& v) {
    v("dim", dim); v("patch", patch); v("stride", stride); v("stem_channels", stem_channels);
  }
};

// Side of the token grid for a square image of `image_size` pixels:
// floor((image_size / 2^stem_layers - P) / S) + 1. Throws when the image is too small.
int patch_grid_side(const PatchEmbedOptions& o, int image_size);

class PatchEmbedImpl : public torch::nn::Module {
 public:
  explicit PatchEmbedImpl(const PatchEmbedOptions& o);
  // images: [B,C,H,W] float -> tokens [B, G*G, D] in row-major grid order (G = patch_grid_side).
  at::Tensor forward(const at::Tensor& images);
  const PatchEmbedOptions& options() const { return options_; }

 private:
  PatchEmbedOptions options_;
  torch::nn::Sequential stem_{nullptr};
  torch::nn::Conv2d proj_{nullptr};
};
TORCH_MODULE(PatchEmbed);

}  // namespace ms
