#pragma once
// Batches for the detector trainer, assembled on a background thread (augmentation and tensor
// conversion overlap the network's forward/backward pass). The batch order and every sample's
// augmentation depend only on (seed, epoch), so a resumed run sees exactly the same batches.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ATen/core/Tensor.h>

#include "engine/detector/detector_dataset.h"

namespace ms {

struct DetectorBatch {
  at::Tensor images;                  // [B,3,S,S] float32, normalised (RetinaNetOptions mean/std)
  std::vector<at::Tensor> gt_boxes;   // per image [G,4] float32 xyxy, input pixels (G may be 0)
  std::vector<at::Tensor> gt_labels;  // per image [G] int64 class ids
  std::vector<at::Tensor> ignore_boxes;  // per image [K,4] float32: ignore regions (K may be 0)
  // [B,C] float32: 1 where the image annotates class c completely, 0 where it does not (no loss
  // on that class's logits there). Undefined = every class everywhere.
  at::Tensor class_mask;
  std::vector<size_t> indices;        // dataset indices of the images
};

struct DetectorLoaderOptions {
  int batch_size = 8;
  bool shuffle = true;
  bool augment = true;
  int prefetch = 2;  // batches prepared ahead
  std::vector<float> pixel_mean{0.485f, 0.456f, 0.406f};
  std::vector<float> pixel_std{0.229f, 0.224f, 0.225f};
  AugmentOptions augment_options;
  // The dataset indices this epoch draws from (each once, shuffled); empty = every field.
  std::vector<size_t> indices;
};

// One epoch of batches. The dataset must outlive the loader.
class DetectorBatchLoader {
 public:
  DetectorBatchLoader(const DetectorDataset& dataset, DetectorLoaderOptions options, uint64_t seed, int epoch);
  ~DetectorBatchLoader();
  DetectorBatchLoader(const DetectorBatchLoader&) = delete;
  DetectorBatchLoader& operator=(const DetectorBatchLoader&) = delete;

  size_t num_batches() const { return batches_.size(); }
  // The next batch, or nullopt after the last. Rethrows an exception from the worker thread.
  std::optional<DetectorBatch> next();

  // The epoch's batches as dataset indices (last batch may be smaller): shuffled with a
  // generator seeded by (seed, epoch) when shuffle is on.
  static std::vector<std::vector<size_t>> plan(size_t n, int batch_size, bool shuffle, uint64_t seed, int epoch);
  // The same over the given indices instead of 0..n-1.
  static std::vector<std::vector<size_t>> plan(std::vector<size_t> order, int batch_size, bool shuffle,
                                               uint64_t seed, int epoch);

 private:
  DetectorBatch make_batch(const std::vector<size_t>& indices) const;
  void run();

  const DetectorDataset& dataset_;
  DetectorLoaderOptions options_;
  uint64_t seed_;
  int epoch_;
  std::vector<std::vector<size_t>> batches_;
  size_t consumed_ = 0;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<DetectorBatch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  bool done_ = false;
  std::thread worker_;
};

}  // namespace ms
