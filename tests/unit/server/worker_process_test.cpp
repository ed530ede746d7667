// `marrowscope worker` processes -- the real binary with tiny trained models -- analysing the jobs
// of an in-process server that has no analysis threads (workers = 0, as `serve --workers 0`), all
// on one PostgreSQL database and one data directory:
// - a worker killed with SIGKILL while it analyses a field loses that job to the other workers
//   once its lease runs out; every job ends done, each with one "analysis.done" and its cells
//   written once, as many as the same models find in the same field in this process;
// - SIGTERM drains (the job in hand finishes, the process exits 0); a second SIGTERM hands the
//   job back to the queue without spending an attempt;
// - a worker refuses an SQLite URL, and a data directory that is not the servers' file store.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "server/lab_server_fixture.h"
#include "server/pipeline_runner.h"
#include "store/database.h"
#include "unit/pipeline/pipeline_fixture.h"

namespace ms::testing {
namespace {

namespace fs = std::filesystem;

// Runs the binary with `args`, stdout and stderr into `log`; returns its pid.
pid_t spawn_marrowscope(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>("marrowscope")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(MARROWSCOPE_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits for the process to exit; its wait status, or -1 after `timeout_ms`.
int wait_exit(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::vector<std::string> postgres_only() {
  const char* pg = std::getenv("MARROWSCOPE_TEST_PG");
  if (pg && *pg) return {"postgresql"};
  return {};
}

struct JobRow {
  std::int64_t id = 0, attempts = 0;
  std::string status, worker, error;
};

class WorkerProcessTest : public LabServerTest {
 protected:
  WorkerProcessTest() { start_in_setup_ = false; }
  void SetUp() override {
    LabServerTest::SetUp();
    options_.workers = 0;  // this server stores uploads and queues jobs; the worker processes analyse
    start_server();
    ASSERT_FALSE(HasFatalFailure());
    models_ = tiny_models();
    auto db = store::open_database(url_->url());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
  }
  void TearDown() override {
    for (pid_t pid : live_)
      if (kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
    db_.reset();
    LabServerTest::TearDown();
  }

  // A worker on the test database and the server's data directory, with short leases so that a
  // killed worker's job is taken over in about a second.
  pid_t spawn_worker(const std::string& data_dir = "") {
    const std::string log = dir_.str() + "/worker" + std::to_string(logs_.size()) + ".log";
    const pid_t pid = spawn_marrowscope(
        {"worker", "--db", url_->url(), "--data-dir", data_dir.empty() ? options_.data_dir : data_dir,
         "--detector", models_.detector_dir, "--classifier", models_.classifier_dir, "--lease-ms", "1500",
         "--poll-ms", "50", "--drain-s", "60"},
        log);
    logs_[pid] = log;
    live_.push_back(pid);
    return pid;
  }
  void reap(pid_t pid) { live_.erase(std::remove(live_.begin(), live_.end(), pid), live_.end()); }
  static std::string name_prefix(pid_t pid) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(pid) + "#";
  }

  std::vector<JobRow> jobs(std::int64_t sample) {
    std::vector<JobRow> out;
    auto rows = db_->transact(store::TxMode::kRead, [&](store::Tx& tx) {
      return tx.query("SELECT id, status, attempts, COALESCE(worker, '') AS w, COALESCE(error, '') AS e "
                      "FROM jobs WHERE sample_id = ? ORDER BY id",
                      {sample});
    });
    EXPECT_TRUE(rows) << rows.error().message;
    if (!rows) return out;
    for (const auto& r : *rows) out.push_back({r.i("id"), r.i("attempts"), r.s("status"), r.s("w"), r.s("e")});
    return out;
  }
  // The job `pid` is analysing, polled every 5 ms; 0 if none within `timeout_ms`.
  std::int64_t job_running_in(pid_t pid, std::int64_t sample, int timeout_ms = 60000) {
    for (int waited = 0; waited < timeout_ms; waited += 5) {
      for (const auto& j : jobs(sample))
        if (j.status == "running" && j.worker.rfind(name_prefix(pid), 0) == 0) return j.id;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return 0;
  }
  std::int64_t scalar(const std::string& sql, const store::Params& params) {
    auto row = db_->transact(store::TxMode::kRead, [&](store::Tx& tx) { return tx.query_one(sql, params); });
    EXPECT_TRUE(row && *row) << (row ? "no row" : row.error().message);
    return row && *row ? (*row)->i("n") : -1;
  }
  // Fields with white and red cells, as the tiny models were trained on; `side` sets how long one
  // takes to analyse.
  std::vector<std::pair<std::string, std::string>> fields(int n, int side, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, std::string>> out;
    for (int k = 0; k < n; ++k) {
      auto f = random_field(side, side, side / 40, side / 30, rng);
      auto png = encode_image(f.image, ".png");
      out.emplace_back("field" + std::to_string(seed) + "_" + std::to_string(k) + ".png",
                       std::string(png->begin(), png->end()));
    }
    return out;
  }

  TinyModels models_;
  std::unique_ptr<store::Database> db_;
  std::map<pid_t, std::string> logs_;
  std::vector<pid_t> live_;
};

TEST_P(WorkerProcessTest, KilledWorkersJobIsFinishedOnceByAnother) {
  auto t = admin();
  const auto sample = make_sample(t, "WORKERS-1");
  const auto files = fields(8, 128, 7);
  auto up = upload(t, sample, files);
  ASSERT_EQ(up ? up->status : 0, 201) << (up ? up->body : "");
  // This server analyses nothing itself.
  const Json health = body_json(get(t, "/api/health"));
  EXPECT_EQ(health["analysis"], false) << health.dump();
  EXPECT_EQ(health["workers"], 0) << health.dump();

  // A worker whose --data-dir is not the servers' store refuses to start (it would fail every job).
  const pid_t lost = spawn_worker(dir_.str() + "/elsewhere");
  const int lost_status = wait_exit(lost, 60000);
  reap(lost);
  EXPECT_TRUE(WIFEXITED(lost_status) && WEXITSTATUS(lost_status) == 2) << slurp(logs_[lost]);
  EXPECT_NE(slurp(logs_[lost]).find("is not the file store the servers write"), std::string::npos)
      << slurp(logs_[lost]);
  for (const auto& j : jobs(sample)) EXPECT_EQ(j.status, "queued") << "job " << j.id;

  // Worker A: SIGKILL while it analyses a field. In the rare case it completed that field in the
  // instant between the poll and the kill, another worker A is started for the next one.
  std::int64_t crashed = 0;
  pid_t killed = 0;
  for (int tries = 0; tries < 3 && crashed == 0; ++tries) {
    const pid_t a = spawn_worker();
    const std::int64_t seen = job_running_in(a, sample);
    ASSERT_NE(seen, 0) << "worker A never ran a job: " << slurp(logs_[a]);
    kill(a, SIGKILL);
    int status = 0;
    waitpid(a, &status, 0);
    reap(a);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (const auto& j : jobs(sample))
      if (j.status == "running" && j.worker.rfind(name_prefix(a), 0) == 0) crashed = j.id, killed = a;
  }
  ASSERT_NE(crashed, 0) << "no job was left running by a killed worker";

  // Workers B and C take the rest, and the killed worker's job once its lease has run out.
  const pid_t b = spawn_worker();
  const pid_t c = spawn_worker();
  const Json p = wait_for_jobs(t, sample, 90000);
  EXPECT_EQ(p["done"], files.size()) << p.dump() << "\nB: " << slurp(logs_[b]) << "\nC: " << slurp(logs_[c]);
  EXPECT_EQ(p["failed"], 0) << p.dump();

  // What the same models find in the same fields, in this process.
  auto runner = server::PipelineRunner::load(models_.detector_dir, models_.classifier_dir);
  ASSERT_TRUE(runner) << runner.error().message;
  std::map<std::string, int> expected;
  for (const auto& [name, bytes] : files) {
    const std::string path = dir_.str() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    store::AnalysisInput in;
    in.image_path = path;
    in.sha256 = name;
    auto out = (*runner)->analyse(in, [](double) {});
    ASSERT_TRUE(out) << out.error().message;
    expected[name] = static_cast<int>(out->cells.size());
  }

  int total = 0;
  for (const auto& j : jobs(sample)) {
    SCOPED_TRACE("job " + std::to_string(j.id));
    EXPECT_EQ(j.status, "done");
    EXPECT_EQ(j.attempts, j.id == crashed ? 2 : 1);
    const store::Params id{j.id};
    const auto cells = scalar("SELECT COUNT(*) AS n FROM cells WHERE job_id = ?", id);
    EXPECT_EQ(cells, scalar("SELECT COUNT(DISTINCT cell_index) AS n FROM cells WHERE job_id = ?", id));
    EXPECT_EQ(cells, scalar("SELECT COALESCE(MAX(cell_index) + 1, 0) AS n FROM cells WHERE job_id = ?", id));
    const auto filename = db_->transact(store::TxMode::kRead, [&](store::Tx& tx) {
      return tx.query_one("SELECT i.filename FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.id = ?", id);
    });
    ASSERT_TRUE(filename && *filename);
    EXPECT_EQ(cells, expected[(*filename)->s("filename")]) << "cells lost or written twice";
    total += static_cast<int>(cells);
    const std::string done_details = "job " + std::to_string(j.id) + ",%";
    EXPECT_EQ(scalar("SELECT COUNT(*) AS n FROM log_entries WHERE action = 'analysis.done' AND details LIKE ?",
                     {done_details}),
              1);
    // The killed worker's job was finished by another worker.
    if (j.id == crashed)
      EXPECT_EQ(scalar("SELECT COUNT(*) AS n FROM log_entries WHERE action = 'analysis.done' AND details LIKE ?",
                       {"job " + std::to_string(j.id) + ",% worker " + name_prefix(killed) + "%"}),
                0);
  }
  EXPECT_GT(total, 0) << "the tiny models found no cell: nothing was compared";

  // SIGTERM on idle workers: they stop at once and exit 0.
  for (pid_t w : {b, c}) {
    kill(w, SIGTERM);
    const int status = wait_exit(w, 20000);
    reap(w);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ": " << slurp(logs_[w]);
    EXPECT_NE(slurp(logs_[w]).find("marrowscope worker: stopped;"), std::string::npos) << slurp(logs_[w]);
  }
}

TEST_P(WorkerProcessTest, SigtermFinishesTheJobInHandAndASecondHandsItBack) {
  auto t = admin();
  const auto sample = make_sample(t, "WORKERS-2");
  // Large enough (about 2 s with the tiny models here: 25 tiles) that the analysis outlasts the
  // signals sent while it runs.
  auto up = upload(t, sample, fields(1, 2048, 11));
  ASSERT_EQ(up ? up->status : 0, 201) << (up ? up->body : "");

  // One SIGTERM: the job in hand is finished, then the process exits 0.
  const pid_t d = spawn_worker();
  const std::int64_t first = job_running_in(d, sample);
  ASSERT_NE(first, 0) << slurp(logs_[d]);
  kill(d, SIGTERM);
  int status = wait_exit(d, 60000);
  reap(d);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ": " << slurp(logs_[d]);
  auto js = jobs(sample);
  ASSERT_EQ(js.size(), 1u);
  EXPECT_EQ(js[0].status, "done") << slurp(logs_[d]);
  EXPECT_EQ(js[0].attempts, 1);

  // Two SIGTERMs: the job goes back to the queue at once, its attempt not counted.
  up = upload(t, sample, fields(1, 2048, 12));
  ASSERT_EQ(up ? up->status : 0, 201) << (up ? up->body : "");
  const pid_t e = spawn_worker();
  const std::int64_t second = job_running_in(e, sample);
  ASSERT_NE(second, 0) << slurp(logs_[e]);
  kill(e, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(e, SIGTERM);
  status = wait_exit(e, 20000);
  reap(e);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ": " << slurp(logs_[e]);
  for (const auto& j : jobs(sample)) {
    if (j.id != second) continue;
    EXPECT_EQ(j.status, "queued") << slurp(logs_[e]);
    EXPECT_EQ(j.attempts, 0);
    EXPECT_EQ(j.worker, "");
    EXPECT_NE(j.error.find("handed back unfinished by worker"), std::string::npos) << j.error;
  }
  // The next worker analyses it once.
  const pid_t f = spawn_worker();
  const Json p = wait_for_jobs(t, sample, 60000);
  EXPECT_EQ(p["done"], 2) << p.dump() << slurp(logs_[f]);
  for (const auto& j : jobs(sample)) EXPECT_EQ(j.attempts, 1) << "job " << j.id;
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkerProcessTest, ::testing::ValuesIn(postgres_only()), backend_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(WorkerProcessTest);
MS_POSTGRES_SKIP_NOTICE(WorkerProcessPostgres)

TEST(WorkerProcess, RefusesAnSqliteDatabase) {
  TempDir dir;
  const std::string log = dir.str() + "/worker.log";
  const pid_t pid = spawn_marrowscope({"worker", "--db", "sqlite:" + dir.str() + "/lab.db", "--data-dir", dir.str()}, log);
  const int status = wait_exit(pid, 30000);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(slurp(log).find("`marrowscope worker` needs a postgresql:// URL"), std::string::npos) << slurp(log);
  EXPECT_FALSE(fs::exists(dir.str() + "/lab.db")) << "the refused database was created";
}

}  // namespace
}  // namespace ms::testing
