#include "engine/detector/detector_batch_loader.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/detector/retina_net.h"

namespace ms {

DetectorBatchLoader::DetectorBatchLoader(const DetectorDataset& dataset, DetectorLoaderOptions options,
                                         uint64_t seed, int epoch)
    : dataset_(dataset), options_(std::move(options)), seed_(seed), epoch_(epoch) {
  MS_CHECK(options_.batch_size > 0, "DetectorBatchLoader: batch_size must be positive");
  for (size_t i : options_.indices)
    MS_CHECK(i < dataset_.size(), "DetectorBatchLoader: index " + std::to_string(i) + " past the dataset");
  batches_ = options_.indices.empty() ? plan(dataset_.size(), options_.batch_size, options_.shuffle, seed_, epoch_)
                                      : plan(options_.indices, options_.batch_size, options_.shuffle, seed_, epoch_);
  worker_ = std::thread([this] { run(); });
}

DetectorBatchLoader::~DetectorBatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::vector<std::vector<size_t>> DetectorBatchLoader::plan(size_t n, int batch_size, bool shuffle,
                                                          uint64_t seed, int epoch) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  return plan(std::move(order), batch_size, shuffle, seed, epoch);
}

std::vector<std::vector<size_t>> DetectorBatchLoader::plan(std::vector<size_t> order, int batch_size, bool shuffle,
                                                          uint64_t seed, int epoch) {
  const size_t n = order.size();
  if (shuffle) {
    std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                      static_cast<uint32_t>(epoch), 0x5eedu};
    std::mt19937 rng(seq);
    // Fisher-Yates with our own index draws: std::shuffle's use of the engine is unspecified.
    for (size_t i = n; i > 1; --i) {
      const size_t j = static_cast<size_t>(rng() % i);
      std::swap(order[i - 1], order[j]);
    }
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t s = 0; s < n; s += static_cast<size_t>(batch_size))
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(s),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(n, s + static_cast<size_t>(batch_size))));
  return batches;
}

DetectorBatch DetectorBatchLoader::make_batch(const std::vector<size_t>& indices) const {
  DetectorBatch batch;
  batch.indices = indices;
  std::vector<at::Tensor> images;
  const auto num_classes = static_cast<int64_t>(dataset_.classes().size());
  batch.class_mask = at::ones({static_cast<int64_t>(indices.size()), num_classes}, at::kFloat);
  auto to_tensor = [](const std::vector<Box>& v) {
    auto t = at::empty({static_cast<int64_t>(v.size()), 4}, at::kFloat);
    auto* p = t.data_ptr<float>();
    for (size_t k = 0; k < v.size(); ++k) {
      p[4 * k + 0] = v[k].x1;
      p[4 * k + 1] = v[k].y1;
      p[4 * k + 2] = v[k].x2;
      p[4 * k + 3] = v[k].y2;
    }
    return t;
  };
  for (size_t row = 0; row < indices.size(); ++row) {
    const size_t i = indices[row];
    const AugmentSample s = dataset_.sample(i, options_.augment_options, seed_, epoch_, options_.augment);
    images.push_back(normalize_image(s.image, options_.pixel_mean, options_.pixel_std));
    std::vector<Box> objects, ignore;
    std::vector<int64_t> labels;
    for (size_t k = 0; k < s.boxes.size(); ++k) {
      if (s.labels[k] == kIgnoreBoxLabel) {
        ignore.push_back(s.boxes[k]);
      } else {
        objects.push_back(s.boxes[k]);
        labels.push_back(s.labels[k]);
      }
    }
    batch.gt_boxes.push_back(to_tensor(objects));
    batch.gt_labels.push_back(at::tensor(labels, at::kLong).view({static_cast<int64_t>(labels.size())}));
    batch.ignore_boxes.push_back(to_tensor(ignore));
    const auto& annotated = dataset_.field(i).annotated_classes;
    if (!annotated.empty()) {
      auto row_mask = batch.class_mask[static_cast<int64_t>(row)];
      row_mask.zero_();
      for (int k : annotated) row_mask[k] = 1.f;
    }
  }
  batch.images = at::stack(images);
  return batch;
}

void DetectorBatchLoader::run() {
  try {
    for (const auto& indices : batches_) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int>(ready_.size()) < std::max(1, options_.prefetch); });
        if (stop_) return;
      }
      DetectorBatch b = make_batch(indices);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(b));
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
}

std::optional<DetectorBatch> DetectorBatchLoader::next() {
  if (consumed_ >= batches_.size()) return std::nullopt;
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_ || done_; });
  if (ready_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }
  DetectorBatch b = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace ms
