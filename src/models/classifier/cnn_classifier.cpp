#include "models/classifier/cnn_classifier.h"

#include <ATen/ATen.h>
#include <torch/nn/functional.h>
#include <torch/nn/modules/linear.h>

#include "core/error.h"

namespace ms {

CnnClassifierImpl::CnnClassifierImpl(const CnnClassifierOptions& o, int num_classes) : options_(o) {
  MS_CHECK(num_classes >= 2, "classifier needs at least 2 classes");
  validate(o.backbone);
  backbone_ = register_module("backbone", ResNet(o.backbone));
  head_ = register_module("head", torch::nn::Linear(backbone_->out_channels().back(), num_classes));
}

ClassifierOutput CnnClassifierImpl::forward(const at::Tensor& images) {
  MS_CHECK(images.dim() == 4, "CNN classifier expects [B,3,S,S] images");
  ClassifierOutput out;
  auto c5 = backbone_->forward(images).back();  // [B,C,h,w]
  out.embedding = c5.mean({2, 3});              // global average pooling [B,C]
  auto x = torch::nn::functional::dropout(
      out.embedding,
      torch::nn::functional::DropoutFuncOptions().p(options_.dropout).training(is_training()));
  out.logits = head_->forward(x);
  return out;
}

}  // namespace ms
