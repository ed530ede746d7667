#include "store/job_queue.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error_reason.h"
#include "store/cell_store.h"
#include "store/operation_log.h"
#include "store/patient_store.h"

namespace ms::store {
namespace {

// region: an area job's rectangle as JSON text, built in SQL so a job is read in one row (both
// dialects concatenate integers as text with ||). eta_s is filled in after reading (with_eta).
constexpr const char* kJobSelect =
    "SELECT id, kind, image_id, sample_id, status, progress, attempts, error, worker, lease_until, "
    "created_at, started_at, finished_at, "
    "CASE WHEN region_w IS NULL THEN NULL ELSE '{\"x\":' || region_x || ',\"y\":' || region_y || "
    "',\"w\":' || region_w || ',\"h\":' || region_h || '}' END AS region, NULL AS eta_s FROM jobs";

// Seconds left of a running job: the time its attempt has taken, scaled by what is left of its
// progress. Unknown (null) before it has measurable progress.
Job with_eta(Job j) {
  if (j.status == JobStatus::kRunning && j.started_at && j.progress >= 0.02 && j.progress < 1.0) {
    const double spent_s = std::max<double>(0, double(now_ms() - *j.started_at) / 1000.0);
    j.eta_s = std::round(spent_s * (1.0 - j.progress) / j.progress * 10.0) / 10.0;
  }
  return j;
}

// The job row locked for this transaction (PostgreSQL); SQLite's write transaction already
// excludes other writers.
std::string owned_job_sql(Dialect d) {
  std::string sql = "SELECT id FROM jobs WHERE id = ? AND status = 'running' AND worker = ?";
  if (d == Dialect::kPostgres) sql += " FOR UPDATE";
  return sql;
}

// The operation log's line for a finished analysis (the log covers analyses as well as what people
// do): no user, since a worker ran it; the sample's accession as target, as uploads have.
Status log_analysis(Tx& tx, std::int64_t job_id, const std::string& worker, const std::string& action,
                    const std::string& outcome) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT s.accession, i.filename, j.image_id FROM jobs j "
                                             "JOIN samples s ON s.id = j.sample_id "
                                             "JOIN images i ON i.id = j.image_id WHERE j.id = ?",
                                             {job_id}));
  if (!row) return fail(ErrorCode::kInternal, fmt::format("job {} has no sample or image", job_id));
  LogInput e;
  e.action = action;
  e.target = row->s("accession");
  e.details = fmt::format("job {}, image {} ({}), worker {}: {}", job_id, row->i("image_id"),
                          row->s("filename"), worker, outcome);
  return append_log(tx, e);
}

}  // namespace

Result<Job> enqueue_analysis(Tx& tx, std::int64_t image_id, std::int64_t sample_id,
                             std::optional<std::int64_t> user_id) {
  MS_ASSIGN_OR_RETURN(auto id, tx.insert("INSERT INTO jobs (kind, image_id, sample_id, status, "
                                         "created_by, created_at) VALUES ('analyse_image', ?, ?, "
                                         "'queued', ?, ?) RETURNING id",
                                         {image_id, sample_id, Value(user_id), now_ms()}));
  return get_job(tx, id);
}

Result<Job> enqueue_area_analysis(Tx& tx, std::int64_t image_id, std::int64_t sample_id,
                                  std::optional<std::int64_t> user_id, std::int64_t x, std::int64_t y,
                                  std::int64_t w, std::int64_t h) {
  MS_ASSIGN_OR_RETURN(auto id, tx.insert("INSERT INTO jobs (kind, image_id, sample_id, status, created_by, "
                                         "created_at, region_x, region_y, region_w, region_h) VALUES "
                                         "('analyse_area', ?, ?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING id",
                                         {image_id, sample_id, Value(user_id), now_ms(), x, y, w, h}));
  return get_job(tx, id);
}

Status check_queue_quota(Tx& tx, std::optional<std::int64_t> user_id, std::int64_t limit) {
  if (!user_id) return {};
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT COUNT(*) AS n FROM jobs WHERE created_by = ? "
                                             "AND status = 'queued'",
                                             {*user_id}));
  const auto queued = row->i("n");
  if (queued > limit)
    return fail(ErrorCode::kConflict,
                fmt::format("analysis queue: this would leave {} of your analyses waiting, over the "
                            "limit of {} queued analyses per user; upload again when some have run "
                            "(or cancel some)",
                            queued, limit));
  return {};
}

Result<std::optional<Job>> claim_job(Database& db, const std::string& worker,
                                     std::int64_t lease_ms) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<std::optional<Job>> {
    const auto now = now_ms();
    std::string pick =
        "SELECT id, status, attempts, error, worker FROM jobs WHERE status = 'queued' OR "
        "(status = 'running' AND lease_until < ?) ORDER BY id LIMIT 1";
    if (tx.dialect() == Dialect::kPostgres) pick += " FOR UPDATE SKIP LOCKED";
    // Jobs given up on are failed in this transaction and the next one is tried; a bound keeps
    // one claim short even behind a long run of them (the rest go at the next claims).
    for (int given_up = 0; given_up < 100; ++given_up) {
      MS_ASSIGN_OR_RETURN(auto row, tx.query_one(pick, {now}));
      if (!row) return std::optional<Job>{};
      const auto id = row->i("id");
      const auto attempts = row->i("attempts");
      std::optional<std::string> last_error = row->opt_s("error");
      if (row->s("status") == "running")  // its worker stopped renewing the lease: it died or hung
        last_error = fmt::format("attempt {} ended without a result: worker {} stopped renewing "
                                 "its lease (its process died or hung)",
                                 attempts, row->opt_s("worker").value_or("?"));
      if (attempts >= kMaxJobAttempts) {
        const std::string error = fmt::format("gave up after {} attempts; last error: {}", attempts,
                                              last_error.value_or("none recorded"));
        MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = 'failed', error = ?, worker = NULL, "
                                   "lease_until = NULL, finished_at = ? WHERE id = ?",
                                   {error.substr(0, 4000), now, id}));
        MS_RETURN_IF_ERROR(log_analysis(tx, id, worker, "analysis.failed", error.substr(0, 500)));
        continue;
      }
      MS_ASSIGN_OR_RETURN(auto changed,
                          tx.exec("UPDATE jobs SET status = 'running', worker = ?, lease_until = ?, "
                                  "attempts = attempts + 1, progress = 0, started_at = ?, error = ? "
                                  "WHERE id = ?",
                                  {worker, now + lease_ms, now, Value(last_error), id}));
      if (changed != 1)
        return fail(ErrorCode::kInternal, fmt::format("job {} vanished inside its claim", id));
      MS_ASSIGN_OR_RETURN(Job job, get_job(tx, id));
      return std::optional<Job>(std::move(job));
    }
    return std::optional<Job>{};
  });
}

Result<bool> renew_job(Database& db, std::int64_t job_id, const std::string& worker,
                       double progress, std::int64_t lease_ms) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    MS_ASSIGN_OR_RETURN(auto changed,
                        tx.exec("UPDATE jobs SET progress = ?, lease_until = ? WHERE id = ? AND "
                                "status = 'running' AND worker = ?",
                                {progress, now_ms() + lease_ms, job_id, worker}));
    return changed == 1;
  });
}

Result<bool> complete_job(Database& db, std::int64_t job_id, const std::string& worker,
                          const AnalysisOutput& out) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    MS_ASSIGN_OR_RETURN(auto found, tx.query_one("SELECT sample_id FROM jobs WHERE id = ?", {job_id}));
    if (!found) return false;  // deleted with its sample while it ran
    // The sample row first (the lock order of every sample-changing transaction), shared: jobs of
    // one sample complete side by side, but not while a sign-off holds the row, and a sign-off
    // that committed first is seen here.
    std::string sample_sql = "SELECT accession, status FROM samples WHERE id = ?";
    if (tx.dialect() == Dialect::kPostgres) sample_sql += " FOR SHARE";
    MS_ASSIGN_OR_RETURN(auto sample, tx.query_one(sample_sql, {found->i("sample_id")}));
    MS_ASSIGN_OR_RETURN(auto owned, tx.query_one(owned_job_sql(tx.dialect()), {job_id, worker}));
    if (!owned || !sample) return false;
    const auto now = now_ms();
    if (sample->s("status") == "signed") {
      const std::string error = fmt::format(
          "sample {} was signed while this field was being analysed; a signed sample is locked, "
          "so the {} cell(s) found were not added",
          sample->s("accession"), out.cells.size());
      MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = 'cancelled', error = ?, "
                                 "lease_until = NULL, finished_at = ? WHERE id = ?",
                                 {error, now, job_id}));
      MS_RETURN_IF_ERROR(log_analysis(tx, job_id, worker, "analysis.cancelled", error));
      return true;
    }
    MS_ASSIGN_OR_RETURN(Job job, get_job(tx, job_id));
    for (std::size_t k = 0; k < out.cells.size(); ++k) {
      const AnalysedCell& c = out.cells[k];
      Json top = Json::array();
      for (const auto& [name, p] : c.top_k) top.push_back({{"class", name}, {"p", p}});
      MS_RETURN_IF_ERROR(tx.exec(
          "INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
          "suggested_class, probability, top_k, entropy, flagged, detector_version, "
          "classifier_version, confirmed, created_at, updated_at, crop_side, atypical, flag_reason) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
          {job_id, static_cast<std::int64_t>(k), job.image_id, job.sample_id, c.box.x1, c.box.y1,
           c.box.x2, c.box.y2, c.det_score, c.cell_class, c.probability, top.dump(), c.entropy,
           c.flagged, out.detector_version, out.classifier_version, now, now,
           c.crop_side > 0 ? Value(c.crop_side) : Value(),
           c.atypical >= 0.f ? Value(static_cast<double>(c.atypical)) : Value(),
           c.flag_reason.empty() ? Value() : Value(c.flag_reason)}));
    }
    MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = 'done', progress = 1, error = NULL, "
                               "lease_until = NULL, finished_at = ? WHERE id = ?",
                               {now, job_id}));
    MS_RETURN_IF_ERROR(log_analysis(tx, job_id, worker, "analysis.done",
                                    fmt::format("{} cells, detector {}, classifier {}", out.cells.size(),
                                                out.detector_version, out.classifier_version)));
    return true;
  });
}

Result<bool> fail_job(Database& db, std::int64_t job_id, const std::string& worker,
                      const std::string& error) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    MS_ASSIGN_OR_RETURN(auto changed,
                        tx.exec("UPDATE jobs SET status = 'failed', error = ?, lease_until = NULL, "
                                "finished_at = ? WHERE id = ? AND status = 'running' AND worker = ?",
                                {error.substr(0, 4000), now_ms(), job_id, worker}));
    if (changed == 1) MS_RETURN_IF_ERROR(log_analysis(tx, job_id, worker, "analysis.failed", error.substr(0, 500)));
    return changed == 1;
  });
}

Result<bool> release_job(Database& db, std::int64_t job_id, const std::string& worker,
                         const std::string& reason) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    MS_ASSIGN_OR_RETURN(auto changed,
                        tx.exec("UPDATE jobs SET status = 'queued', error = ?, worker = NULL, "
                                "lease_until = NULL, progress = 0, started_at = NULL, attempts = "
                                "CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
                                "WHERE id = ? AND status = 'running' AND worker = ?",
                                {reason.substr(0, 4000), job_id, worker}));
    if (changed == 1) MS_RETURN_IF_ERROR(log_analysis(tx, job_id, worker, "analysis.released", reason.substr(0, 500)));
    return changed == 1;
  });
}

Result<Job> retry_job(Tx& tx, std::int64_t job_id) {
  MS_ASSIGN_OR_RETURN(Job job, get_job(tx, job_id));
  MS_ASSIGN_OR_RETURN(Sample sample, lock_sample(tx, job.sample_id));
  if (sample.status == SampleStatus::kSigned)
    return fail(ErrorCode::kConflict, Reason::kSampleSignedJob,
                {{"sample", sample.accession}, {"job", std::to_string(job_id)}});
  MS_ASSIGN_OR_RETURN(job, get_job(tx, job_id));  // as of the lock
  if (job.status != JobStatus::kFailed && job.status != JobStatus::kCancelled)
    return fail(ErrorCode::kConflict,
                fmt::format("job {} is {}; only failed or cancelled jobs can be retried", job_id,
                            config_to_json(job.status).get<std::string>()));
  MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = 'queued', progress = 0, worker = NULL, "
                             "lease_until = NULL, attempts = 0, finished_at = NULL "
                             "WHERE id = ? AND status IN ('failed', 'cancelled')",
                             {job_id}));
  return get_job(tx, job_id);
}

Result<Job> cancel_job(Tx& tx, std::int64_t job_id, const std::string& by) {
  MS_ASSIGN_OR_RETURN(Job job, get_job(tx, job_id));
  auto refuse = [&](const Job& j) {
    return fail(ErrorCode::kConflict,
                fmt::format("job {} is {}; only queued or running jobs can be cancelled", job_id,
                            config_to_json(j.status).get<std::string>()));
  };
  if (job.status != JobStatus::kQueued && job.status != JobStatus::kRunning) return refuse(job);
  // A worker writing the result holds the row (PostgreSQL); the status is checked again as the
  // update finds it, so a job that finished meanwhile is refused, not marked cancelled.
  MS_ASSIGN_OR_RETURN(auto changed,
                      tx.exec("UPDATE jobs SET status = 'cancelled', error = ?, lease_until = NULL, "
                              "finished_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                              {"cancelled by " + by, now_ms(), job_id}));
  MS_ASSIGN_OR_RETURN(job, get_job(tx, job_id));
  if (changed != 1) return refuse(job);
  return job;
}

Result<std::int64_t> requeue_running_jobs(Database& db, bool all) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<std::int64_t> {
    // The attempt that was running counts (claim_job gives up after kMaxJobAttempts), and its
    // error says how it ended, so a field that crashes the server ends as a failed job that
    // names the cause instead of crashing it at every start.
    const std::string set =
        "UPDATE jobs SET status = 'queued', lease_until = NULL, progress = 0, error = "
        "'attempt ' || CAST(attempts AS TEXT) || ' ended without a result: the server (' || "
        "COALESCE(worker, '?') || ') stopped while analysing this field', worker = NULL "
        "WHERE status = 'running'";
    if (all) return tx.exec(set);
    return tx.exec(set + " AND lease_until < ?", {now_ms()});
  });
}

Result<Job> get_job(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string(kJobSelect) + " WHERE id = ?", {id}));
  if (!row) return fail(ErrorCode::kNotFound, "job " + std::to_string(id) + " does not exist");
  return with_eta(from_row<Job>(*row));
}

Result<std::vector<Job>> list_jobs(Tx& tx, const JobQuery& q) {
  std::string sql = std::string(kJobSelect) + " WHERE 1 = 1";
  Params params;
  if (q.sample_id) {
    sql += " AND sample_id = ?";
    params.push_back(*q.sample_id);
  }
  if (q.status) {
    sql += " AND status = ?";
    params.push_back(config_to_json(*q.status).get<std::string>());
  }
  sql += " ORDER BY id DESC LIMIT ?";
  params.push_back(std::clamp<std::int64_t>(q.limit, 1, 1000));
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
  std::vector<Job> out;
  for (const auto& r : rows) out.push_back(with_eta(from_row<Job>(r)));
  return out;
}

Result<SampleProgress> sample_progress(Tx& tx, std::int64_t sample_id) {
  SampleProgress p;
  MS_ASSIGN_OR_RETURN(auto target, tx.query_one("SELECT count_target FROM samples WHERE id = ?",
                                                {sample_id}));
  if (!target)
    return fail(ErrorCode::kNotFound, "sample " + std::to_string(sample_id) + " does not exist");
  p.count_target = target->i("count_target");
  MS_ASSIGN_OR_RETURN(auto images,
                      tx.query_one("SELECT COUNT(*) AS n FROM images WHERE sample_id = ?", {sample_id}));
  p.images = images->i("n");
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT status, COUNT(*) AS n, SUM(progress) AS pr FROM "
                                          "jobs WHERE sample_id = ? GROUP BY status",
                                          {sample_id}));
  double running_progress = 0;
  for (const auto& r : rows) {
    const auto s = r.s("status");
    const auto n = r.i("n");
    if (s == "queued") p.queued = n;
    if (s == "running") {
      p.running = n;
      running_progress = r.d("pr");
    }
    if (s == "done") p.done = n;
    if (s == "failed") p.failed = n;
    if (s == "cancelled") p.cancelled = n;
  }
  const auto finished = p.done + p.failed + p.cancelled;
  const auto total = p.queued + p.running + finished;
  p.fraction = total == 0 ? 0.0 : (finished + running_progress) / static_cast<double>(total);
  MS_ASSIGN_OR_RETURN(auto cells, tx.query_one("SELECT COUNT(*) AS n, COALESCE(SUM(confirmed), 0) "
                                               "AS r FROM cells c WHERE sample_id = ? AND " + std::string(kCountedCellSql),
                                               {sample_id}));
  p.cells = cells->i("n");
  p.reviewed_cells = cells->i("r");
  return p;
}

Result<QueueCounts> queue_counts(Tx& tx) {
  QueueCounts c;
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status"));
  for (const auto& r : rows) {
    const auto s = r.s("status");
    if (s == "queued") c.queued = r.i("n");
    if (s == "running") c.running = r.i("n");
    if (s == "done") c.done = r.i("n");
    if (s == "failed") c.failed = r.i("n");
    if (s == "cancelled") c.cancelled = r.i("n");
  }
  return c;
}

}  // namespace ms::store
