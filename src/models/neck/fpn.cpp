#include "models/neck/fpn.h"

#include <algorithm>

#include <torch/nn/functional.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>

#include "core/error.h"

namespace ms {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

void validate(const FpnOptions& o) {
  auto bad = [](const std::string& field, const std::string& expected, const std::string& found) {
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "neck." + field + ": expected " + expected + ", found " + found);
  };
  if (o.channels < 1) bad("channels", ">= 1", std::to_string(o.channels));
  if (o.min_level < 2 || o.min_level > 5) bad("min_level", "2..5", std::to_string(o.min_level));
  if (o.max_level < 5 || o.max_level > 8)
    bad("max_level", "5..8 (P5 is always built)", std::to_string(o.max_level));
  if (o.se_reduction < 1) bad("se_reduction", ">= 1", std::to_string(o.se_reduction));
}

namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  nn::Conv2d c(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2));
  // Detectron's FPN init: Kaiming-uniform with a = 1 ("c2_xavier_fill"), zero bias.
  nn::init::kaiming_uniform_(c->weight, 1.0);
  nn::init::zeros_(c->bias);
  return c;
}

at::Tensor run(nn::ModuleListImpl& list, size_t i, const at::Tensor& x) {
  return list[i]->as<nn::Conv2d>()->forward(x);
}

}  // namespace

FpnImpl::FpnImpl(const FpnOptions& options, std::vector<int64_t> in_channels) : options_(options) {
  validate(options_);
  MS_CHECK(in_channels.size() == 4, "FPN needs the channels of C2..C5");
  const int64_t c = options_.channels;
  lateral_ = register_module("lateral", nn::ModuleList());
  output_ = register_module("output", nn::ModuleList());
  extra_ = register_module("extra", nn::ModuleList());
  for (int l = options_.min_level; l <= 5; ++l) {
    lateral_->push_back(conv(in_channels[l - 2], c, 1));
    output_->push_back(conv(c, c, 3));
  }
  for (int l = 6; l <= options_.max_level; ++l) extra_->push_back(conv(c, c, 3, 2));
  if (options_.path_aggregation) {
    down_ = register_module("down", nn::ModuleList());
    attention_ = register_module("attention", nn::ModuleList());
    smooth_ = register_module("smooth", nn::ModuleList());
    const int64_t hidden = std::max<int64_t>(1, c / options_.se_reduction);
    for (int l = options_.min_level + 1; l <= options_.max_level; ++l) {
      down_->push_back(conv(c, c, 3, 2));
      nn::ModuleList se;
      se->push_back(conv(c, hidden, 1));
      se->push_back(conv(hidden, c, 1));
      attention_->push_back(se);
      smooth_->push_back(conv(c, c, 3));
    }
  }
}

std::vector<int> FpnImpl::levels() const {
  std::vector<int> l;
  for (int i = options_.min_level; i <= options_.max_level; ++i) l.push_back(i);
  return l;
}

std::vector<at::Tensor> FpnImpl::forward(const std::vector<at::Tensor>& features) {
  MS_CHECK(features.size() == 4, "FPN expects {C2, C3, C4, C5}");
  const int lo = options_.min_level;
  const size_t n_lat = static_cast<size_t>(6 - lo);
  // Top-down pathway: merge from C5 downwards; the upsampled map takes the lateral's exact size so
  // inputs that are not multiples of 32 still line up.
  std::vector<at::Tensor> merged(n_lat);
  merged[n_lat - 1] = run(*lateral_, n_lat - 1, features[3]);
  for (size_t i = n_lat - 1; i-- > 0;) {
    const at::Tensor lat = run(*lateral_, i, features[lo - 2 + i]);
    merged[i] = lat + F::interpolate(merged[i + 1], F::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{lat.size(2), lat.size(3)})
                                                        .mode(torch::kNearest));
  }
  std::vector<at::Tensor> p;
  for (size_t i = 0; i < n_lat; ++i) p.push_back(run(*output_, i, merged[i]));
  for (size_t i = 0; i < extra_->size(); ++i)
    p.push_back(run(*extra_, i, i == 0 ? p.back() : at::relu(p.back())));
  if (!options_.path_aggregation) return p;

  // Bottom-up path aggregation gated by global attention from the higher FPN level (thesis 4.2.1).
  std::vector<at::Tensor> n{p[0]};
  for (size_t i = 1; i < p.size(); ++i) {
    const at::Tensor down = at::relu(run(*down_, i - 1, n.back()));
    auto& se = *attention_[i - 1]->as<nn::ModuleList>();
    const at::Tensor pooled = at::adaptive_avg_pool2d(p[i], {1, 1});                   // [B,C,1,1]
    const at::Tensor gate = at::sigmoid(run(se, 1, at::relu(run(se, 0, pooled))));   // [B,C,1,1]
    n.push_back(run(*smooth_, i - 1, p[i] + gate * down));
  }
  return n;
}

}  // namespace ms
