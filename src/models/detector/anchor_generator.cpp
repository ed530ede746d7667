#include "models/detector/anchor_generator.h"

#include <cmath>

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

void validate(const AnchorOptions& o, int num_levels) {
  auto bad = [](const std::string& field, const std::string& expected, const std::string& found) {
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "anchors." + field + ": expected " + expected + ", found " + found);
  };
  if (o.scales.empty()) bad("scales", "at least one scale", "an empty list");
  if (o.ratios.empty()) bad("ratios", "at least one ratio", "an empty list");
  for (float s : o.scales)
    if (!(s > 0.f)) bad("scales", "positive values", std::to_string(s));
  for (float r : o.ratios)
    if (!(r > 0.f)) bad("ratios", "positive values", std::to_string(r));
  if (!o.sizes.empty() && static_cast<int>(o.sizes.size()) != num_levels)
    bad("sizes", "one size per pyramid level (" + std::to_string(num_levels) + ")",
        std::to_string(o.sizes.size()) + " sizes");
  for (float s : o.sizes)
    if (!(s > 0.f)) bad("sizes", "positive values", std::to_string(s));
}

AnchorGenerator::AnchorGenerator(const AnchorOptions& options, std::vector<int> levels)
    : options_(options), levels_(std::move(levels)) {
  validate(options_, static_cast<int>(levels_.size()));
  for (size_t i = 0; i < levels_.size(); ++i) {
    const double size = options_.sizes.empty() ? 4.0 * std::ldexp(1.0, levels_[i]) : options_.sizes[i];
    // torchvision AnchorGenerator.generate_anchors: ratio-major, scale-minor; h/w = ratio.
    std::vector<float> v;
    for (float r : options_.ratios) {
      // torchvision works in float32 (ratios and sizes are float32 tensors); do the same so the
      // rounding below matches it bit for bit.
      const float h_ratio = std::sqrt(r), w_ratio = 1.f / h_ratio;
      for (float s : options_.scales) {
        const float ws = w_ratio * static_cast<float>(size * s);
        const float hs = h_ratio * static_cast<float>(size * s);
        v.insert(v.end(), {-ws / 2.f, -hs / 2.f, ws / 2.f, hs / 2.f});
      }
    }
    at::Tensor base = at::tensor(v, at::kFloat).view({-1, 4});
    if (options_.round_base) base = base.round();
    base_.push_back(base);
  }
}

int64_t AnchorGenerator::anchors_per_location() const {
  return static_cast<int64_t>(options_.scales.size() * options_.ratios.size());
}

at::Tensor AnchorGenerator::base_anchors(size_t level_index) const {
  MS_CHECK(level_index < base_.size(), "anchor level index out of range");
  return base_[level_index];
}

AnchorSet AnchorGenerator::generate(const std::vector<std::pair<int64_t, int64_t>>& feature_sizes) const {
  MS_CHECK(feature_sizes.size() == levels_.size(),
           "got " + std::to_string(feature_sizes.size()) + " feature maps for " +
               std::to_string(levels_.size()) + " anchor levels");
  AnchorSet set;
  set.anchors_per_location = anchors_per_location();
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < levels_.size(); ++i) {
    const auto [h, w] = feature_sizes[i];
    const float stride = static_cast<float>(std::ldexp(1.0, levels_[i]));
    const at::Tensor sx = (at::arange(w, at::kFloat) + options_.offset) * stride;
    const at::Tensor sy = (at::arange(h, at::kFloat) + options_.offset) * stride;
    const auto grid = at::meshgrid({sy, sx}, "ij");
    const at::Tensor yy = grid[0].reshape(-1), xx = grid[1].reshape(-1);
    const at::Tensor shifts = at::stack({xx, yy, xx, yy}, 1);                       // [HW,4]
    parts.push_back((shifts.view({-1, 1, 4}) + base_[i].view({1, -1, 4})).reshape({-1, 4}));
    set.anchors_per_level.push_back(parts.back().size(0));
    set.level_strides.push_back(stride);
  }
  set.anchors = at::cat(parts, 0);
  return set;
}

}  // namespace ms
