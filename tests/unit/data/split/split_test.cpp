#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "data/split.h"

namespace ms {
namespace {

// Imbalanced labels like the PBC set: class sizes 1, 2, 7, 50, 333, 1000, interleaved.
std::vector<int> imbalanced_labels() {
  const int sizes[] = {1, 2, 7, 50, 333, 1000};
  std::vector<int> labels;
  for (int c = 0; c < 6; ++c)
    for (int i = 0; i < sizes[c]; ++i) labels.push_back(c);
  std::mt19937_64 rng(99);
  const auto p = seeded_permutation(labels.size(), rng);
  std::vector<int> mixed(labels.size());
  for (std::size_t i = 0; i < p.size(); ++i) mixed[i] = labels[p[i]];
  return mixed;
}

std::vector<int> class_counts(const std::vector<int>& labels, const std::vector<std::size_t>& idx) {
  std::vector<int> counts(6, 0);
  for (std::size_t i : idx) ++counts[labels[i]];
  return counts;
}

TEST(Permutation, IsAPermutationAndSeeded) {
  std::mt19937_64 a(1), b(1), c(2);
  auto p = seeded_permutation(1000, a);
  EXPECT_EQ(p, seeded_permutation(1000, b));
  EXPECT_NE(p, seeded_permutation(1000, c));
  std::sort(p.begin(), p.end());
  for (std::size_t i = 0; i < p.size(); ++i) ASSERT_EQ(p[i], i);
  EXPECT_TRUE(seeded_permutation(0, a).empty());
}

TEST(Permutation, PositionsAreUniform) {
  // Where item 0 lands over 6000 shuffles of 6: each position ~1000 times (chi-square, 5 dof,
  // 99.9% quantile 20.5).
  std::mt19937_64 rng(5);
  std::vector<int> hits(6, 0);
  for (int t = 0; t < 6000; ++t) {
    const auto p = seeded_permutation(6, rng);
    ++hits[std::find(p.begin(), p.end(), 0) - p.begin()];
  }
  double chi2 = 0;
  for (int h : hits) chi2 += (h - 1000.0) * (h - 1000.0) / 1000.0;
  EXPECT_LT(chi2, 20.5);
}

TEST(StratifiedSplit, ProportionsPerClassWithinOne) {
  const auto labels = imbalanced_labels();
  const SplitRatios r{0.7, 0.2, 0.1};
  const DatasetSplit s = value_or_throw(stratified_split(labels, r, 42));
  const auto tr = class_counts(labels, s.train), va = class_counts(labels, s.val),
             te = class_counts(labels, s.test);
  const int sizes[] = {1, 2, 7, 50, 333, 1000};
  for (int c = 0; c < 6; ++c) {
    SCOPED_TRACE("class " + std::to_string(c));
    EXPECT_LE(std::abs(tr[c] - sizes[c] * r.train), 1.0);
    EXPECT_LE(std::abs(va[c] - sizes[c] * r.val), 1.0);
    EXPECT_LE(std::abs(te[c] - sizes[c] * r.test), 1.0);
    EXPECT_EQ(tr[c] + va[c] + te[c], sizes[c]);
  }
  EXPECT_EQ(tr[5], 700);
  EXPECT_EQ(va[4], 67);  // 66.6 rounds up by largest remainder
}

TEST(StratifiedSplit, DisjointCompleteAndSorted) {
  const auto labels = imbalanced_labels();
  const DatasetSplit s = value_or_throw(stratified_split(labels, {0.6, 0.3, 0.1}, 7));
  std::vector<std::size_t> all;
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    all.insert(all.end(), part->begin(), part->end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), labels.size());
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);  // each index exactly once
}

TEST(StratifiedSplit, SameSeedSameSplitDifferentSeedDifferent) {
  const auto labels = imbalanced_labels();
  const auto a = value_or_throw(stratified_split(labels, {}, 3));
  const auto b = value_or_throw(stratified_split(labels, {}, 3));
  const auto c = value_or_throw(stratified_split(labels, {}, 4));
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.val, c.val);
  EXPECT_EQ(a.val.size(), c.val.size());
}

TEST(StratifiedSplit, TwoWayAndEmptyInputs) {
  const auto labels = imbalanced_labels();
  const auto s = value_or_throw(stratified_split(labels, {0.75, 0.25, 0.0}, 1));
  EXPECT_TRUE(s.test.empty());
  EXPECT_EQ(s.train.size() + s.val.size(), labels.size());
  const auto e = value_or_throw(stratified_split({}, {}, 1));
  EXPECT_TRUE(e.train.empty() && e.val.empty() && e.test.empty());
}

TEST(StratifiedSplit, BadInputsNameTheProblem) {
  auto r = stratified_split({0, 1, -2}, {}, 1, "cells.csv");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("cells.csv[2]"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("-2"), std::string::npos);
  r = stratified_split({0, 1}, {0.5, 0.5, 0.5}, 1, "cells.csv");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("summing to 1"), std::string::npos) << r.error().message;
  EXPECT_FALSE(stratified_split({0, 1}, {1.2, -0.2, 0.0}, 1).has_value());
}

TEST(StratifiedKFold, FoldsPartitionTheSetAndStratify) {
  const auto labels = imbalanced_labels();
  for (int k : {2, 5, 10}) {
    SCOPED_TRACE("k " + std::to_string(k));
    const auto folds = value_or_throw(stratified_kfold(labels, k, 11));
    ASSERT_EQ(folds.size(), static_cast<std::size_t>(k));
    std::vector<std::size_t> all;
    std::size_t min_size = labels.size(), max_size = 0;
    std::vector<std::vector<int>> per_fold;
    for (const auto& f : folds) {
      all.insert(all.end(), f.begin(), f.end());
      min_size = std::min(min_size, f.size());
      max_size = std::max(max_size, f.size());
      per_fold.push_back(class_counts(labels, f));
    }
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), labels.size());
    for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);
    EXPECT_LE(max_size - min_size, 1u);
    for (int c = 0; c < 6; ++c) {
      int lo = 1 << 30, hi = 0;
      for (const auto& counts : per_fold) {
        lo = std::min(lo, counts[c]);
        hi = std::max(hi, counts[c]);
      }
      EXPECT_LE(hi - lo, 1) << "class " << c;
    }
    // Training indices of a fold: the complement of its held-out part.
    const auto train = kfold_train_indices(folds, 1);
    EXPECT_EQ(train.size() + folds[1].size(), labels.size());
    std::vector<std::size_t> both;
    std::set_intersection(train.begin(), train.end(), folds[1].begin(), folds[1].end(),
                          std::back_inserter(both));
    EXPECT_TRUE(both.empty());
  }
}

TEST(StratifiedKFold, SeededAndValidated) {
  const auto labels = imbalanced_labels();
  EXPECT_EQ(value_or_throw(stratified_kfold(labels, 5, 1)), value_or_throw(stratified_kfold(labels, 5, 1)));
  EXPECT_NE(value_or_throw(stratified_kfold(labels, 5, 1)), value_or_throw(stratified_kfold(labels, 5, 2)));
  auto r = stratified_kfold({0, 1, 1}, 4, 1, "pbc");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("k = 4"), std::string::npos) << r.error().message;
  EXPECT_FALSE(stratified_kfold({0, 1, 1}, 1, 1).has_value());
  EXPECT_FALSE(stratified_kfold({0, -1, 1}, 2, 1).has_value());
  EXPECT_THROW(kfold_train_indices(value_or_throw(stratified_kfold(labels, 3, 1)), 3), MarrowError);
}

}  // namespace
}  // namespace ms

namespace ms {
namespace {

// Pinned streams: mt19937_64, std::seed_seq and the hand-written Fisher-Yates are fully specified,
// so these values hold with any conforming standard library. A change here silently changes every
// recorded split, so it must be deliberate.
TEST(Pinned, PermutationAndSplitAreStableAcrossPlatforms) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(seeded_permutation(10, rng), (std::vector<std::size_t>{1, 7, 3, 9, 4, 0, 5, 2, 6, 8}));
  std::vector<int> labels;
  for (int i = 0; i < 30; ++i) labels.push_back(i % 3);
  const auto s = value_or_throw(stratified_split(labels, {0.6, 0.2, 0.2}, 7));
  EXPECT_EQ(s.val, (std::vector<std::size_t>{2, 10, 13, 15, 17, 18}));
  EXPECT_EQ(s.test, (std::vector<std::size_t>{0, 3, 4, 16, 20, 23}));
}

}  // namespace
}  // namespace ms
