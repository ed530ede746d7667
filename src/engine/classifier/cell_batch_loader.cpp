#include "engine/classifier/cell_batch_loader.h"

#include <random>

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^
               (c + 0x2545F4914F6CDD1Dull) * 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

CellBatchLoader::CellBatchLoader(const CellCache& cache, std::vector<int> order,
                                 const CellLoaderOptions& o, std::vector<bool> extra_copy)
    : cache_(cache), order_(std::move(order)), extra_copy_(std::move(extra_copy)), options_(o) {
  MS_CHECK(o.batch_size > 0, "loader batch size must be positive");
  MS_CHECK(extra_copy_.empty() || extra_copy_.size() == order_.size(),
           "loader extra-copy flags must match the order, one per sample");
  MS_CHECK(o.input_size <= cache.size, "loader input size exceeds the cache size");
  const size_t b = static_cast<size_t>(o.batch_size);
  num_batches_ = (o.train && o.drop_last) ? order_.size() / b : (order_.size() + b - 1) / b;
  if (o.train && o.drop_last && num_batches_ == 0 && !order_.empty()) num_batches_ = 1;
  worker_ = std::thread([this] { run(); });
}

CellBatchLoader::~CellBatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

cv::Mat CellBatchLoader::make_view(const cv::Mat& cached, const CellLoaderOptions& o,
                                   uint64_t sample_seed, bool extra_copy) {
  if (!o.train) return center_crop(cached, o.input_size);
  std::mt19937 rng(static_cast<uint32_t>(sample_seed ^ (sample_seed >> 32)));
  AugmentSample s;
  s.image = cached;
  if (extra_copy) s = dihedral_augment(s, rng);
  s = random_augment(s, o.augment, rng);
  const int slack = s.image.cols - o.input_size;
  if (slack <= 0) return s.image;
  std::uniform_int_distribution<int> off(0, slack);
  const int x = off(rng), y = off(rng);
  return s.image(cv::Rect(x, y, o.input_size, o.input_size));
}

CellBatch CellBatchLoader::build(size_t batch_index) const {
  const size_t b = static_cast<size_t>(options_.batch_size);
  const size_t begin = batch_index * b;
  const size_t end = std::min(order_.size(), begin + b);
  const int64_t n = static_cast<int64_t>(end - begin);
  const int s = options_.input_size;
  CellBatch batch;
  batch.images = at::empty({n, 3, s, s}, at::kFloat);
  batch.labels = at::empty({n}, at::kLong);
  float* dst = batch.images.data_ptr<float>();
  int64_t* lab = batch.labels.data_ptr<int64_t>();
  for (size_t i = begin; i < end; ++i) {
    const int idx = order_[i];
    const cv::Mat view = make_view(cache_.images[idx], options_, mix_seed(options_.seed, options_.epoch, i),
                                   !extra_copy_.empty() && extra_copy_[i]);
    bgr_to_chw(view, options_.norm, dst + (i - begin) * 3 * s * s);
    lab[i - begin] = cache_.labels[idx];
    batch.indices.push_back(idx);
  }
  return batch;
}

void CellBatchLoader::run() {
  try {
    for (size_t k = 0; k < num_batches_; ++k) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] {
          return stop_ || ready_.size() < static_cast<size_t>(std::max(1, options_.prefetch));
        });
        if (stop_) return;
      }
      CellBatch b = build(k);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.push_back(std::move(b));
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

std::optional<CellBatch> CellBatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (consumed_ >= num_batches_) return std::nullopt;
  cv_.wait(lock, [&] { return !ready_.empty() || error_ != nullptr; });
  if (ready_.empty() && error_) std::rethrow_exception(error_);
  CellBatch b = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace ms
