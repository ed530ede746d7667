#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ms {
namespace {

// Uniform integer in [0, n) without modulo bias: draws below 2^64 mod n are rejected so the
// remaining range is a whole multiple of n (OpenBSD's arc4random_uniform).
std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
  while (true) {
    const std::uint64_t x = rng();
    if (x >= reject_below) return x % n;
  }
}

Status check_labels(const std::vector<int>& labels, const std::string& source) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0)
      return fail(ErrorCode::kInvalidArgument, source + "[" + std::to_string(i) + "]",
                  "a class id >= 0", std::to_string(labels[i]));
  return {};
}

// Hamilton's largest-remainder apportionment of n items to parts with the given shares.
std::vector<std::size_t> apportion(std::size_t n, const std::vector<double>& shares) {
  std::vector<std::size_t> counts(shares.size());
  std::vector<std::pair<double, std::size_t>> remainders;
  std::size_t given = 0;
  for (std::size_t p = 0; p < shares.size(); ++p) {
    const double exact = n * shares[p];
    counts[p] = static_cast<std::size_t>(std::floor(exact));
    given += counts[p];
    remainders.push_back({exact - std::floor(exact), p});
  }
  // Largest remainder first; ties go to the earlier part (train before val before test).
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t r = 0; given < n; ++r, ++given) ++counts[remainders[r % remainders.size()].second];
  return counts;
}

}  // namespace

std::vector<std::size_t> seeded_permutation(std::size_t n, std::mt19937_64& rng) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t{0});
  for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[below(rng, i)]);
  return p;
}

std::mt19937_64 make_stream_rng(std::uint64_t seed, std::initializer_list<std::uint64_t> stream) {
  std::vector<std::uint32_t> words{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  for (std::uint64_t s : stream) {
    words.push_back(static_cast<std::uint32_t>(s));
    words.push_back(static_cast<std::uint32_t>(s >> 32));
  }
  std::seed_seq seq(words.begin(), words.end());
  return std::mt19937_64(seq);
}

std::vector<std::vector<std::size_t>> indices_by_class(const std::vector<int>& labels) {
  std::vector<std::vector<std::size_t>> by_class;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    MS_CHECK(labels[i] >= 0, "negative label at " + std::to_string(i));
    const auto c = static_cast<std::size_t>(labels[i]);
    if (c >= by_class.size()) by_class.resize(c + 1);
    by_class[c].push_back(i);
  }
  return by_class;
}

Result<DatasetSplit> stratified_split(const std::vector<int>& labels, const SplitRatios& ratios,
                                      std::uint64_t seed, const std::string& source) {
  if (auto ok = check_labels(labels, source); !ok) return tl::unexpected(ok.error());
  const std::vector<double> shares{ratios.train, ratios.val, ratios.test};
  const std::string found = "train " + std::to_string(ratios.train) + ", val " +
                            std::to_string(ratios.val) + ", test " + std::to_string(ratios.test);
  for (double s : shares)
    if (!(s >= 0.0 && std::isfinite(s)))
      return fail(ErrorCode::kInvalidArgument, source + " split ratios", "ratios >= 0", found);
  if (std::abs(shares[0] + shares[1] + shares[2] - 1.0) > 1e-6)
    return fail(ErrorCode::kInvalidArgument, source + " split ratios", "ratios summing to 1", found);

  DatasetSplit split;
  std::vector<std::size_t>* parts[3] = {&split.train, &split.val, &split.test};
  const auto by_class = indices_by_class(labels);
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    const auto& items = by_class[c];
    auto rng = make_stream_rng(seed, {c});
    const auto order = seeded_permutation(items.size(), rng);
    const auto counts = apportion(items.size(), shares);
    std::size_t next = 0;
    for (std::size_t p = 0; p < 3; ++p)
      for (std::size_t k = 0; k < counts[p]; ++k) parts[p]->push_back(items[order[next++]]);
  }
  for (auto* part : parts) std::sort(part->begin(), part->end());
  return split;
}

Result<std::vector<std::vector<std::size_t>>> stratified_kfold(const std::vector<int>& labels, int k,
                                                               std::uint64_t seed,
                                                               const std::string& source) {
  if (auto ok = check_labels(labels, source); !ok) return tl::unexpected(ok.error());
  if (k < 2 || static_cast<std::size_t>(k) > labels.size())
    return fail(ErrorCode::kInvalidArgument, source + " k-fold",
                "2 <= k <= " + std::to_string(labels.size()) + " (the number of items)",
                "k = " + std::to_string(k));
  std::vector<std::vector<std::size_t>> folds(static_cast<std::size_t>(k));
  const auto by_class = indices_by_class(labels);
  // Dealing continues where the previous class stopped, so the total fold sizes also differ by
  // at most one.
  std::size_t next_fold = 0;
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    const auto& items = by_class[c];
    auto rng = make_stream_rng(seed, {c});
    for (std::size_t i : seeded_permutation(items.size(), rng)) {
      folds[next_fold].push_back(items[i]);
      next_fold = (next_fold + 1) % folds.size();
    }
  }
  for (auto& f : folds) std::sort(f.begin(), f.end());
  return folds;
}

std::vector<std::size_t> kfold_train_indices(const std::vector<std::vector<std::size_t>>& folds,
                                             int fold) {
  MS_CHECK(fold >= 0 && static_cast<std::size_t>(fold) < folds.size(),
           "fold " + std::to_string(fold) + " of " + std::to_string(folds.size()));
  std::vector<std::size_t> train;
  for (std::size_t f = 0; f < folds.size(); ++f)
    if (f != static_cast<std::size_t>(fold)) train.insert(train.end(), folds[f].begin(), folds[f].end());
  std::sort(train.begin(), train.end());
  return train;
}

}  // namespace ms
