#pragma once
// Batches of cached cells, built on a background thread while the model computes the previous
// batch. Deterministic whatever the thread timing: the order is fixed up front and each sample's
// augmentation draws from its own generator seeded by (seed, epoch, position in the epoch).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/augment.h"
#include "engine/classifier/cell_cache.h"
#include "engine/train/image_tensor.h"

namespace ms {

struct CellBatch {
  at::Tensor images;         // [B,3,S,S] float, normalised RGB
  at::Tensor labels;         // [B] int64
  std::vector<int> indices;  // cache indices of the samples
};

struct CellLoaderOptions {
  int batch_size = 64;
  int input_size = 96;
  bool train = true;         // augment + random crop; false: center crop only
  bool drop_last = true;     // only honoured when train
  AugmentOptions augment;
  Normalization norm;
  uint64_t seed = 0;
  int epoch = 0;
  int prefetch = 3;          // batches built ahead
};

// 64-bit mix of (a, b, c) (splitmix64 finaliser), for per-epoch and per-sample seeds.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

class CellBatchLoader {
 public:
  // order: cache indices in the order to visit. The cache must outlive the loader.
  // extra_copy: empty, or one flag per entry of order; a flagged sample is an oversampled copy
  // of a minority-class cell (data/sampler.h) and gets a random non-identity flip or rotation
  // (dihedral_augment) before the usual augmentation (train only).
  CellBatchLoader(const CellCache& cache, std::vector<int> order, const CellLoaderOptions& o,
                  std::vector<bool> extra_copy = {});
  ~CellBatchLoader();
  CellBatchLoader(const CellBatchLoader&) = delete;
  CellBatchLoader& operator=(const CellBatchLoader&) = delete;

  // The next batch in order, or nullopt at the end of the epoch.
  std::optional<CellBatch> next();
  size_t num_batches() const { return num_batches_; }

  // One sample as the loader makes it: train -> augmented random crop; else center crop.
  static cv::Mat make_view(const cv::Mat& cached, const CellLoaderOptions& o, uint64_t sample_seed,
                           bool extra_copy = false);

 private:
  void run();
  CellBatch build(size_t batch_index) const;

  const CellCache& cache_;
  std::vector<int> order_;
  std::vector<bool> extra_copy_;
  CellLoaderOptions options_;
  size_t num_batches_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<CellBatch> ready_;
  size_t produced_ = 0, consumed_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace ms
