#include "models/backbone/resnet.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/quantized/PackedParams.h>

#include <torch/nn/functional.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include "core/error.h"
#include "models/ops/group_norm.h"
#include "models/runtime.h"

namespace ms {

const std::vector<std::pair<NormKind, std::string>>& enum_names(NormKind) {
  static const std::vector<std::pair<NormKind, std::string>> names{
      {NormKind::kBatch, "batch"}, {NormKind::kFrozen, "frozen"}, {NormKind::kGroup, "group"}};
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

// With `visit`, each convolution's output (after its ReLU) is visited as point (*point)++.
at::Tensor run_folded(const std::vector<FoldedConv>& steps, at::Tensor x, bool bf16,
                      const ResNetImpl::ActivationVisitor* visit = nullptr, size_t* point = nullptr) {
  for (const auto& f : steps) {
    const bool use16 = bf16 && f.weight16.defined();
    x = at::conv2d(x, use16 ? f.weight16 : f.weight, use16 ? f.bias16 : f.bias, {f.stride, f.stride},
                   {f.padding, f.padding});
    if (f.relu) x = at::relu_(x);
    if (visit) (*visit)((*point)++, x);
  }
  return x;
}

// The 8-bit affine encoding of a float range: quint8 with the zero point where 0.0 lands, so that
// zero (ReLU outputs, padding) is exact. A range of width 0 gets a nominal scale.
struct QuantParams {
  double scale = 1.0;
  int64_t zero_point = 0;
};

QuantParams quant_params(std::pair<float, float> range) {
  const double lo = std::min(0.0, static_cast<double>(range.first));
  const double hi = std::max(0.0, static_cast<double>(range.second));
  QuantParams q;
  q.scale = hi > lo ? (hi - lo) / 255.0 : 1.0 / 255.0;
  q.zero_point = std::clamp<int64_t>(std::llround(-lo / q.scale), 0, 255);
  return q;
}

struct QuantConv {
  c10::intrusive_ptr<ConvPackedParamsBase<2>> packed;
  QuantParams out;
  bool relu = false;
};

std::vector<QuantConv> quantize_sequence(const std::vector<FoldedConv>& steps,
                                         const ResNetImpl::ActivationRanges& ranges, size_t& i) {
  static const auto prepack =
      c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_prepack", "");
  std::vector<QuantConv> out;
  for (const auto& f : steps) {
    const at::Tensor w = f.weight.to(at::kFloat).contiguous();
    const int64_t oc = w.size(0);
    // Symmetric per output channel: the largest |w| of a channel maps to 127.
    at::Tensor scale = w.abs().reshape({oc, -1}).amax(1).to(at::kDouble) / 127.0;
    scale = at::where(scale > 0, scale, at::ones_like(scale));
    const at::Tensor qw = at::quantize_per_channel(w, scale, at::zeros({oc}, at::kLong), 0, at::kQInt8);
    torch::jit::Stack stack{qw,
                            c10::optional<at::Tensor>(f.bias.to(at::kFloat)),
                            c10::List<int64_t>({f.stride, f.stride}),
                            c10::List<int64_t>({f.padding, f.padding}),
                            c10::List<int64_t>({1, 1}),
                            int64_t{1}};
    prepack.callBoxed(&stack);
    QuantConv q;
    q.packed = stack.at(0).toCustomClass<ConvPackedParamsBase<2>>();
    q.out = quant_params(ranges.at(i++));
    q.relu = f.relu;
    out.push_back(std::move(q));
  }
  return out;
}

at::Tensor run_quantized(const std::vector<QuantConv>& steps, at::Tensor x) {
  for (const auto& q : steps)
    x = q.relu ? q.packed->apply_relu(x, q.out.scale, q.out.zero_point)
               : q.packed->apply(x, q.out.scale, q.out.zero_point);
  return x;
}

}  // namespace

struct ResNetImpl::Quantized {
  QuantParams input;
  std::vector<QuantConv> stem;
  struct Block {
    std::vector<QuantConv> branch, shortcut;
    QuantParams out;  // after the residual sum and its ReLU
  };
  std::vector<std::vector<Block>> stages;
};

struct ResNetImpl::Folded {
  std::vector<FoldedConv> stem;
  struct Block {
    std::vector<FoldedConv> branch, shortcut;
  };
  std::vector<std::vector<Block>> stages;
};

void ResNetImpl::fold_norms_for_inference(bool bf16_copies) {
  if (folded_ || !foldable()) return;
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

size_t ResNetImpl::activation_points() const {
  MS_CHECK(folded_, "activation_points: fold the norms first");
  size_t n = 1 + folded_->stem.size();
  for (const auto& stage : folded_->stages)
    for (const auto& b : stage) n += b.branch.size() + b.shortcut.size() + 1;
  return n;
}

void ResNetImpl::observe_activations(const at::Tensor& x, const ActivationVisitor& visit) const {
  MS_CHECK(folded_, "observe_activations: fold the norms first");
  at::NoGradGuard no_grad;
  forward_folded(x.to(at::kFloat), &visit);
}

void widen_activation_range(ResNetImpl::ActivationRanges& ranges, size_t point, const at::Tensor& values) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  if (point >= ranges.size()) ranges.resize(point + 1, {inf, -inf});
  const auto mm = at::aminmax(values);
  auto& r = ranges[point];
  r.first = std::min(r.first, std::get<0>(mm).item<float>());
  r.second = std::max(r.second, std::get<1>(mm).item<float>());
}

void ResNetImpl::observe_activation_ranges(const at::Tensor& x, ActivationRanges& ranges) const {
  MS_CHECK(folded_, "observe_activation_ranges: fold the norms first");
  MS_CHECK(ranges.empty() || ranges.size() == activation_points(),
           "observe_activation_ranges: ranges of another network");
  observe_activations(x, [&](size_t i, const at::Tensor& t) { widen_activation_range(ranges, i, t); });
}

void ResNetImpl::quantize_for_inference(const ActivationRanges& ranges, bool last_only) {
  if (!foldable())
    throw MarrowError(ErrorCode::kInvalidArgument, "int8: a ResNet with group norm has no int8 path");
  MS_CHECK(folded_, "quantize_for_inference: fold the norms first");
  if (ranges.size() != activation_points())
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "int8 calibration: expected " + std::to_string(activation_points()) +
                          " activation ranges for this network, found " + std::to_string(ranges.size()));
  for (const auto& r : ranges)
    if (!std::isfinite(r.first) || !std::isfinite(r.second) || r.first > r.second)
      throw MarrowError(ErrorCode::kInvalidArgument, "int8 calibration: a range is not finite lo <= hi");
  at::NoGradGuard no_grad;
  at::globalContext().setQEngine(at::QEngine::ONEDNN);
  auto q = std::make_shared<Quantized>();
  size_t i = 0;
  q->input = quant_params(ranges.at(i++));
  q->stem = quantize_sequence(folded_->stem, ranges, i);
  for (const auto& stage : folded_->stages) {
    std::vector<Quantized::Block> blocks;
    for (const auto& b : stage) {
      Quantized::Block qb;
      // The same order as observe_activations: shortcut, branch, block output.
      qb.shortcut = quantize_sequence(b.shortcut, ranges, i);
      qb.branch = quantize_sequence(b.branch, ranges, i);
      qb.out = quant_params(ranges.at(i++));
      blocks.push_back(std::move(qb));
    }
    q->stages.push_back(std::move(blocks));
  }
  quantized_ = std::move(q);
  int8_last_only_ = last_only;
}

std::vector<at::Tensor> ResNetImpl::forward_int8(const at::Tensor& x) const {
  static const auto add_relu = c10::Dispatcher::singleton()
                                   .findSchemaOrThrow("quantized::add_relu", "")
                                   .typed<at::Tensor(at::Tensor, at::Tensor, double, int64_t)>();
  const auto& q = *quantized_;
  at::Tensor h = at::quantize_per_tensor(x.to(at::kFloat).contiguous(at::MemoryFormat::ChannelsLast),
                                         q.input.scale, q.input.zero_point, at::kQUInt8);
  h = run_quantized(q.stem, h);
  h = at::max_pool2d(h, {3, 3}, {2, 2}, {1, 1}, {1, 1});
  std::vector<at::Tensor> features;
  features.reserve(q.stages.size());
  for (const auto& stage : q.stages) {
    for (const auto& b : stage) {
      at::Tensor identity = b.shortcut.empty() ? h : run_quantized(b.shortcut, h);
      at::Tensor y = run_quantized(b.branch, h);
      h = add_relu.call(y, identity, b.out.scale, b.out.zero_point);
    }
    const bool last = features.size() + 1 == q.stages.size();
    features.push_back(last || !int8_last_only_ ? h.dequantize() : at::Tensor());
  }
  return features;
}

std::vector<at::Tensor> ResNetImpl::forward_folded(const at::Tensor& x, const ActivationVisitor* visit) const {
  // Observed runs (the int8 calibration) are float32 whatever scope they are called in.
  if (!visit && quantized_ && int8_inference_active() && x.device().is_cpu()) return forward_int8(x);
  const bool bf16 = !visit && at::autocast::is_cpu_enabled() &&
                    at::autocast::get_autocast_cpu_dtype() == at::kBFloat16 && x.device().is_cpu();
  // In float32 on the CPU the whole network runs channels-last: oneDNN's NHWC convolutions are
  // faster there (bench/detector_channels_last.py). In bf16 they are slower, so bf16 stays
  // channels-first. The features come out in the format the network ran in.
  const bool nhwc = !bf16 && x.device().is_cpu();
  const at::Tensor in = nhwc ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
  size_t point = 0;
  if (visit) (*visit)(point++, in);
  at::Tensor h = run_folded(folded_->stem, in, bf16, visit, &point);
  // The same values as the channels-first pool, several times faster on the CPU.
  h = at::max_pool2d(h.contiguous(at::MemoryFormat::ChannelsLast), {3, 3}, {2, 2}, {1, 1});
  if (!nhwc) h = h.contiguous();
  std::vector<at::Tensor> features;
  features.reserve(folded_->stages.size());
  for (const auto& stage : folded_->stages) {
    for (const auto& b : stage) {
      at::Tensor identity = b.shortcut.empty() ? h : run_folded(b.shortcut, h, bf16, visit, &point);
      at::Tensor y = run_folded(b.branch, h, bf16, visit, &point);
      h = at::relu_(y.add_(identity));
      if (visit) (*visit)(point++, h);
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
  // (weight, bias, closes a residual branch) of every norm layer, for the initialisation.
  std::vector<std::tuple<at::Tensor, at::Tensor, bool>> all_norms;
  auto norm = [&](int64_t c, bool last_in_branch = false) -> nn::AnyModule {
    if (options_.norm == NormKind::kGroup) {
      // Up to 32 groups of at least 4 channels (every layer has 8 or more).
      Float32GroupNorm gn(group_norm_groups(c, 32, 4), c);
      all_norms.emplace_back(gn->weight, gn->bias, last_in_branch);
      return nn::AnyModule(gn);
    }
    nn::BatchNorm2d bn{nn::BatchNorm2dOptions(c)};
    all_norms.emplace_back(bn->weight, bn->bias, last_in_branch);
    norms_.push_back(bn);
    return nn::AnyModule(bn);
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
  for (auto& [weight, bias, last] : all_norms) {
    nn::init::constant_(weight, (last && options_.zero_init_residual) ? 0.0 : 1.0);
    nn::init::zeros_(bias);
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
  if (on) {
    folded_.reset();
    quantized_.reset();
  }
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
