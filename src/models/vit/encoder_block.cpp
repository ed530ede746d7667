#include "models/vit/encoder_block.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/functional.h>

#include "core/error.h"

namespace ms {

namespace F = torch::nn::functional;

void vit_trunc_normal_(at::Tensor t, double std) {
  at::NoGradGuard no_grad;
  t.normal_(0.0, std).clamp_(-2 * std, 2 * std);
}

EncoderBlockImpl::EncoderBlockImpl(const EncoderBlockOptions& o) : options_(o) {
  MS_CHECK(o.dim > 0 && o.heads > 0 && o.dim % o.heads == 0,
           "encoder block: dim " + std::to_string(o.dim) + " must be a multiple of heads " +
               std::to_string(o.heads));
  const int hidden = static_cast<int>(std::lround(o.mlp_ratio * o.dim));
  MS_CHECK(hidden > 0, "encoder block: mlp_ratio must be positive");
  in_proj_ = register_module("in_proj", torch::nn::Linear(o.dim, 3 * o.dim));
  out_proj_ = register_module("out_proj", torch::nn::Linear(o.dim, o.dim));
  linear1_ = register_module("linear1", torch::nn::Linear(o.dim, hidden));
  linear2_ = register_module("linear2", torch::nn::Linear(hidden, o.dim));
  auto ln = torch::nn::LayerNormOptions({o.dim}).eps(o.layer_norm_eps);
  norm1_ = register_module("norm1", torch::nn::LayerNorm(ln));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(ln));
  // ViT initialisation (timm): truncated-normal-like small weights, zero biases.
  for (auto* l : {&in_proj_, &out_proj_, &linear1_, &linear2_}) {
    vit_trunc_normal_((*l)->weight, 0.02);
    torch::nn::init::zeros_((*l)->bias);
  }
}

std::pair<at::Tensor, at::Tensor> EncoderBlockImpl::self_attention(const at::Tensor& x) {
  const auto b = x.size(0), n = x.size(1);
  const int h = options_.heads, hd = options_.dim / options_.heads;
  // [B,N,3D] -> 3 x [B,h,N,hd]; q, k, v are consecutive D-wide slices as in in_proj_weight.
  auto qkv = in_proj_->forward(x).view({b, n, 3, h, hd}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  // Scaled dot-product attention: softmax(q k^T / sqrt(hd)).
  auto scores = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  auto attn = at::softmax(scores, -1);
  auto attn_used = F::dropout(attn, F::DropoutFuncOptions().p(options_.attn_dropout).training(is_training()));
  auto out = at::matmul(attn_used, v).transpose(1, 2).reshape({b, n, options_.dim});
  return {out_proj_->forward(out), attn};
}

at::Tensor EncoderBlockImpl::mlp(const at::Tensor& x) {
  auto drop = F::DropoutFuncOptions().p(options_.dropout).training(is_training());
  auto y = F::dropout(at::gelu(linear1_->forward(x)), drop);
  return F::dropout(linear2_->forward(y), drop);
}

at::Tensor EncoderBlockImpl::drop_path(const at::Tensor& branch) {
  if (!is_training() || options_.drop_path <= 0.f) return branch;
  // One Bernoulli draw per sample; surviving branches are rescaled to keep the expectation.
  const double keep = 1.0 - options_.drop_path;
  auto mask = at::empty({branch.size(0), 1, 1}, branch.options()).bernoulli_(keep);
  return branch * mask / keep;
}

EncoderBlockOutput EncoderBlockImpl::forward(const at::Tensor& tokens) {
  MS_CHECK(tokens.dim() == 3 && tokens.size(2) == options_.dim,
           "encoder block expects [B,N," + std::to_string(options_.dim) + "] tokens");
  auto drop = F::DropoutFuncOptions().p(options_.dropout).training(is_training());
  at::Tensor x = tokens, attn;
  if (options_.pre_norm) {
    auto [a, w] = self_attention(norm1_->forward(x));
    attn = w;
    x = x + drop_path(F::dropout(a, drop));
    x = x + drop_path(mlp(norm2_->forward(x)));
  } else {
    auto [a, w] = self_attention(x);
    attn = w;
    x = norm1_->forward(x + drop_path(F::dropout(a, drop)));
    x = norm2_->forward(x + drop_path(mlp(x)));
  }
  return {x, attn};
}

}  // namespace ms
