#pragma once
// RetinaNet anchors (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, sec. 4):
// on each pyramid level l, at every feature-map location, A = scales x ratios anchors of base size
// sizes[l] * scale with aspect ratio h/w = ratio. Semantics follow torchvision 0.14's
// AnchorGenerator so the golden tests can compare exactly:
//   - per location the order is ratio-major, scale-minor: (r0,s0), (r0,s1), ..., (r2,s2);
//   - base anchors are centred on 0 and rounded to integers (round_base = true);
//   - the anchor centre of cell (x, y) is ((x + offset) * stride, (y + offset) * stride) with
//     offset 0 as torchvision (0.5 puts it in the cell centre, as mmdetection);
//   - locations are row-major (y outer, x inner), anchors of one location contiguous, levels
//     concatenated in order: index = level_offset + (y * W + x) * A + a. The head emits its
//     predictions in the same order.
// One difference: the stride of level l is its nominal 2^l, not torchvision's
// image_size // grid_size (they agree whenever the input is a multiple of 2^max_level).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ms {

struct AnchorOptions {
  // Base size per level, in input pixels; one entry per pyramid level of the neck, lowest level
  // first. Empty -> 4 * stride of each level (RetinaNet's 32 px on P3 ... 512 px on P7).
  std::vector<float> sizes;
  std::vector<float> scales{1.0f, 1.2599210498948732f, 1.5874010519681994f};  // 2^0, 2^1/3, 2^2/3
  std::vector<float> ratios{0.5f, 1.0f, 2.0f};                                // height / width
  float offset = 0.0f;
  bool round_base = true;
  template <class V>
  void visit(V& v) {
    v("sizes", sizes);
    v("scales", scales);
    v("ratios", ratios);
    v("offset", offset);
    v("round_base", round_base);
  }
};

// Throws MarrowError(kInvalidArgument) on empty/non-positive scales or ratios, non-positive sizes,
// or a sizes list whose length is not num_levels (when non-empty).
void validate(const AnchorOptions& o, int num_levels);

struct AnchorSet {
  at::Tensor anchors;                      // [sum_l H_l*W_l*A, 4] float32, xyxy input pixels
  std::vector<int64_t> anchors_per_level;  // H_l * W_l * A per level
  std::vector<float> level_strides;        // 2^l per level, input pixels
  int64_t anchors_per_location = 0;        // A = scales.size() * ratios.size()
};

class AnchorGenerator {
 public:
  // levels: pyramid levels, e.g. {3,4,5,6,7}; stride of level l is 2^l.
  AnchorGenerator(const AnchorOptions& options, std::vector<int> levels);

  int64_t anchors_per_location() const;
  // Base anchors of one level centred on (0,0): [A,4] xyxy (before the grid shift).
  at::Tensor base_anchors(size_t level_index) const;
  // feature_sizes: (H_l, W_l) of each level, same order as the levels. Anchors are float32 on CPU.
  AnchorSet generate(const std::vector<std::pair<int64_t, int64_t>>& feature_sizes) const;

  const std::vector<int>& levels() const { return levels_; }
  const AnchorOptions& options() const { return options_; }

 private:
  AnchorOptions options_;
  std::vector<int> levels_;
  std::vector<at::Tensor> base_;  // per level [A,4]
};

}  // namespace ms
