#include "server/job_workers.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "store/image_store.h"
#include "store/job_queue.h"
#include "store/patient_store.h"

namespace ms::server {

JobWorkers::JobWorkers(store::Database& db, const FileStore& files, store::AnalysisRunner& runner,
                       WorkerOptions options)
    : db_(db), files_(files), runner_(runner), options_(std::move(options)) {}

JobWorkers::~JobWorkers() { stop(); }

void JobWorkers::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!threads_.empty()) return;
  stopping_ = false;
  for (int k = 0; k < std::max(1, options_.workers); ++k) threads_.emplace_back([this, k] { work(k); });
  heartbeat_ = std::thread([this] { heartbeat(); });
}

void JobWorkers::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void JobWorkers::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

std::int64_t JobWorkers::jobs_finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

void JobWorkers::work(int index) {
  const std::string name = options_.instance + "#" + std::to_string(index);
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    auto job = store::claim_job(db_, name, options_.lease_ms);
    if (job && *job) {
      run_one(**job, name);
      continue;
    }
    if (!job) spdlog::warn("job queue: {}", job.error().message);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms),
                 [&] { return stopping_ || wakeups_ != seen; });
  }
}

void JobWorkers::heartbeat() {
  const auto period = std::chrono::milliseconds(std::max<std::int64_t>(50, options_.lease_ms / 3));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, period, [&] { return stopping_; });
    auto active = active_;
    lock.unlock();
    for (const auto& [job_id, wp] : active) {
      auto r = store::renew_job(db_, job_id, wp.first, wp.second, options_.lease_ms);
      if (!r) spdlog::warn("job {}: lease renewal failed: {}", job_id, r.error().message);
    }
    lock.lock();
  }
}

void JobWorkers::run_one(const store::Job& job, const std::string& worker) {
  store::AnalysisInput input;
  input.job_id = job.id;
  input.image_id = job.image_id;
  input.sample_id = job.sample_id;
  auto prepared = db_.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
    MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, job.image_id));
    MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, job.sample_id));
    input.sha256 = image.sha256;
    input.specimen = config_to_json(sample.specimen).get<std::string>();
    MS_ASSIGN_OR_RETURN(input.image_path, files_.path_of(image.sha256));
    return {};
  });
  Result<store::AnalysisOutput> out = tl::unexpected(Error{});
  if (!prepared) {
    out = tl::unexpected(prepared.error());
  } else {
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_[job.id] = {worker, 0.0};
    }
    try {
      out = runner_.analyse(input, [&](double p) {
        std::lock_guard<std::mutex> lock(mu_);
        active_[job.id].second = std::clamp(p, 0.0, 1.0);
      });
    } catch (const std::exception& e) {
      out = tl::unexpected(Error{ErrorCode::kInternal, std::string("analysis crashed: ") + e.what()});
    }
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(job.id);
  }
  Result<bool> written = out ? store::complete_job(db_, job.id, worker, *out)
                             : store::fail_job(db_, job.id, worker, out.error().message);
  if (!written) {
    spdlog::error("job {}: could not record its result: {}", job.id, written.error().message);
  } else if (!*written) {
    spdlog::warn("job {}: lease lost to another worker; result discarded", job.id);
  } else {
    if (!out) spdlog::warn("job {} failed: {}", job.id, out.error().message);
    std::lock_guard<std::mutex> lock(mu_);
    ++finished_;
  }
}

}  // namespace ms::server
