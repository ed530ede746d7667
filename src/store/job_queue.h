#pragma once
// Durable analysis jobs: a table is the queue. A worker claims the oldest queued job atomically
// (SQLite: BEGIN IMMEDIATE serialises writers; PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so
// workers on several machines never take the same row) and holds a lease it renews while it
// works. A job whose lease ran out (its worker died) is claimable again. Results are written in
// one transaction that first checks the worker still owns the job, and UNIQUE (job_id,
// cell_index) forbids a second copy of any cell: a job's cells are written exactly once.
#include <optional>
#include <string>
#include <vector>

#include "store/analysis_runner.h"
#include "store/records.h"

namespace ms::store {

// A job is claimed at most this many times. Each claim counts, including one whose process died
// (a crash while analysing, a lease that ran out): a field that crashes the server would otherwise
// crash it again at every start. The next claim marks the job failed with its last error.
inline constexpr std::int64_t kMaxJobAttempts = 3;
// Queued analyses one user may have waiting; an upload over it is refused (kConflict) before
// anything is queued, so one person cannot fill the workers' days.
inline constexpr std::int64_t kMaxQueuedJobsPerUser = 5000;

Result<Job> enqueue_analysis(Tx& tx, std::int64_t image_id, std::int64_t sample_id,
                             std::optional<std::int64_t> user_id);
// An area of a slide (level-0 pixels), analysed tile by tile; the caller checks the rectangle.
Result<Job> enqueue_area_analysis(Tx& tx, std::int64_t image_id, std::int64_t sample_id,
                                  std::optional<std::int64_t> user_id, std::int64_t x, std::int64_t y,
                                  std::int64_t w, std::int64_t h);
// kConflict when `user_id` has more than `limit` queued jobs (call after enqueueing, in the same
// transaction, so the refusal rolls the new jobs back). No user (a system job): no limit.
Status check_queue_quota(Tx& tx, std::optional<std::int64_t> user_id,
                         std::int64_t limit = kMaxQueuedJobsPerUser);
// The oldest claimable job, now running under `worker` until now + lease_ms; nullopt if none.
// A claimable job already claimed kMaxJobAttempts times is marked failed instead ("gave up after
// 3 attempts", with its last error) and the next one is tried. Re-claiming a job whose lease ran
// out records why the previous attempt ended.
Result<std::optional<Job>> claim_job(Database& db, const std::string& worker, std::int64_t lease_ms);
// Renews the lease and records progress; false when the worker no longer owns the job.
Result<bool> renew_job(Database& db, std::int64_t job_id, const std::string& worker,
                       double progress, std::int64_t lease_ms);
// Writes the cells and marks the job done, all or nothing; false (nothing written) when the
// worker no longer owns the job (cancelled, or its lease was taken over). A job whose sample was
// signed meanwhile writes no cell (a signed sample is locked): it is marked cancelled with an
// error saying so, and the answer is true (the job's outcome is recorded).
Result<bool> complete_job(Database& db, std::int64_t job_id, const std::string& worker,
                          const AnalysisOutput& out);
// Marks the job failed with its error (kept until a retry succeeds).
Result<bool> fail_job(Database& db, std::int64_t job_id, const std::string& worker,
                      const std::string& error);
// running -> queued without counting the attempt: a worker that is being stopped hands back a job
// it will not finish (a drain that ran out of time), so another worker takes it at once instead of
// after the lease, and the attempt cap keeps counting only attempts that crashed or failed. The
// reason is kept as the job's error until it runs again. false when the worker no longer owns it.
Result<bool> release_job(Database& db, std::int64_t job_id, const std::string& worker,
                         const std::string& reason);
// failed or cancelled -> queued, with a fresh allowance of attempts (a person decided to try
// again). kConflict for any other status, and while the job's sample is signed.
Result<Job> retry_job(Tx& tx, std::int64_t job_id);
// queued or running -> cancelled, the error naming who cancelled it. A worker running it finds
// out at its next lease renewal (and stops) or when it writes the result (which is discarded).
// kConflict for any other status.
Result<Job> cancel_job(Tx& tx, std::int64_t job_id, const std::string& by);
// Start-up recovery: running jobs go back to the queue, their error saying that the process
// stopped during that attempt (the attempt still counts). `all`: every running job (a single
// process owns the database, as with SQLite); otherwise only those whose lease has run out.
Result<std::int64_t> requeue_running_jobs(Database& db, bool all);

Result<Job> get_job(Tx& tx, std::int64_t id);
struct JobQuery {
  std::optional<std::int64_t> sample_id;
  std::optional<JobStatus> status;
  std::int64_t limit = 100;
};
Result<std::vector<Job>> list_jobs(Tx& tx, const JobQuery& q);

struct SampleProgress {
  std::int64_t images = 0, queued = 0, running = 0, done = 0, failed = 0, cancelled = 0;
  std::int64_t cells = 0, reviewed_cells = 0, count_target = 0;
  double fraction = 0;  // jobs finished (done, failed or cancelled) / jobs, with running jobs' progress
  template <class V>
  void visit(V& v) {
    v("images", images); v("queued", queued); v("running", running); v("done", done);
    v("failed", failed); v("cancelled", cancelled); v("cells", cells);
    v("reviewed_cells", reviewed_cells);
    v("count_target", count_target); v("fraction", fraction);
  }
};
Result<SampleProgress> sample_progress(Tx& tx, std::int64_t sample_id);

struct QueueCounts {
  std::int64_t queued = 0, running = 0, done = 0, failed = 0, cancelled = 0;
  template <class V>
  void visit(V& v) {
    v("queued", queued); v("running", running); v("done", done); v("failed", failed);
    v("cancelled", cancelled);
  }
};
Result<QueueCounts> queue_counts(Tx& tx);

}  // namespace ms::store
