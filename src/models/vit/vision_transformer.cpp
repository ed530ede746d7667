#include "models/vit/vision_transformer.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/functional.h>
#include <torch/nn/init.h>

#include "core/error.h"

namespace ms {

at::Tensor sincos_position_embedding(int grid, int dim) {
  MS_CHECK(dim % 4 == 0, "sinusoidal position embedding needs dim divisible by 4, got " +
                             std::to_string(dim));
  const int q = dim / 4;
  auto omega = 1.0 / at::pow(10000.0, at::arange(q, at::kDouble) / q);              // [q]
  auto coords = at::arange(grid, at::kDouble);
  auto ys = coords.repeat_interleave(grid), xs = coords.repeat({grid});             // row-major
  auto ox = at::outer(xs, omega), oy = at::outer(ys, omega);                        // [G*G,q]
  return at::cat({at::sin(ox), at::cos(ox), at::sin(oy), at::cos(oy)}, 1).to(at::kFloat);
}

VisionTransformerImpl::VisionTransformerImpl(const VitOptions& o, int image_size, int num_classes)
    : options_(o), image_size_(image_size) {
  MS_CHECK(num_classes >= 2, "classifier needs at least 2 classes");
  MS_CHECK(o.depth >= 1, "vision transformer needs at least one block");
  MS_CHECK(!o.part_selection || o.depth >= 2, "part selection needs depth >= 2");
  const int dim = o.patch.dim;
  grid_ = patch_grid_side(o.patch, image_size);
  patch_embed_ = register_module("patch_embed", PatchEmbed(o.patch));
  cls_token_ = register_parameter("cls_token", at::zeros({1, 1, dim}));
  vit_trunc_normal_(cls_token_, 0.02);
  if (o.position == PositionEmbedding::kLearned) {
    pos_embed_ = register_parameter("pos_embed", at::zeros({1, grid_ * grid_ + 1, dim}));
    vit_trunc_normal_(pos_embed_, 0.02);
  } else {
    auto pe = at::cat({at::zeros({1, dim}), sincos_position_embedding(grid_, dim)}, 0);
    pos_embed_ = register_buffer("pos_embed", pe.unsqueeze(0));
  }
  for (int i = 0; i < o.depth; ++i) {
    EncoderBlockOptions bo;
    bo.dim = dim;
    bo.heads = o.heads;
    bo.mlp_ratio = o.mlp_ratio;
    bo.dropout = o.dropout;
    bo.attn_dropout = o.attn_dropout;
    bo.drop_path = o.depth > 1 ? o.drop_path * i / (o.depth - 1) : 0.f;
    bo.pre_norm = o.pre_norm;
    blocks_.push_back(register_module("block" + std::to_string(i), EncoderBlock(bo)));
  }
  if (o.part_selection)
    part_selection_ = register_module(
        "part_selection", PartSelection(PartSelectionOptions{o.depth - 1, o.heads, 0}));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  head_ = register_module("head", torch::nn::Linear(dim, num_classes));
  vit_trunc_normal_(head_->weight, 0.02);
  torch::nn::init::zeros_(head_->bias);
}

ClassifierOutput VisionTransformerImpl::forward(const at::Tensor& images) {
  MS_CHECK(images.dim() == 4 && images.size(2) == image_size_ && images.size(3) == image_size_,
           "vision transformer expects [B,3," + std::to_string(image_size_) + "," +
               std::to_string(image_size_) + "] images");
  ClassifierOutput out;
  out.grid = grid_;
  auto x = patch_embed_->forward(images);                                   // [B,G*G,D]
  x = at::cat({cls_token_.expand({x.size(0), -1, -1}), x}, 1) + pos_embed_;  // [B,N,D]
  x = torch::nn::functional::dropout(
      x, torch::nn::functional::DropoutFuncOptions().p(options_.dropout).training(is_training()));
  const int last = options_.depth - 1;
  for (int i = 0; i < last; ++i) {
    auto r = blocks_[i]->forward(x);
    x = r.tokens;
    out.attentions.push_back(r.attention);
  }
  if (part_selection_) {
    auto sel = part_selection_->forward(out.attentions);
    x = part_selection_->gather(x, sel);  // [B,1+h,D]
    out.selected = sel.indices;
  }
  auto r = blocks_[last]->forward(x);
  out.attentions.push_back(r.attention);
  out.embedding = norm_->forward(r.tokens.select(1, 0));  // class token [B,D]
  out.logits = head_->forward(out.embedding);
  return out;
}

}  // namespace ms
