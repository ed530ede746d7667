// `marrowscope worker`: analyses queued jobs, nothing else (no HTTP). Any number of worker
// processes, on any number of machines, share one PostgreSQL database (the queue: claims with
// FOR UPDATE SKIP LOCKED, leases renewed while a job runs) and one file store (the --data-dir of
// the servers, on shared storage). A worker that dies stops renewing its leases; once they run
// out another worker takes its jobs, and a job's cells are written once (store/job_queue.h).
//
// SIGTERM or SIGINT drains: no new job is claimed, the jobs in hand finish (up to --drain-s), and
// what is still running then, or at a second signal, is handed back to the queue at once
// (store::release_job) before the process exits.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/analysis_models.h"
#include "cli/app.h"
#include "core/error.h"
#include "server/active_classifier.h"
#include "server/file_store.h"
#include "server/job_workers.h"
#include "server/pipeline_runner.h"
#include "store/database.h"
#include "store/model_versions.h"
#include "store/schema.h"

namespace ms::cli {
namespace {

struct WorkerArgs {
  std::string db_url, data_dir;
  int threads = 1;
  std::int64_t lease_ms = 60000, poll_ms = 1000;
  double drain_s = 600;
  AnalysisModelFlags models;
};

// A worker's files are the servers' files, so its --data-dir must be the same store: the newest
// image's file is looked for. Without this check a worker on an unmounted or wrong path would fail
// every job it claims (each failure counting towards the attempt cap) instead of refusing to start.
Status check_shared_store(store::Database& db, const server::FileStore& files, const std::string& data_dir) {
  MS_ASSIGN_OR_RETURN(auto newest, db.transact(store::TxMode::kRead, [](store::Tx& tx) {
    return tx.query_one("SELECT id, sha256 FROM images ORDER BY id DESC LIMIT 1");
  }));
  if (!newest) return {};  // nothing stored yet: nothing to compare
  if (files.contains(newest->s("sha256"))) return {};
  return fail(ErrorCode::kInvalidArgument,
              fmt::format("--data-dir '{}' is not the file store the servers write: image {}'s file "
                          "{} is not under '{}'. Point --data-dir at the shared directory the servers "
                          "use as their --data-dir (mounted at the same path or not, its content must be "
                          "the same)",
                          data_dir, newest->i("id"), newest->s("sha256"), files.root()));
}

void run_worker(const WorkerArgs& a) {
  if (a.db_url.rfind("postgresql://", 0) != 0 && a.db_url.rfind("postgres://", 0) != 0)
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "--db '" + a.db_url.substr(0, a.db_url.find(':') + 1) +
                          "...': `marrowscope worker` needs a postgresql:// URL. An SQLite database "
                          "belongs to the one `marrowscope serve` process that opens it, which "
                          "analyses with its own threads (serve --workers N); its start-up "
                          "recovery re-queues every running job, which would take them from a "
                          "worker process");
  sigset_t stop_signals = block_stop_signals();
  auto runner = load_analysis_runner(a.models, "");
  auto db = value_or_throw(store::open_database(a.db_url));
  // Migrations are applied under an advisory lock, so a worker that starts first with a newer
  // build is safe; an older build refuses a newer schema.
  value_or_throw(store::migrate(*db));
  auto files = value_or_throw(server::FileStore::open(a.data_dir));
  value_or_throw(check_shared_store(*db, files, a.data_dir));
  // The classifier version an admin activated, before the models are recorded (recording marks
  // the models in use as the active ones); checked again every few seconds below.
  server::ActiveClassifierFollower follower(*db, a.data_dir, *runner);
  value_or_throw(follower.sync());
  value_or_throw(store::record_models(*db, runner->models()));

  server::WorkerOptions w;
  w.workers = a.threads;
  w.lease_ms = a.lease_ms;
  w.poll_ms = a.poll_ms;
  w.instance = server::process_instance_name();
  w.sweep_files = false;
  server::JobWorkers workers(*db, files, *runner, w);
  workers.start();
  std::cout << "marrowscope worker: " << w.instance << ", " << runner->name() << ", " << a.threads
            << " analysis thread(s), database " << db->describe() << ", file store " << files.root()
            << std::endl;

  int sig = 0;
  for (;;) {
    timespec tick{5, 0};
    sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig > 0) break;
    if (auto synced = follower.sync(); !synced) spdlog::error("active classifier: {}", synced.error().message);
  }
  workers.request_stop();
  std::cout << "marrowscope worker: stopping (signal " << sig << "): finishing " << workers.jobs_in_hand()
            << " job(s) in hand for up to " << a.drain_s
            << " s; a second signal hands them back to the queue now" << std::endl;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(a.drain_s * 1000));
  bool again = false;
  while (workers.jobs_in_hand() > 0 && std::chrono::steady_clock::now() < deadline) {
    timespec tick{0, 100 * 1000 * 1000};
    if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
      again = true;
      break;
    }
  }
  if (workers.jobs_in_hand() == 0) {
    workers.stop();
    std::cout << "marrowscope worker: stopped; " << workers.jobs_finished() << " job(s) finished" << std::endl;
    return;
  }
  const std::string reason = fmt::format("handed back unfinished by worker {} when it stopped ({})", w.instance,
                                         again ? "a second stop signal" : "its drain time ran out");
  const int released = workers.release_jobs_in_hand(reason);
  std::cout << "marrowscope worker: handed " << released << " unfinished job(s) back to the queue; exiting"
            << std::endl;
  // The analyses still running are abandoned, not awaited: their jobs are back in the queue and
  // anything they would write is refused (they no longer own the jobs). The database has every
  // write committed; nothing else in this process needs an orderly end.
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace

void register_worker(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "worker", "Analyse queued jobs from a shared PostgreSQL database and file store (no HTTP); "
                "run any number, on any number of machines");
  auto a = std::make_shared<WorkerArgs>();
  cmd->add_option("--db", a->db_url, "postgresql://USER@HOST:PORT/DB, the database the servers use")->required();
  cmd->add_option("--data-dir", a->data_dir, "The servers' data directory on shared storage (its files/ are read)")
      ->required();
  cmd->add_option("--threads", a->threads, "Jobs analysed at once by this process (they share one pipeline)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--lease-ms", a->lease_ms,
                  "Lease of a claimed job, renewed every third of it; a job whose worker died is taken "
                  "over after it runs out")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{300}, std::int64_t{3600000}));
  cmd->add_option("--poll-ms", a->poll_ms, "How often an idle worker looks at the queue")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{10}, std::int64_t{600000}));
  cmd->add_option("--drain-s", a->drain_s,
                  "After SIGTERM: seconds to finish the jobs in hand before handing them back")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  add_analysis_model_options(cmd, a->models);
  cmd->callback([a] { run_worker(*a); });
}

}  // namespace ms::cli
