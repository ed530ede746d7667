// Crashes. First a server in a forked test process (a test double analyses) killed with one job
// running and others queued: a new server finishes every job exactly once. Then the real thing:
// `build/marrowscope serve` with tiny trained models, killed with SIGKILL (no clean-up) at three
// moments -- (a) in the middle of an upload request, (b) with 60 analyses queued, (c) right after a
// job completed -- and restarted each time. Afterwards every acknowledged upload is there, every
// job is done with its result written exactly once (cells per field as in a clean run, one
// "analysis.done" per job, jobs finished before a kill not run again), the SQLite file passes
// integrity_check, and no stored file is left that no row names once the sweep has run.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "server/file_store.h"
#include "server/lab_server_fixture.h"
#include "store/file_refs.h"
#include "unit/pipeline/pipeline_fixture.h"

namespace ms::testing {
namespace {

class DurabilityTest : public LabServerTest {
 protected:
  DurabilityTest() { start_in_setup_ = false; }

  // Runs a server in a child process (so it can be killed for real); returns its pid and port.
  std::pair<pid_t, int> spawn_server() {
    int fds[2];
    if (pipe(fds) != 0) return {-1, -1};
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      options_.workers = 1;
      auto runner = std::make_shared<TestDoubleRunner>();
      runner->delay_ms = 400;
      int port = -1;
      auto s = server::LabServer::create(options_, runner);
      if (s && (*s)->start()) port = (*s)->port();
      if (write(fds[1], &port, sizeof port) != sizeof port) _exit(3);
      close(fds[1]);
      for (;;) pause();  // until SIGKILL
    }
    close(fds[1]);
    int port = -1;
    if (read(fds[0], &port, sizeof port) != sizeof port) port = -1;
    close(fds[0]);
    return {pid, port};
  }
};

TEST_P(DurabilityTest, KilledServerLosesNothingAndAnalysesNothingTwice) {
  auto [pid, port] = spawn_server();
  ASSERT_GT(pid, 0);
  ASSERT_GT(port, 0) << "child server did not start";
  connect(port);
  auto t = admin();
  const auto sample = make_sample(t, "CRASH-1");
  std::vector<std::pair<std::string, std::string>> files;
  for (int k = 0; k < 6; ++k) files.emplace_back("f" + std::to_string(k) + ".png", disc_png(100 + k));
  auto r = upload(t, sample, files);
  ASSERT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");

  // Kill while a job is running and at least one is still queued.
  Json p;
  for (int waited = 0; waited < 15000; waited += 20) {
    p = body_json(get(t, "/api/samples/" + std::to_string(sample) + "/progress"));
    if (p.value("done", 0) >= 1 && p.value("running", 0) == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(p.value("running", 0), 1) << p.dump();
  ASSERT_GE(p.value("queued", 0), 1) << p.dump();

  start_server();  // same database, same data directory
  t = admin();
  p = wait_for_jobs(t, sample);
  EXPECT_EQ(p["done"], 6);
  EXPECT_EQ(p["failed"], 0);
  EXPECT_EQ(p["cells"], 18) << "cells lost or written twice";
  auto images = body_json(get(t, "/api/samples/" + std::to_string(sample) + "/images"))["items"];
  ASSERT_EQ(images.size(), 6u);
  for (const auto& img : images) {
    auto cells = body_json(get(t, "/api/images/" + std::to_string(img["id"].get<int>()) + "/cells"));
    EXPECT_EQ(cells["total"], 3) << "image " << img["filename"];
  }
  int retried = 0;
  auto jobs = body_json(get(t, "/api/jobs?sample_id=" + std::to_string(sample)));
  ASSERT_EQ(jobs["items"].size(), 6u) << jobs.dump();
  for (const auto& j : jobs["items"]) {
    EXPECT_EQ(j["status"], "done");
    retried += j["attempts"].get<int>() > 1;
  }
  // The job seen running when the kill was sent ran again (it may, rarely, have finished in the
  // instant between the progress poll and the kill); no other job ran twice.
  EXPECT_LE(retried, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurabilityTest, ::testing::ValuesIn(test_backends()), backend_name);

namespace fs = std::filesystem;

// One `marrowscope serve` child process: the real binary, its output in a log file.
struct Serve {
  pid_t pid = -1;
  int port = 0;
  std::string log;
};

class ServeCrashTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    models_ = tiny_models();
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    // Small fields with a few white and red cells, as the tiny models were trained on.
    std::mt19937 rng(20261206);
    for (int k = 0; k < 60; ++k) {
      auto f = random_field(128, 128, 3, 4, rng);
      auto png = encode_image(f.image, ".png");
      fields_.emplace_back("field" + std::to_string(k) + ".png", std::string(png->begin(), png->end()));
    }
    // Bigger ones for the upload that is killed: enough work after its first stored file that
    // the kill lands inside the request.
    for (int k = 0; k < 64; ++k) {
      auto f = random_field(384, 384, 6, 12, rng);
      auto png = encode_image(f.image, ".png");
      big_fields_.emplace_back("big" + std::to_string(k) + ".png", std::string(png->begin(), png->end()));
    }
  }

  Serve spawn(const std::string& data_dir, const std::string& db_url) {
    Serve s;
    s.log = data_dir + ".log." + std::to_string(starts_++);
    fs::create_directories(data_dir);
    s.pid = fork();
    if (s.pid == 0) {
      const int fd = ::open(s.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      setenv("MARROWSCOPE_ADMIN_PASSWORD", kAdminPassword, 1);
      execl(MARROWSCOPE_BINARY, "marrowscope", "serve", "--data-dir", data_dir.c_str(), "--port", "0",
            "--db", db_url.c_str(), "--workers", "1", "--detector", models_.detector_dir.c_str(),
            "--classifier", models_.classifier_dir.c_str(), "--web-root", (data_dir + "/web").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int waited = 0; waited < 60000 && s.port == 0; waited += 50) {
      std::ifstream in(s.log);
      std::stringstream text;
      text << in.rdbuf();
      const std::string out = text.str();
      const auto at = out.find("marrowscope serve: http://");
      if (at != std::string::npos) {
        const auto colon = out.find(':', at + std::string("marrowscope serve: http://").size());
        s.port = std::atoi(out.c_str() + colon + 1);
        break;
      }
      int status = 0;
      if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
        ADD_FAILURE() << "serve exited (status " << status << "): " << out;
        s.pid = -1;
        return s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GT(s.port, 0) << "serve did not start; its log is " << s.log;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", s.port);
    client_->set_read_timeout(60);
    session_ = login();
    return s;
  }
  void kill_hard(Serve& s) {
    ASSERT_GT(s.pid, 0);
    kill(s.pid, SIGKILL);
    int status = 0;
    waitpid(s.pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    s.pid = -1;
    ++kills_;
  }
  void stop(Serve& s) {
    if (s.pid <= 0) return;
    kill(s.pid, SIGTERM);
    int status = 0;
    waitpid(s.pid, &status, 0);
    s.pid = -1;
  }
  // PostgreSQL servers take over only jobs whose lease ran out (another live server may hold
  // them); the killed server's leases are ended here as its 60 s lease running out would.
  void expire_leases(const std::string& db_url) {
    if (GetParam() != "postgresql") return;
    auto db = store::open_database(db_url);
    ASSERT_TRUE(db);
    ASSERT_TRUE((*db)->transact(store::TxMode::kWrite, [](store::Tx& tx) -> Status {
      MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET lease_until = 0 WHERE status = 'running'"));
      return {};
    }));
  }
  SessionCookies login() {
    auto r = client_->Post("/api/auth/login", Json{{"username", "admin"}, {"password", kAdminPassword}}.dump(),
                           "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    SessionCookies c;
    if (!r) return c;
    const std::string set = r->get_header_value("Set-Cookie");
    c.cookie = set.substr(0, set.find(';'));
    c.csrf = Json::parse(r->body, nullptr, false).value("csrf_token", "");
    return c;
  }
  Json get(const std::string& path) {
    auto r = client_->Get(path.c_str(), session_.headers(false));
    return r ? Json::parse(r->body, nullptr, false) : Json();
  }
  Json post(const std::string& path, const Json& body, int expect = 201) {
    auto r = client_->Post(path.c_str(), session_.headers(), body.dump(), "application/json");
    EXPECT_TRUE(r && r->status == expect) << (r ? r->body : "no response");
    return r ? Json::parse(r->body, nullptr, false) : Json();
  }
  std::int64_t make_sample(const std::string& accession) {
    const Json p = post("/api/patients", {{"identifier", "MRN-" + accession}, {"name", "Crash " + accession}});
    const Json s = post("/api/patients/" + std::to_string(p.value("id", 0)) + "/samples",
                        {{"accession", accession}, {"specimen", "bone_marrow"}});
    return s.value("id", 0);
  }
  httplib::Result upload(httplib::Client& c, std::int64_t sample,
                         const std::vector<std::pair<std::string, std::string>>& files) {
    httplib::MultipartFormDataItems items;
    for (const auto& [name, bytes] : files) items.push_back({"files", bytes, name, "image/png"});
    return c.Post(("/api/samples/" + std::to_string(sample) + "/images").c_str(), session_.headers(), items);
  }
  Json progress(std::int64_t sample) { return get("/api/samples/" + std::to_string(sample) + "/progress"); }
  Json wait_for_jobs(std::int64_t sample, int timeout_ms = 120000) {
    Json p;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
      p = progress(sample);
      if (p.is_object() && p.value("queued", 1) == 0 && p.value("running", 1) == 0) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "jobs did not finish: " << p.dump();
    return p;
  }
  // Cells per field (by file name) of a sample.
  std::map<std::string, int> cells_per_field(std::int64_t sample) {
    std::map<std::string, int> out;
    const Json images = get("/api/samples/" + std::to_string(sample) + "/images");
    for (const auto& img : images["items"])
      out[img["filename"].get<std::string>()] =
          get("/api/images/" + std::to_string(img["id"].get<std::int64_t>()) + "/cells?limit=5000")["total"].get<int>();
    return out;
  }
  static std::set<std::string> stored_files(const std::string& data_dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(data_dir + "/files", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file() && it->path().filename().string().rfind(".tmp-", 0) != 0)
        out.insert(it->path().parent_path().filename().string() + it->path().filename().string());
    return out;
  }
  static int temporaries(const std::string& data_dir) {
    int n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(data_dir + "/files", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      n += it->path().filename().string().rfind(".tmp-", 0) == 0;
    return n;
  }

  TinyModels models_;
  std::vector<std::pair<std::string, std::string>> fields_, big_fields_;
  std::unique_ptr<httplib::Client> client_;
  SessionCookies session_;
  int starts_ = 0, kills_ = 0;
};

TEST_P(ServeCrashTest, KilledAtThreeMomentsLosesNothingAndAnalysesNothingTwice) {
  TempDir dir;
  const auto t0 = std::chrono::steady_clock::now();

  // The clean run: the same 60 fields, no kill.
  std::map<std::string, int> clean;
  {
    TestDatabaseUrl url(GetParam(), dir);
    Serve s = spawn(dir.str() + "/clean", url.url());
    ASSERT_GT(s.port, 0);
    const auto sample = make_sample("CLEAN");
    auto r = upload(*client_, sample, fields_);
    ASSERT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
    const Json p = wait_for_jobs(sample);
    ASSERT_EQ(p["done"], 60) << p.dump();
    clean = cells_per_field(sample);
    stop(s);
  }
  ASSERT_EQ(clean.size(), 60u);
  int clean_cells = 0;
  for (const auto& [name, n] : clean) clean_cells += n;
  ASSERT_GT(clean_cells, 0) << "the tiny models found no cell: nothing to compare";

  TempDir crash_dir;
  TestDatabaseUrl url(GetParam(), crash_dir);
  const std::string data = crash_dir.str() + "/data";

  // (a) Killed while an upload request is being handled: its first files are stored, its rows
  // not yet committed. The client gets no answer; the upload must be all there or not at all.
  Serve s = spawn(data, url.url());
  ASSERT_GT(s.port, 0);
  const auto sample_a = make_sample("CRASH-A");
  std::atomic<int> status_a{0};
  std::thread uploader([&] {
    httplib::Client c("127.0.0.1", s.port);
    c.set_read_timeout(60);
    auto r = upload(c, sample_a, big_fields_);
    status_a = r ? r->status : -1;
  });
  const auto before = stored_files(data).size();
  for (int waited = 0; waited < 30000 && stored_files(data).size() == before && status_a == 0; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  kill_hard(s);
  uploader.join();
  const int files_at_kill_a = static_cast<int>(stored_files(data).size());
  const int tmp_at_kill_a = temporaries(data);

  // (b) Killed with 60 analyses queued and one running.
  expire_leases(url.url());
  s = spawn(data, url.url());
  ASSERT_GT(s.port, 0);
  const auto sample_b = make_sample("CRASH-B");
  auto r = upload(*client_, sample_b, fields_);
  ASSERT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
  std::map<std::string, std::int64_t> acknowledged;  // file name -> image id
  const Json uploaded = Json::parse(r->body);
  for (const auto& item : uploaded["items"])
    acknowledged[item["image"]["filename"].get<std::string>()] = item["image"]["id"].get<std::int64_t>();
  Json p;
  for (int waited = 0; waited < 60000; waited += 2) {
    p = progress(sample_b);
    if (p.value("done", 0) >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill_hard(s);
  const int queued_at_kill_b = p.value("queued", 0), done_at_kill_b = p.value("done", 0);
  EXPECT_GE(queued_at_kill_b, 30) << p.dump();

  // (c) Killed right after a job completed.
  expire_leases(url.url());
  s = spawn(data, url.url());
  ASSERT_GT(s.port, 0);
  const int done_before_c = progress(sample_b).value("done", 0);
  for (int waited = 0; waited < 60000; ++waited) {
    p = progress(sample_b);
    if (p.value("done", 0) > done_before_c) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill_hard(s);
  const int done_at_kill_c = p.value("done", 0);
  EXPECT_GT(done_at_kill_c, done_before_c);

  // The last start finishes everything.
  expire_leases(url.url());
  s = spawn(data, url.url());
  ASSERT_GT(s.port, 0);
  p = wait_for_jobs(sample_b);
  EXPECT_EQ(p["done"], 60) << p.dump();
  EXPECT_EQ(p["failed"], 0);
  EXPECT_EQ(p["cancelled"], 0);
  const Json a_images = get("/api/samples/" + std::to_string(sample_a) + "/images");
  const int images_a = a_images["total"].get<int>();
  EXPECT_TRUE(images_a == 0 || images_a == 64) << "a killed upload was half stored: " << images_a;
  if (status_a == 201) EXPECT_EQ(images_a, 64) << "an acknowledged upload is missing";
  if (images_a > 0) wait_for_jobs(sample_a);

  // Every acknowledged image is there, under its id, with the clean run's cells.
  const Json b_images = get("/api/samples/" + std::to_string(sample_b) + "/images");
  ASSERT_EQ(b_images["total"], 60);
  for (const auto& img : b_images["items"])
    EXPECT_EQ(acknowledged.at(img["filename"].get<std::string>()), img["id"].get<std::int64_t>());
  const auto crashed = cells_per_field(sample_b);
  EXPECT_EQ(crashed, clean) << "cells per field differ from the clean run";
  stop(s);

  auto db = store::open_database(url.url());
  ASSERT_TRUE(db);
  int jobs = 0, reruns = 0;
  auto checked = (*db)->transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
    MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT j.id, j.status, j.attempts, (SELECT COUNT(*) FROM "
                                            "log_entries l WHERE l.action = 'analysis.done' AND "
                                            "l.details LIKE 'job ' || CAST(j.id AS TEXT) || ',%') AS logged, "
                                            "(SELECT COUNT(*) FROM cells c WHERE c.job_id = j.id) AS cells "
                                            "FROM jobs j WHERE j.sample_id = ?",
                                            {sample_b}));
    for (const auto& row : rows) {
      ++jobs;
      reruns += row.i("attempts") > 1;
      EXPECT_EQ(row.s("status"), "done") << "job " << row.i("id");
      EXPECT_EQ(row.i("logged"), 1) << "job " << row.i("id") << " recorded " << row.i("logged") << " times";
    }
    if (tx.dialect() == store::Dialect::kSqlite) {
      MS_ASSIGN_OR_RETURN(auto ok, tx.query_one("PRAGMA integrity_check"));
      EXPECT_EQ(ok->values().at(0).as_text(), "ok");
    }
    return {};
  });
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(jobs, 60);
  // Two kills hit a running job: at most those two ran again.
  EXPECT_LE(reruns, 2);

  // No file left that no row names, and no row naming a missing file, once swept (no grace:
  // nothing is uploading now).
  auto files = server::FileStore::open(data);
  ASSERT_TRUE(files);
  server::SweepOptions quiet;
  quiet.keep_newer_than_ms = 0;
  quiet.temporaries_older_than_ms = 0;
  auto swept = server::sweep_orphans(**db, *files, quiet);
  ASSERT_TRUE(swept) << swept.error().message;
  std::set<std::string> named;
  ASSERT_TRUE((*db)->transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
    MS_ASSIGN_OR_RETURN(auto all, store::referenced_files(tx));
    named.insert(all.begin(), all.end());
    return {};
  }));
  EXPECT_EQ(stored_files(data), named);
  EXPECT_EQ(temporaries(data), 0);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ crash ] " << GetParam() << ": " << starts_ << " serve starts, " << kills_
            << " SIGKILLs; (a) upload of 64 fields killed after " << files_at_kill_a
            << " stored file(s) and " << tmp_at_kill_a << " temporary, answer "
            << (status_a > 0 ? std::to_string(status_a.load()) : std::string("none")) << ", " << images_a
            << " of its images committed; (b) killed with " << done_at_kill_b << " done, "
            << queued_at_kill_b << " queued; (c) killed right after job " << done_at_kill_c
            << " of 60 completed; after restart 60/60 done, " << reruns
            << " job(s) analysed twice, each result written once, cells per field equal to the "
               "clean run ("
            << clean_cells << " cells), the sweep removed " << swept->files_removed
            << " unnamed file(s) and " << swept->temporaries_removed << " temporary file(s), "
            << named.size() << " named files all present; " << seconds << " s" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeCrashTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
