#pragma once
// One Transformer encoder block (Vaswani et al. 2017; ViT, Dosovitskiy et al. 2021): multi-head
// self-attention and an MLP, each with a residual connection and LayerNorm, pre-norm (ViT) or
// post-norm (the original Transformer). Unlike torch::nn::TransformerEncoderLayer it returns the
// attention probabilities, which part selection (thesis 5.2.3) and `explain` need.
//
// Parameter names follow torch.nn.TransformerEncoderLayer (in_proj = self_attn.in_proj_*,
// out_proj, linear1, linear2, norm1, norm2), so its weights load one-to-one (golden test).
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace ms {

// In-place N(0, std^2) truncated at +-2 std (timm's ViT initialisation; LibTorch 1.13 has no
// trunc_normal_). Values beyond the cut are clamped, which for 2 std moves under 5% of them.
void vit_trunc_normal_(at::Tensor t, double std);

struct EncoderBlockOptions {
  int dim = 192;
  int heads = 3;
  float mlp_ratio = 4.f;       // hidden width of the MLP = mlp_ratio * dim
  float dropout = 0.f;         // after attention output and inside the MLP
  float attn_dropout = 0.f;    // on the attention probabilities
  float drop_path = 0.f;       // stochastic depth (Huang et al. 2016): drop the residual branch
  bool pre_norm = true;        // LayerNorm before (ViT) or after (post-norm) each sub-layer
  float layer_norm_eps = 1e-5f;
};

struct EncoderBlockOutput {
  at::Tensor tokens;     // [B,N,D]
  at::Tensor attention;  // [B,heads,N,N]; rows (last dim) sum to 1
};

class EncoderBlockImpl : public torch::nn::Module {
 public:
  explicit EncoderBlockImpl(const EncoderBlockOptions& o);
  // tokens: [B,N,D] -> same shape, plus the attention probabilities.
  EncoderBlockOutput forward(const at::Tensor& tokens);
  const EncoderBlockOptions& options() const { return options_; }

 private:
  // x: [B,N,D] -> (output [B,N,D], attention [B,h,N,N])
  std::pair<at::Tensor, at::Tensor> self_attention(const at::Tensor& x);
  at::Tensor mlp(const at::Tensor& x);
  at::Tensor drop_path(const at::Tensor& branch);

  EncoderBlockOptions options_;
  torch::nn::Linear in_proj_{nullptr}, out_proj_{nullptr}, linear1_{nullptr}, linear2_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
};
TORCH_MODULE(EncoderBlock);

}  // namespace ms
