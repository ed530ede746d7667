#pragma once
// N worker threads that drain the durable job queue (store/job_queue.h): claim, run the
// AnalysisRunner, write the cells (or the error) in one transaction. A heartbeat thread renews
// the leases of running jobs so another server does not take them over while they run.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/file_store.h"
#include "store/analysis_runner.h"
#include "store/database.h"
#include "store/records.h"

namespace ms::server {

struct WorkerOptions {
  int workers = 1;
  std::int64_t lease_ms = 60000;      // a job whose worker is silent this long is re-queued
  std::int64_t poll_ms = 1000;        // queue check when nobody calls wake()
  std::string instance = "server";    // prefix of worker names (host:pid)
};

class JobWorkers {
 public:
  JobWorkers(store::Database& db, const FileStore& files, store::AnalysisRunner& runner,
             WorkerOptions options);
  ~JobWorkers();  // stop()
  void start();
  // Workers finish the job in hand, then exit.
  void stop();
  // A job was queued: look now instead of at the next poll.
  void wake();
  std::int64_t jobs_finished() const;

 private:
  void work(int index);
  void heartbeat();
  void run_one(const store::Job& job, const std::string& worker);

  store::Database& db_;
  const FileStore& files_;
  store::AnalysisRunner& runner_;
  WorkerOptions options_;
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t wakeups_ = 0;
  std::map<std::int64_t, std::pair<std::string, double>> active_;  // job -> (worker, progress)
  std::int64_t finished_ = 0;
};

}  // namespace ms::server
