#pragma once
// The thesis's improved Vision Transformer for single-cell crops (ch. 5): overlapping patch
// embedding (5.2.1), class token + position embedding, L encoder blocks returning attention
// maps, sparse-attention part selection before the last block (5.2.3) and a linear head on the
// class token. The contrastive loss (5.2.4) lives in contrastive_loss.h and uses `embedding`.
#include <string>
#include <utility>
#include <vector>

#include "models/classifier/classifier_net.h"
#include "models/vit/encoder_block.h"
#include "models/vit/part_selection.h"
#include "models/vit/patch_embed.h"

namespace ms {

enum class PositionEmbedding { kLearned, kSinusoidal };
inline const std::vector<std::pair<PositionEmbedding, std::string>>& enum_names(PositionEmbedding) {
  static const std::vector<std::pair<PositionEmbedding, std::string>> n{
      {PositionEmbedding::kLearned, "learned"}, {PositionEmbedding::kSinusoidal, "sinusoidal"}};
  return n;
}

struct VitOptions {
  PatchEmbedOptions patch;
  int depth = 6;
  int heads = 3;
  float mlp_ratio = 4.f;
  float dropout = 0.f;
  float attn_dropout = 0.f;
  float drop_path = 0.1f;   // stochastic depth rate of the last block (linear in depth)
  bool pre_norm = true;
  PositionEmbedding position = PositionEmbedding::kLearned;
  bool part_selection = true;
  template <class V>
  void visit(V& v) {
    v("patch", patch); v("depth", depth); v("heads", heads); v("mlp_ratio", mlp_ratio);
    v("dropout", dropout); v("attn_dropout", attn_dropout); v("drop_path", drop_path);
    v("pre_norm", pre_norm); v("position", position); v("part_selection", part_selection);
  }
};

// 2-D sine-cosine position embedding (MoCo v3, Chen et al. 2021) for a grid x grid of tokens:
// [grid*grid, dim], dim divisible by 4; a quarter each of sin(x w), cos(x w), sin(y w), cos(y w).
at::Tensor sincos_position_embedding(int grid, int dim);

class VisionTransformerImpl : public ClassifierNetImpl {
 public:
  VisionTransformerImpl(const VitOptions& o, int image_size, int num_classes);
  // images: [B,3,S,S] (S = image_size) -> logits [B,C], class-token embedding [B,D] (after the
  // final LayerNorm), attention maps of every block, selected token indices.
  ClassifierOutput forward(const at::Tensor& images) override;
  int grid() const { return grid_; }
  int num_tokens() const { return grid_ * grid_ + 1; }  // patches + class token
  const VitOptions& options() const { return options_; }

 private:
  VitOptions options_;
  int image_size_ = 0;
  int grid_ = 0;
  PatchEmbed patch_embed_{nullptr};
  at::Tensor cls_token_, pos_embed_;
  std::vector<EncoderBlock> blocks_;
  PartSelection part_selection_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(VisionTransformer);

}  // namespace ms
