#include "models/backbone/resnet.h"

#include <cmath>

#include <ATen/autocast_mode.h>

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
  const nn::Sequential& branch() const { return branch_; }
  const nn::Sequential& shortcut() const { return shortcut_; }

 private:
  nn::Sequential branch_;
  nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(ResidualBlock);

int64_t scaled(int64_t c, float width) {
  return std::max<int64_t>(8, static_cast<int64_t>(std::lround(c * static_cast<double>(width))));
}

// One convolution with its BatchNorm folded in: w' = w * s, b' = beta + (b - mean) * s with
// s = gamma / sqrt(var + eps) per output channel (s and b' computed in float64).
struct FoldedConv {
  at::Tensor weight, bias;          // float32, on the module's device
  at::Tensor weight16, bias16;      // bfloat16 copies, or undefined
  int64_t stride = 1, padding = 0;
  bool relu = false;                // a ReLU follows
};

std::vector<FoldedConv> fold_sequence(const nn::Sequential& seq, bool bf16_copies, bool* ends_in_pool) {
  std::vector<FoldedConv> out;
  if (ends_in_pool) *ends_in_pool = false;
  for (size_t i = 0; i < seq->size(); ++i) {
    const auto m = seq->ptr(i);
    MS_CHECK(!(ends_in_pool && *ends_in_pool), "folding: a max-pool is only allowed last");
    if (const auto* c = m->as<nn::Conv2dImpl>()) {
      const auto& o = c->options;
      const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
      MS_CHECK(pad && o.groups() == 1 && (*o.dilation())[0] == 1 && (*o.dilation())[1] == 1 &&
                   (*o.stride())[0] == (*o.stride())[1] && (**pad)[0] == (**pad)[1],
               "folding: only square, undilated, ungrouped convolutions are supported");
      FoldedConv f;
      f.weight = c->weight.detach();
      f.bias = c->bias.defined() ? c->bias.detach() : at::Tensor();
      f.stride = (*o.stride())[0];
      f.padding = (**pad)[0];
      out.push_back(std::move(f));
    } else if (const auto* bn = m->as<nn::BatchNorm2dImpl>()) {
      MS_CHECK(!out.empty() && !out.back().relu, "folding: a BatchNorm must follow a convolution");
      MS_CHECK(bn->running_mean.defined() && bn->running_var.defined() && bn->weight.defined(),
               "folding: BatchNorm without running statistics or affine parameters");
      FoldedConv& f = out.back();
      const auto dd = at::TensorOptions().dtype(at::kDouble);
      const at::Tensor scale = bn->weight.detach().to(dd) /
                               at::sqrt(bn->running_var.detach().to(dd) + bn->options.eps());
      const at::Tensor b0 = f.bias.defined() ? f.bias.to(dd) : at::zeros_like(scale);
      f.bias = (bn->bias.detach().to(dd) + (b0 - bn->running_mean.detach().to(dd)) * scale).to(at::kFloat);
      // A product of two floats rounds the same in float as in double and back.
      f.weight = (f.weight * scale.to(at::kFloat).view({-1, 1, 1, 1})).contiguous();
    } else if (m->as<nn::ReLUImpl>()) {
      MS_CHECK(!out.empty(), "folding: a ReLU must follow a convolution");
      out.back().relu = true;
    } else if (ends_in_pool && m->as<nn::MaxPool2dImpl>()) {
      *ends_in_pool = true;
    } else {
      MS_CHECK(false, "folding: unsupported module " + m->name());
    }
  }
  for (auto& f : out) {
    if (!f.bias.defined()) f.bias = at::zeros({f.weight.size(0)}, f.weight.options());
    if (bf16_copies) {
      f.weight16 = f.weight.to(at::kBFloat16);
      f.bias16 = f.bias.to(at::kBFloat16);
    }
  }
  return out;
}

at::Tensor run_folded(const std::vector<FoldedConv>& steps, at::Tensor x, bool bf16) {
  for (const auto& f : steps) {
    const bool use16 = bf16 && f.weight16.defined();
    x = at::conv2d(x, use16 ? f.weight16 : f.weight, use16 ? f.bias16 : f.bias, {f.stride, f.stride},
                   {f.padding, f.padding});
    if (f.relu) x = at::relu_(x);
  }
  return x;
}

}  // namespace

struct ResNetImpl::Folded {
  std::vector<FoldedConv> stem;
  struct Block {
    std::vector<FoldedConv> branch, shortcut;
  };
  std::vector<std::vector<Block>> stages;
};

void ResNetImpl::fold_norms_for_inference(bool bf16_copies) {
  if (folded_) return;
  at::NoGradGuard no_grad;
  auto f = std::make_shared<Folded>();
  bool pooled = false;
  f->stem = fold_sequence(stem_, bf16_copies, &pooled);
  MS_CHECK(pooled, "folding: the stem must end in its max-pool");
  for (const auto& stage : stages_) {
    std::vector<Folded::Block> blocks;
    for (size_t i = 0; i < stage->size(); ++i) {
      const auto block = stage->ptr<ResidualBlockImpl>(i);
      Folded::Block b;
      b.branch = fold_sequence(block->branch(), bf16_copies, nullptr);
      MS_CHECK(!b.branch.empty() && !b.branch.back().relu, "folding: a branch ends before its ReLU");
      if (block->shortcut()) b.shortcut = fold_sequence(block->shortcut(), bf16_copies, nullptr);
      blocks.push_back(std::move(b));
    }
    f->stages.push_back(std::move(blocks));
  }
  folded_ = std::move(f);
}

std::vector<at::Tensor> ResNetImpl::forward_folded(const at::Tensor& x) const {
  const bool bf16 = at::autocast::is_cpu_enabled() && at::autocast::get_autocast_cpu_dtype() == at::kBFloat16 &&
                    x.device().is_cpu();
  // In float32 on the CPU the whole network runs channels-last: oneDNN's NHWC convolutions are
  // faster there (bench/detector_channels_last.py). In bf16 they are slower, so bf16 stays
  // channels-first. The features come out in the format the network ran in.
  const bool nhwc = !bf16 && x.device().is_cpu();
  at::Tensor h = run_folded(folded_->stem, nhwc ? x.contiguous(at::MemoryFormat::ChannelsLast) : x, bf16);
  // The same values as the channels-first pool, several times faster on the CPU.
  h = at::max_pool2d(h.contiguous(at::MemoryFormat::ChannelsLast), {3, 3}, {2, 2}, {1, 1});
  if (!nhwc) h = h.contiguous();
  std::vector<at::Tensor> features;
  features.reserve(folded_->stages.size());
  for (const auto& stage : folded_->stages) {
    for (const auto& b : stage) {
      at::Tensor identity = b.shortcut.empty() ? h : run_folded(b.shortcut, h, bf16);
      at::Tensor y = run_folded(b.branch, h, bf16);
      h = at::relu_(y.add_(identity));
    }
    features.push_back(h);
  }
  return features;
}

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
  if (on) folded_.reset();
  if (options_.norm == NormKind::kFrozen)
    for (auto& bn : norms_) bn->eval();
}

std::vector<at::Tensor> ResNetImpl::forward(const at::Tensor& x) {
  MS_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels,
           "ResNet input must be [B, " + std::to_string(options_.in_channels) + ", H, W], got " +
               std::to_string(x.dim()) + " dims");
  // The folded copies carry no gradient: with gradients on (training, Grad-CAM) the real layers run.
  if (folded_ && !is_training() && !at::GradMode::is_enabled()) return forward_folded(x);
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
