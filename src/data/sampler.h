#pragma once
// Class-balanced epoch sampler (thesis ch. 5 data preparation: majority classes were capped at
// 1,000 images and minority classes enlarged with flipped and 90/180-degree-rotated copies).
//
// Per epoch and per class with n items:
//   n > cap:     exactly `cap` distinct items. The class's items are cycled through so that over
//                ceil(n / cap) consecutive epochs every item is drawn at least once.
//   n <= cap:    every item once (augment = false), then, while n < target, extra draws marked
//                augment = true, spread evenly (each item repeated floor or ceil times) and at
//                most n * (max_oversample - 1) of them when max_oversample > 0.
// The epoch's list is shuffled. Everything is a function of (seed, epoch): the same pair gives
// the same list on every platform (data/split.h's portable permutation).
// A trainer applies dihedral_augment() (data/augment.h) to draws marked augment, so the extra
// copies are the flips and rotations the thesis used rather than exact duplicates.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace ms {

struct BalancedSamplerOptions {
  int cap = 1000;              // at most this many items per class per epoch; 0 = no cap
  int target = 1000;           // smaller classes are oversampled up to this; 0 = no oversampling
  float max_oversample = 0.f;  // a class grows at most this many times (8 = D4 orbit); 0 = no limit
  template <class V>
  void visit(V& v) {
    v("cap", cap);
    v("target", target);
    v("max_oversample", max_oversample);
  }
};

struct SampleDraw {
  std::size_t index = 0;  // into the labels given to the sampler
  bool augment = false;   // an extra copy of a minority item: transform it before use
  bool operator==(const SampleDraw& o) const { return index == o.index && augment == o.augment; }
};

class ClassBalancedSampler {
 public:
  // labels: one class id (>= 0) per item. Errors (kInvalidArgument) name `source`: a negative
  // label, cap or target < 0, target > cap when both are set, max_oversample in (0, 1).
  static Result<ClassBalancedSampler> create(std::vector<int> labels, const BalancedSamplerOptions& o,
                                             std::uint64_t seed, const std::string& source = "labels");

  // The draws of epoch `epoch` (>= 0), shuffled.
  std::vector<SampleDraw> epoch(std::uint64_t epoch) const;
  // Draws per class in every epoch (the same for all epochs): index = class id.
  std::vector<std::size_t> per_class_counts() const;
  std::size_t epoch_size() const;

 private:
  ClassBalancedSampler() = default;
  std::size_t count_for(std::size_t n) const;
  std::vector<std::vector<std::size_t>> by_class_;
  BalancedSamplerOptions options_;
  std::uint64_t seed_ = 0;
};

}  // namespace ms
