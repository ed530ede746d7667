#pragma once
// CNN baseline for single-cell classification (thesis table 5.3): a ResNet backbone, global
// average pooling of C5 and a linear head.
#include <torch/nn/modules/linear.h>

#include "models/backbone/resnet.h"
#include "models/classifier/classifier_net.h"

namespace ms {

struct CnnClassifierOptions {
  ResNetOptions backbone;
  float dropout = 0.f;  // before the linear head
  template <class V>
  void visit(V& v) {
    v("backbone", backbone); v("dropout", dropout);
  }
};

class CnnClassifierImpl : public ClassifierNetImpl {
 public:
  CnnClassifierImpl(const CnnClassifierOptions& o, int num_classes);
  // images: [B,3,S,S] -> logits [B,C], embedding = pooled C5 [B,C5 channels].
  ClassifierOutput forward(const at::Tensor& images) override;
  void prepare_for_inference(bool bf16_copies) override { backbone_->fold_norms_for_inference(bf16_copies); }
  // A group-norm backbone has no int8 path: both return false.
  bool observe_activations(const at::Tensor& images, const ActivationVisitor& visit) const override {
    if (!backbone_->foldable()) return false;
    backbone_->observe_activations(images, visit);
    return true;
  }
  bool quantize_for_inference(const std::vector<std::pair<float, float>>& ranges) override {
    if (!backbone_->foldable()) return false;
    backbone_->quantize_for_inference(ranges, /*last_only=*/true);  // forward pools C5 alone
    return true;
  }
  bool quantized() const override { return backbone_->quantized(); }

 private:
  CnnClassifierOptions options_;
  ResNet backbone_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(CnnClassifier);

}  // namespace ms
