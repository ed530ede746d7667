#pragma once
// Seeded, stratified dataset splits. Inputs are one class id per item (labels[i] >= 0); outputs
// are item indices, sorted ascending within each part. Every class is split on its own, so each
// part holds every class in the asked proportion (to within one item per class), as
// sklearn's StratifiedShuffleSplit / StratifiedKFold do.
//
// Randomness: a std::mt19937_64 seeded through std::seed_seq and an explicit Fisher-Yates
// shuffle with rejection sampling, so a seed gives the same split on every platform and
// standard library (std::shuffle and the std distributions are implementation-defined).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace ms {

// The permutation of 0..n-1 drawn from `rng` by Fisher-Yates (Knuth, TAOCP vol. 2, 3.4.2 P).
std::vector<std::size_t> seeded_permutation(std::size_t n, std::mt19937_64& rng);
// A generator for a stream identified by (seed, stream...), e.g. (seed, class, epoch).
std::mt19937_64 make_stream_rng(std::uint64_t seed, std::initializer_list<std::uint64_t> stream);

struct SplitRatios {
  double train = 0.8, val = 0.1, test = 0.1;
  template <class V>
  void visit(V& v) {
    v("train", train);
    v("val", val);
    v("test", test);
  }
};

struct DatasetSplit {
  std::vector<std::size_t> train, val, test;  // item indices, ascending
};

// Per class with n items: counts n*ratio rounded by largest remainder (Hamilton's method), so each
// part's count is within one item of n*ratio and the three add up to n; which items go where is
// a seeded permutation of the class. Ratios must be >= 0 and sum to 1 (within 1e-6).
// Errors (kInvalidArgument) name `source`: a negative label, bad ratios.
Result<DatasetSplit> stratified_split(const std::vector<int>& labels, const SplitRatios& ratios,
                                      std::uint64_t seed, const std::string& source = "labels");

// k disjoint folds covering every item; per class the items are shuffled and dealt to the folds
// in turn, each class continuing where the last one stopped (so small classes do not all land in
// fold 0): per class, and overall, fold sizes differ by at most one. Returns the held-out indices
// of each fold.
// Errors: k < 2, k > number of items, a negative label.
Result<std::vector<std::vector<std::size_t>>> stratified_kfold(const std::vector<int>& labels, int k,
                                                               std::uint64_t seed,
                                                               const std::string& source = "labels");
// The training indices for fold `fold`: every item not held out by it, ascending.
std::vector<std::size_t> kfold_train_indices(const std::vector<std::vector<std::size_t>>& folds,
                                             int fold);

// Item indices grouped by class: result[c] lists the items with label c, ascending. Labels must
// be >= 0 (checked by the callers above, which report it as an input error).
std::vector<std::vector<std::size_t>> indices_by_class(const std::vector<int>& labels);

}  // namespace ms
