#include "models/vit/patch_embed.h"

#include <string>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>

#include "core/error.h"

namespace ms {

int patch_grid_side(const PatchEmbedOptions& o, int image_size) {
  MS_CHECK(o.patch > 0 && o.stride > 0 && o.stride <= o.patch,
           "patch embedding needs 0 < stride <= patch, got patch " + std::to_string(o.patch) +
               " stride " + std::to_string(o.stride));
  int side = image_size;
  for (size_t i = 0; i < o.stem_channels.size(); ++i) side = (side + 1) / 2;  // 3x3, s2, pad 1
  MS_CHECK(side >= o.patch, "image of " + std::to_string(image_size) +
                                " px is smaller than one patch after the stem (" +
                                std::to_string(side) + " < " + std::to_string(o.patch) + ")");
  return (side - o.patch) / o.stride + 1;
}

PatchEmbedImpl::PatchEmbedImpl(const PatchEmbedOptions& o) : options_(o) {
  MS_CHECK(o.dim > 0 && o.in_channels > 0, "patch embedding needs positive dim and channels");
  int ch = o.in_channels;
  if (!o.stem_channels.empty()) {
    stem_ = torch::nn::Sequential();
    for (int out : o.stem_channels) {
      stem_->push_back(torch::nn::Conv2d(
          torch::nn::Conv2dOptions(ch, out, 3).stride(2).padding(1).bias(false)));
      stem_->push_back(torch::nn::BatchNorm2d(out));
      stem_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
      ch = out;
    }
    register_module("stem", stem_);
  }
  proj_ = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, o.dim, o.patch).stride(o.stride)));
}

at::Tensor PatchEmbedImpl::forward(const at::Tensor& images) {
  at::Tensor x = stem_ ? stem_->forward(images) : images;
  x = proj_->forward(x);                  // [B,D,G,G]
  return x.flatten(2).transpose(1, 2);    // [B,G*G,D]
}

}  // namespace ms
