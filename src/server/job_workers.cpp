#include "server/job_workers.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>

#include <spdlog/spdlog.h>

#include "store/image_store.h"
#include "store/job_queue.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

// Thrown from the progress callback to stop an analysis whose job this worker no longer owns.
struct JobAbandoned {};

// The message of the exception being handled (call inside a catch block).
std::string current_exception_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

void sweep_now(store::Database& db, const FileStore& files) {
  try {
    auto r = sweep_orphans(db, files);
    if (!r) spdlog::warn("file store sweep: {}", r.error().message);
  } catch (...) {
    spdlog::error("file store sweep: {}", current_exception_message());
  }
}

}  // namespace

std::string process_instance_name() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  return std::string(host) + ":" + std::to_string(::getpid());
}

JobWorkers::JobWorkers(store::Database& db, const FileStore& files, store::AnalysisRunner& runner,
                       WorkerOptions options)
    : db_(db), files_(files), runner_(runner), options_(std::move(options)) {}

JobWorkers::~JobWorkers() { stop(); }

void JobWorkers::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!threads_.empty()) return;
  stopping_ = false;
  sweep_requested_ = true;  // once at start: what a previous process left behind
  for (int k = 0; k < std::max(1, options_.workers); ++k) threads_.emplace_back([this, k] { work(k); });
  heartbeat_ = std::thread([this] { heartbeat(); });
  if (options_.sweep_files) housekeeping_ = std::thread([this] { housekeeping(); });
}

void JobWorkers::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

bool JobWorkers::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

std::size_t JobWorkers::jobs_in_hand() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_.size();
}

int JobWorkers::release_jobs_in_hand(const std::string& reason) {
  std::vector<std::pair<std::int64_t, std::string>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [job_id, a] : active_) {
      if (a.abandoned) continue;
      a.abandoned = true;  // the heartbeat stops renewing it; the analysis stops at its next report
      held.emplace_back(job_id, a.worker);
    }
  }
  int released = 0;
  for (const auto& [job_id, worker] : held) {
    Result<bool> r = false;
    try {
      r = store::release_job(db_, job_id, worker, reason);
    } catch (...) {
      r = tl::unexpected(Error{ErrorCode::kInternal, current_exception_message()});
    }
    if (!r)
      spdlog::error("job {}: could not hand it back ({}); it is claimed again when its lease runs out",
                    job_id, r.error().message);
    else if (*r)
      ++released;
  }
  return released;
}

void JobWorkers::stop() {
  request_stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (housekeeping_.joinable()) housekeeping_.join();
}

void JobWorkers::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void JobWorkers::request_sweep() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sweep_requested_ = true;
  }
  cv_.notify_all();
}

std::int64_t JobWorkers::jobs_finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

std::int64_t JobWorkers::sweeps_done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sweeps_;
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
    bool ran = false;
    try {
      auto job = store::claim_job(db_, name, options_.lease_ms);
      if (job && *job && stopping()) {
        // Claimed while a stop was being asked for: hand it back at once rather than start it.
        auto released = store::release_job(db_, (*job)->id, name, "released unstarted by worker " + name +
                                                                   ", which was stopping");
        if (!released) spdlog::warn("job {}: {}", (*job)->id, released.error().message);
        return;
      }
      if (job && *job) {
        run_one(**job, name);
        ran = true;
      } else if (!job) {
        spdlog::warn("job queue: {}", job.error().message);
      }
    } catch (...) {  // a claim that threw: wait for the next poll, as after an error
      spdlog::error("worker {}: {}", name, current_exception_message());
    }
    if (ran) continue;
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
    std::vector<std::pair<std::int64_t, Active>> active(active_.begin(), active_.end());
    lock.unlock();
    for (const auto& [job_id, a] : active) {
      if (a.abandoned) continue;
      Result<bool> renewed = false;
      try {
        renewed = store::renew_job(db_, job_id, a.worker, a.progress, options_.lease_ms);
      } catch (...) {
        renewed = tl::unexpected(Error{ErrorCode::kInternal, current_exception_message()});
      }
      if (!renewed) {
        spdlog::warn("job {}: lease renewal failed: {}", job_id, renewed.error().message);
      } else if (!*renewed) {
        spdlog::info("job {}: cancelled or taken over by another worker; stopping its analysis", job_id);
        std::lock_guard<std::mutex> relock(mu_);
        auto it = active_.find(job_id);
        if (it != active_.end()) it->second.abandoned = true;
      }
    }
    lock.lock();
  }
}

void JobWorkers::housekeeping() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    cv_.wait_until(lock, next, [&] { return stopping_ || sweep_requested_; });
    if (stopping_) break;
    sweep_requested_ = false;
    lock.unlock();
    sweep_now(db_, files_);
    lock.lock();
    ++sweeps_;
    next = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.sweep_every_ms);
  }
}

void JobWorkers::run_one(const store::Job& job, const std::string& worker) {
  Result<store::AnalysisOutput> out = tl::unexpected(Error{});
  {
    // In hand from the claim on: a drain that runs out of time hands it back even while it is
    // still being prepared.
    std::lock_guard<std::mutex> lock(mu_);
    active_[job.id] = Active{worker, 0.0, false};
  }
  try {
    store::AnalysisInput input;
    input.job_id = job.id;
    input.image_id = job.image_id;
    input.sample_id = job.sample_id;
    auto prepared = db_.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
      MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, job.image_id));
      MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, job.sample_id));
      input.sha256 = image.sha256;
      input.specimen = config_to_json(sample.specimen).get<std::string>();
      input.um_per_px = sample.um_per_px.value_or(0.0);
      if (image.kind == store::ImageKind::kSlide) {
        // A slide's own scale (from its scanner) is the best one; the sample's declared one next.
        if (image.mpp && *image.mpp > 0) input.um_per_px = *image.mpp;
        if (!job.region)
          return fail(ErrorCode::kInvalidArgument, "image " + std::to_string(image.id),
                      "an area to analyse (slides are analysed area by area)", "a whole-slide job");
        const Json& r = *job.region;
        input.region = store::AnalysisInput::Region{r.value("x", std::int64_t{0}), r.value("y", std::int64_t{0}),
                                                    r.value("w", std::int64_t{0}), r.value("h", std::int64_t{0})};
        MS_ASSIGN_OR_RETURN(input.image_path, files_.slide_path(image.sha256, image.filename));
        return {};
      }
      MS_ASSIGN_OR_RETURN(input.image_path, files_.path_of(image.sha256));
      return {};
    });
    if (!prepared) {
      out = tl::unexpected(prepared.error());
    } else {
      try {
        out = runner_.analyse(input, [&](double p) {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = active_.find(job.id);
          if (it == active_.end()) return;
          if (it->second.abandoned) throw JobAbandoned{};
          it->second.progress = std::clamp(p, 0.0, 1.0);
        });
      } catch (const JobAbandoned&) {
        out = tl::unexpected(Error{ErrorCode::kConflict, "analysis stopped: the job was cancelled "
                                                         "or taken over by another worker"});
      } catch (...) {
        out = tl::unexpected(Error{ErrorCode::kInternal, "analysis crashed: " + current_exception_message()});
      }
    }
  } catch (...) {
    out = tl::unexpected(Error{ErrorCode::kInternal, "preparing the analysis failed: " + current_exception_message()});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(job.id);
  }
  record(job, worker, out);
}

void JobWorkers::record(const store::Job& job, const std::string& worker,
                        const Result<store::AnalysisOutput>& out) {
  auto attempt = [&](auto&& write) -> Result<bool> {
    try {
      return write();
    } catch (...) {
      return tl::unexpected(Error{ErrorCode::kInternal, current_exception_message()});
    }
  };
  Result<bool> written =
      out ? attempt([&] { return store::complete_job(db_, job.id, worker, *out); })
          : attempt([&] { return store::fail_job(db_, job.id, worker, out.error().message); });
  if (!written && out) {
    // The cells could not be stored (a constraint, the database): fail the job with the reason
    // rather than leave it running until its lease runs out and analysing it again.
    const std::string why = "the result could not be stored: " + written.error().message;
    spdlog::error("job {}: {}", job.id, why);
    written = attempt([&] { return store::fail_job(db_, job.id, worker, why); });
  }
  if (!written) {
    spdlog::error("job {}: could not record its outcome ({}); it is claimed again when its lease "
                  "runs out, at most {} attempts in all",
                  job.id, written.error().message, store::kMaxJobAttempts);
    return;
  }
  if (!*written) {
    spdlog::warn("job {}: no longer this worker's (cancelled, or its lease was taken over); "
                 "result discarded",
                 job.id);
    return;
  }
  if (!out) spdlog::warn("job {} failed: {}", job.id, out.error().message);
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_;
}

void sweep_files(store::Database& db, const FileStore& files, JobWorkers* workers) {
  if (workers) {
    workers->request_sweep();
    return;
  }
  sweep_now(db, files);
}

}  // namespace ms::server
