#include "data/sampler.h"

#include <algorithm>
#include <cmath>

#include "data/split.h"

namespace ms {

Result<ClassBalancedSampler> ClassBalancedSampler::create(std::vector<int> labels,
                                                          const BalancedSamplerOptions& o,
                                                          std::uint64_t seed, const std::string& source) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0)
      return fail(ErrorCode::kInvalidArgument, source + "[" + std::to_string(i) + "]",
                  "a class id >= 0", std::to_string(labels[i]));
  const std::string opts = source + " sampler options";
  if (o.cap < 0) return fail(ErrorCode::kInvalidArgument, opts + ".cap", "a value >= 0", std::to_string(o.cap));
  if (o.target < 0)
    return fail(ErrorCode::kInvalidArgument, opts + ".target", "a value >= 0", std::to_string(o.target));
  if (o.cap > 0 && o.target > o.cap)
    return fail(ErrorCode::kInvalidArgument, opts + ".target",
                "a value <= cap (" + std::to_string(o.cap) + ")", std::to_string(o.target));
  if (!(o.max_oversample == 0.f || (o.max_oversample >= 1.f && std::isfinite(o.max_oversample))))
    return fail(ErrorCode::kInvalidArgument, opts + ".max_oversample", "0 (no limit) or a value >= 1",
                std::to_string(o.max_oversample));
  ClassBalancedSampler s;
  s.by_class_ = indices_by_class(labels);
  s.options_ = o;
  s.seed_ = seed;
  return s;
}

std::size_t ClassBalancedSampler::count_for(std::size_t n) const {
  if (n == 0) return 0;
  const auto cap = static_cast<std::size_t>(options_.cap);
  if (cap > 0 && n > cap) return cap;
  const auto target = static_cast<std::size_t>(options_.target);
  if (n >= target) return n;
  std::size_t want = target;
  if (options_.max_oversample > 0.f)
    want = std::min(want, static_cast<std::size_t>(std::floor(n * double(options_.max_oversample))));
  return std::max(want, n);
}

std::vector<std::size_t> ClassBalancedSampler::per_class_counts() const {
  std::vector<std::size_t> counts;
  for (const auto& items : by_class_) counts.push_back(count_for(items.size()));
  return counts;
}

std::size_t ClassBalancedSampler::epoch_size() const {
  std::size_t total = 0;
  for (std::size_t c : per_class_counts()) total += c;
  return total;
}

std::vector<SampleDraw> ClassBalancedSampler::epoch(std::uint64_t epoch) const {
  std::vector<SampleDraw> draws;
  draws.reserve(epoch_size());
  constexpr std::uint64_t kCapStream = 1, kExtraStream = 2, kOrderStream = 3;
  for (std::size_t c = 0; c < by_class_.size(); ++c) {
    const auto& items = by_class_[c];
    const std::size_t n = items.size(), count = count_for(n);
    if (count == 0) continue;
    if (count < n) {
      // Capped: the epochs of one cycle of m = ceil(n / cap) epochs share one permutation of the
      // class; epoch j of the cycle takes the j-th of m near-equal chunks (so the cycle covers
      // every item) and fills up to `cap` with the items right after its chunk (all distinct,
      // since cap < n).
      const std::uint64_t m = (n + count - 1) / count;
      const std::uint64_t cycle = epoch / m, j = epoch % m;
      auto rng = make_stream_rng(seed_, {kCapStream, c, cycle});
      const auto order = seeded_permutation(n, rng);
      const std::size_t begin = static_cast<std::size_t>(j * n / m);
      for (std::size_t t = 0; t < count; ++t) draws.push_back({items[order[(begin + t) % n]], false});
      continue;
    }
    for (std::size_t i : items) draws.push_back({i, false});
    if (count > n) {
      // Extra copies walk a fresh permutation of the class repeatedly: each item is copied
      // floor or ceil((count - n) / n) times, and which items get the extra one changes by epoch.
      auto rng = make_stream_rng(seed_, {kExtraStream, c, epoch});
      const auto order = seeded_permutation(n, rng);
      for (std::size_t t = 0; t < count - n; ++t) draws.push_back({items[order[t % n]], true});
    }
  }
  auto rng = make_stream_rng(seed_, {kOrderStream, epoch});
  const auto order = seeded_permutation(draws.size(), rng);
  std::vector<SampleDraw> shuffled;
  shuffled.reserve(draws.size());
  for (std::size_t i : order) shuffled.push_back(draws[i]);
  return shuffled;
}

}  // namespace ms
