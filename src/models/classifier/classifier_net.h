#pragma once
// The common face of every cell classifier (ViT or CNN), so the trainer, evaluator, predictor and
// `explain` work with any of them.
#include <functional>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

namespace ms {

struct ClassifierOutput {
  at::Tensor logits;                   // [B,C]
  at::Tensor embedding;                // [B,D] features before the linear head (ViT: class token)
  std::vector<at::Tensor> attentions;  // ViT only: per block [B,h,N,N]; empty for a CNN
  at::Tensor selected;                 // ViT with part selection: [B,h] token indices; else undefined
  int grid = 0;                        // ViT: side of the patch grid (token i>=1 is cell (i-1)/grid, (i-1)%grid)
};

class ClassifierNetImpl : public torch::nn::Module {
 public:
  // images: [B,3,S,S] float, normalised RGB.
  virtual ClassifierOutput forward(const at::Tensor& images) = 0;
  // Parameters that get weight decay (weights of linear/conv layers) and those that do not
  // (biases, norms, embeddings, tokens): AdamW practice for ViTs (Touvron et al., DeiT 2021).
  virtual void split_decay(std::vector<at::Tensor>& decay, std::vector<at::Tensor>& no_decay);
  // Readies an eval-mode network for fast inference without changing its parameters (a CNN folds
  // its BatchNorms into the convolutions; see ResNetImpl::fold_norms_for_inference). train(true)
  // undoes it. `bf16_copies`: also keep bfloat16 copies of what it prepares.
  virtual void prepare_for_inference(bool /*bf16_copies*/) {}
  // The 8-bit path (models/runtime.h, int8), after prepare_for_inference: run `images` [B,3,S,S]
  // in float32 calling visit(point, values) at every point the int8 path stores a tensor
  // (ResNetImpl::observe_activations), and quantize with ranges measured that way. A network
  // without an int8 path returns false from both and is left as it was.
  using ActivationVisitor = std::function<void(size_t point, const at::Tensor& values)>;
  virtual bool observe_activations(const at::Tensor& /*images*/, const ActivationVisitor& /*visit*/) const {
    return false;
  }
  virtual bool quantize_for_inference(const std::vector<std::pair<float, float>>& /*ranges*/) { return false; }
  virtual bool quantized() const { return false; }
};

inline void ClassifierNetImpl::split_decay(std::vector<at::Tensor>& decay,
                                           std::vector<at::Tensor>& no_decay) {
  for (const auto& p : named_parameters(true)) {
    const auto& name = p.key();
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    (p.value().dim() <= 1 || is_bias || name.find("token") != std::string::npos ||
             name.find("pos_embed") != std::string::npos
         ? no_decay
         : decay)
        .push_back(p.value());
  }
}

}  // namespace ms
