#include "models/backbone/resnet.h"

#include <cmath>

#include <torch/nn/functional.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include "core/error.h"

namespace ms {

const std::vector<std::pair<NormKind, std::string>>& enum_names(NormKind) {
  static const std::vector<std::pair<NormKind, std::string>> names{
      {NormKind::kBatch, "batch"}, {NormKind::kFrozen, "frozen"}};
  return names;
}

void validate(const ResNetOptions& o) {
  auto bad = [](const std::string& field, const std::string& expected, const std::string& found) {
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "resnet." + field + ": expected " + expected + ", found " + found);
  };
  if (o.depth != 18 && o.depth != 34 && o.depth != 50) bad("depth", "18, 34 or 50", std::to_string(o.depth));
  if (!(o.width > 0.f) || o.width > 8.f) bad("width", "a multiplier in (0, 8]", std::to_string(o.width));
  if (o.frozen_stages < 0 || o.frozen_stages > 5)
    bad("frozen_stages", "0..5", std::to_string(o.frozen_stages));
  if (o.in_channels < 1) bad("in_channels", ">= 1", std::to_string(o.in_channels));
}

namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// Residual block shared by both block types: out = relu(branch(x) + shortcut(x)). The branch is
// conv/norm pairs with ReLU between them; the shortcut is identity or conv1x1/stride + norm.
class ResidualBlockImpl : public nn::Module {
 public:
  ResidualBlockImpl(nn::Sequential branch, nn::Sequential shortcut)
      : branch_(register_module("branch", branch)) {
    if (shortcut) shortcut_ = register_module("shortcut", shortcut);
  }
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor identity = shortcut_ ? shortcut_->forward(x) : x;
    return at::relu(branch_->forward(x) + identity);
  }

 private:
  nn::Sequential branch_;
  nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(ResidualBlock);

int64_t scaled(int64_t c, float width) {
  return std::max<int64_t>(8, static_cast<int64_t>(std::lround(c * static_cast<double>(width))));
}

}  // namespace

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  validate(options_);
  const bool bottleneck = options_.depth == 50;
  const int expansion = bottleneck ? 4 : 1;
  const std::vector<int> blocks = options_.depth == 18 ? std::vector<int>{2, 2, 2, 2}
                                                       : std::vector<int>{3, 4, 6, 3};
  std::vector<std::tuple<nn::BatchNorm2d, bool>> all_norms;  // (norm, closes a residual branch)
  auto norm = [&](int64_t c, bool last_in_branch = false) {
    nn::BatchNorm2d bn{nn::BatchNorm2dOptions(c)};
    all_norms.emplace_back(bn, last_in_branch);
    return bn;
  };

  const int64_t stem_c = scaled(64, options_.width);
  stem_ = register_module(
      "stem", nn::Sequential(conv(options_.in_channels, stem_c, 7, 2), norm(stem_c), nn::ReLU(),
                             nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1))));

  int64_t in_c = stem_c;
  for (int s = 0; s < 4; ++s) {
    const int64_t mid = scaled(64 << s, options_.width);
    const int64_t out_c = mid * expansion;
    nn::Sequential stage;
    for (int b = 0; b < blocks[s]; ++b) {
      const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
      nn::Sequential branch;
      if (bottleneck) {
        branch->push_back(conv(in_c, mid, 1, 1));
        branch->push_back(norm(mid));
        branch->push_back(nn::ReLU());
        branch->push_back(conv(mid, mid, 3, stride));
        branch->push_back(norm(mid));
        branch->push_back(nn::ReLU());
        branch->push_back(conv(mid, out_c, 1, 1));
        branch->push_back(norm(out_c, true));
      } else {
        branch->push_back(conv(in_c, mid, 3, stride));
        branch->push_back(norm(mid));
        branch->push_back(nn::ReLU());
        branch->push_back(conv(mid, out_c, 3, 1));
        branch->push_back(norm(out_c, true));
      }
      nn::Sequential shortcut{nullptr};
      if (stride != 1 || in_c != out_c) shortcut = nn::Sequential(conv(in_c, out_c, 1, stride), norm(out_c));
      stage->push_back(ResidualBlock(branch, shortcut));
      in_c = out_c;
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
    out_channels_.push_back(out_c);
  }

  // Initialisation as torchvision's resnet: Kaiming-normal (fan_out, ReLU) convs, unit norms.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>())
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  }
  for (auto& [bn, last] : all_norms) {
    nn::init::constant_(bn->weight, (last && options_.zero_init_residual) ? 0.0 : 1.0);
    nn::init::zeros_(bn->bias);
    norms_.push_back(bn);
  }

  if (options_.norm == NormKind::kFrozen)
    for (auto& bn : norms_)
      for (auto& p : bn->parameters()) p.set_requires_grad(false);
  std::vector<nn::Module*> frozen;
  if (options_.frozen_stages >= 1) frozen.push_back(stem_.get());
  for (int s = 0; s + 1 < options_.frozen_stages; ++s) frozen.push_back(stages_[s].get());
  for (auto* m : frozen)
    for (auto& p : m->parameters()) p.set_requires_grad(false);
  train(true);
}

void ResNetImpl::train(bool on) {
  nn::Module::train(on);
  if (options_.norm == NormKind::kFrozen)
    for (auto& bn : norms_) bn->eval();
}

std::vector<at::Tensor> ResNetImpl::forward(const at::Tensor& x) {
  MS_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels,
           "ResNet input must be [B, " + std::to_string(options_.in_channels) + ", H, W], got " +
               std::to_string(x.dim()) + " dims");
  std::vector<at::Tensor> features;
  features.reserve(4);
  at::Tensor h = stem_->forward(x);
  for (auto& stage : stages_) {
    h = stage->forward(h);
    features.push_back(h);
  }
  return features;
}

}  // namespace ms
