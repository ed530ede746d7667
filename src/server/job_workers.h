#pragma once
// N worker threads that drain the durable job queue (store/job_queue.h): claim, run the
// AnalysisRunner, write the cells (or the error) in one transaction. A heartbeat thread renews
// the leases of running jobs so another server does not take them over while they run; a job
// that is no longer this worker's (cancelled, or taken over) is stopped at its next progress
// report and its result discarded. A housekeeping thread sweeps the file store (files no row
// names any more) at start, on request and periodically.
//
// Nothing a job does ends the worker loop: errors and exceptions from the queue, the database
// or the runner are logged, the job is failed where possible (otherwise its lease runs out and
// the attempt cap ends it), and the worker goes on with the next job.
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
  std::int64_t sweep_every_ms = 3600000;  // file store sweep period (and one at start)
  // false: no housekeeping thread (a worker process: the servers own the sweep, and one listing
  // of a large shared store per worker per hour would be wasted I/O).
  bool sweep_files = true;
};

// "host:pid", the prefix of this process's worker names (jobs.worker, the operation log).
std::string process_instance_name();

class JobWorkers {
 public:
  JobWorkers(store::Database& db, const FileStore& files, store::AnalysisRunner& runner,
             WorkerOptions options);
  ~JobWorkers();  // stop()
  void start();
  // Workers finish the job in hand, then exit.
  void stop();
  // Stops claiming jobs and returns at once; the jobs in hand run on (stop() then joins).
  void request_stop();
  // Jobs being analysed now.
  std::size_t jobs_in_hand() const;
  // Hands the jobs in hand back to the queue (store::release_job, not counted as attempts) and
  // stops their analyses at their next progress report; their results are discarded. For a
  // drain that ran out of time: the process may exit right after. Returns how many went back.
  int release_jobs_in_hand(const std::string& reason);
  // A job was queued: look now instead of at the next poll.
  void wake();
  // Rows naming stored files were deleted: sweep the file store soon (in the background).
  void request_sweep();
  std::int64_t jobs_finished() const;
  std::int64_t sweeps_done() const;

 private:
  struct Active {
    std::string worker;
    double progress = 0;
    bool abandoned = false;  // the lease could not be renewed: cancelled or taken over
  };
  void work(int index);
  void heartbeat();
  void housekeeping();
  void run_one(const store::Job& job, const std::string& worker);
  bool stopping() const;
  // Records the job's outcome; never throws.
  void record(const store::Job& job, const std::string& worker,
              const Result<store::AnalysisOutput>& out);

  store::Database& db_;
  const FileStore& files_;
  store::AnalysisRunner& runner_;
  WorkerOptions options_;
  std::vector<std::thread> threads_;
  std::thread heartbeat_, housekeeping_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool sweep_requested_ = false;
  std::uint64_t wakeups_ = 0;
  std::map<std::int64_t, Active> active_;  // job -> its worker and state
  std::int64_t finished_ = 0;
  std::int64_t sweeps_ = 0;
};

// Sweeps the file store (sweep_orphans): after a delete of rows that named stored files
// (patients, samples), and at the start of a server without workers. With workers their
// housekeeping thread sweeps soon; without (no analysis runner) the caller's thread sweeps now.
// Errors are logged, not returned (a delete has committed already; the next sweep retries).
void sweep_files(store::Database& db, const FileStore& files, JobWorkers* workers);

}  // namespace ms::server
