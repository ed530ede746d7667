// Uploads and analysis jobs over real HTTP, on SQLite and PostgreSQL: a signed sample takes no
// images and no cells (retry refused, an upload racing the sign-off refused), jobs cancelled
// while queued or running, the files-per-request limit, the per-user queue quota, and the files
// of deleted records leaving the store (no orphans after failed uploads either).
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "review_fixture.h"
#include "server/file_store.h"

namespace ms::testing {
namespace {
namespace fs = std::filesystem;

class JobsApiTest : public ReviewServerTest {
 protected:
  // Stored files (content-addressed names, not temporaries) under the data directory.
  std::set<std::string> stored_files() const {
    std::set<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(options_.data_dir + "/files", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file() && it->path().filename().string().rfind(".tmp-", 0) != 0)
        out.insert(it->path().parent_path().filename().string() + it->path().filename().string());
    return out;
  }
  // Every stored file dated `ago_ms` back, as if uploaded long ago.
  void age_stored_files(std::int64_t ago_ms) {
    const std::int64_t t = store::now_ms() - ago_ms;
    struct timeval tv[2];
    for (auto& v : tv) v = {static_cast<time_t>(t / 1000), static_cast<suseconds_t>((t % 1000) * 1000)};
    for (const auto& sha : stored_files()) {
      const std::string p = options_.data_dir + "/files/" + sha.substr(0, 2) + "/" + sha.substr(2);
      ASSERT_EQ(::utimes(p.c_str(), tv), 0) << p;
    }
  }
  bool wait_until(const std::function<bool()>& done, int timeout_ms = 10000) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  }
  std::unique_ptr<store::Database> open_db() {
    auto db = store::open_database(url_->url());
    EXPECT_TRUE(db) << db.error().message;
    return db ? std::move(*db) : nullptr;
  }
  // A finished analysis of a new (fileless) image of the sample, holding `n` lymphocytes.
  void add_done_cells(std::int64_t sample_id, int n) {
    auto db = open_db();
    ASSERT_TRUE(db);
    static int images = 0;
    auto s = db->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      const auto now = store::now_ms();
      MS_ASSIGN_OR_RETURN(auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, "
                                                "width, height, bytes, created_at) VALUES (?, ?, 'f.png', "
                                                "'PNG', 64, 48, 100, ?) RETURNING id",
                                                {sample_id, "fileless-" + std::to_string(++images), now}));
      MS_ASSIGN_OR_RETURN(auto job, tx.insert("INSERT INTO jobs (image_id, sample_id, status, progress, "
                                              "created_at) VALUES (?, ?, 'done', 1, ?) RETURNING id",
                                              {image, sample_id, now}));
      for (int k = 0; k < n; ++k)
        MS_RETURN_IF_ERROR(tx.exec("INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, "
                                   "x2, y2, det_score, suggested_class, probability, created_at, "
                                   "updated_at) VALUES (?, ?, ?, ?, 1, 1, 9, 9, 0.9, 'lymphocyte', 0.8, ?, ?)",
                                   {job, k, image, sample_id, now, now}));
      return {};
    });
    ASSERT_TRUE(s) << s.error().message;
  }
  void start_without_analysis() {
    auto s = server::LabServer::create(options_, nullptr);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    ASSERT_TRUE(server_->start());
    connect(server_->port());
  }
  Json job(const SessionCookies& s, std::int64_t id) {
    return body_json(get(s, "/api/jobs/" + std::to_string(id)));
  }
};

class JobsNoAnalysisTest : public JobsApiTest {
 protected:
  JobsNoAnalysisTest() { start_in_setup_ = false; }
};

TEST_P(JobsApiTest, RetryingAJobOfASignedSampleIsRefused) {
  auto tech = user_with_role("tech", "technician");
  auto doc = user_with_role("doc", "doctor");
  const auto sample = make_sample(tech, "JOB-1");
  runner_->fail_thirteen_wide = 1;
  auto up = upload(tech, sample, {{"good.png", disc_png(1)}, {"narrow.png", disc_png(5, 13, 20)}});
  ASSERT_EQ(up->status, 201) << up->body;
  const auto failed_job = body_json(up)["items"][1]["job"]["id"].get<std::int64_t>();
  auto p = wait_for_jobs(tech, sample);
  ASSERT_EQ(p["failed"], 1);
  ASSERT_EQ(p["cells"], 3);
  auto signed_ = sign(doc, sample);
  ASSERT_EQ(signed_->status, 200) << signed_->body << " (a failed job does not block sign-off)";

  auto retry = post(tech, "/api/jobs/" + std::to_string(failed_job) + "/retry", Json::object());
  ASSERT_EQ(retry->status, 409) << retry->body;
  EXPECT_NE(retry->body.find("signed"), std::string::npos) << retry->body;
  EXPECT_EQ(job(tech, failed_job)["status"], "failed");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/progress"))["cells"], 3);
}

TEST_P(JobsApiTest, AJobCancelledWhileRunningIsStoppedAndAddsNoCells) {
  auto tech = user_with_role("tech", "technician");
  auto viewer = user_with_role("viewer1", "viewer");
  const auto sample = make_sample(tech, "JOB-2");
  runner_->delay_ms = 4000;  // progress every second; the lease (1.5 s) is renewed every 0.5 s
  auto up = upload(tech, sample, {{"a.png", disc_png(1)}, {"b.png", disc_png(2)}, {"c.png", disc_png(3)}});
  ASSERT_EQ(up->status, 201) << up->body;
  std::vector<std::int64_t> ids;
  const Json uploaded = body_json(up);
  for (const auto& item : uploaded["items"]) ids.push_back(item["job"]["id"].get<std::int64_t>());
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(wait_until([&] { return job(tech, ids[0])["status"] == "running"; }));

  const std::string cancel = "/api/jobs/" + std::to_string(ids[0]) + "/cancel";
  EXPECT_EQ(post(viewer, cancel, Json::object())->status, 403);
  auto r = post(tech, cancel, Json::object());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["status"], "cancelled");
  EXPECT_EQ(body_json(r)["error"], "cancelled by tech");
  EXPECT_EQ(post(tech, cancel, Json::object())->status, 409);
  EXPECT_EQ(post(tech, "/api/jobs/987654/cancel", Json::object())->status, 404);
  for (std::size_t k = 1; k < ids.size(); ++k) {  // running on the second worker, or queued
    auto q = post(tech, "/api/jobs/" + std::to_string(ids[k]) + "/cancel", Json::object());
    EXPECT_EQ(q->status, 200) << q->body;
  }
  auto p = wait_for_jobs(tech, sample);
  EXPECT_EQ(p["cancelled"], 3);
  // The workers stopped the analyses at their next progress report (the double counts only
  // analyses it finished): by now, more than the 4 s an analysis takes, none has finished.
  std::this_thread::sleep_for(std::chrono::milliseconds(5000));
  EXPECT_EQ(runner_->analyses.load(), 0) << "a cancelled analysis ran to its end";
  p = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/progress"));
  EXPECT_EQ(p["cells"], 0);
  EXPECT_EQ(p["cancelled"], 3);
  for (const auto id : ids) EXPECT_EQ(job(tech, id)["status"], "cancelled") << id;

  // A cancelled job of an open sample can be queued again.
  runner_->delay_ms = 0;
  ASSERT_EQ(post(tech, "/api/jobs/" + std::to_string(ids[0]) + "/retry", Json::object())->status, 200);
  p = wait_for_jobs(tech, sample);
  EXPECT_EQ(p["done"], 1);
  EXPECT_EQ(p["cells"], 3);
  auto doc = body_json(client_->Get("/api/openapi.json"));
  EXPECT_TRUE(doc["paths"].contains("/api/jobs/{id}/cancel"));
  auto logs = body_json(get(user_with_role("doc", "doctor"), "/api/logs?action=job.cancel"));
  EXPECT_EQ(logs["total"], 3);
}

TEST_P(JobsApiTest, AnUploadCarriesAtMost64Files) {
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample(tech, "JOB-3");
  std::vector<std::pair<std::string, std::string>> files;
  for (int k = 0; k < 65; ++k) files.emplace_back("f" + std::to_string(k) + ".png", disc_png(k, 16, 12));
  auto r = upload(tech, sample, files);
  ASSERT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("65 files"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("at most 64 files per upload request"), std::string::npos) << r->body;
  EXPECT_TRUE(stored_files().empty()) << "a refused upload stored files";
  EXPECT_EQ(body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/images"))["total"], 0);
  files.pop_back();
  auto ok = upload(tech, sample, files);
  EXPECT_EQ(ok->status, 201) << ok->body;
  EXPECT_EQ(body_json(ok)["queued"], 64);
}

TEST_P(JobsNoAnalysisTest, AnUploadRacingASignOffNeverLandsOnTheSignedSample) {
  // No analysis: an upload's jobs stay queued, so a sign-off after an upload is always refused
  // ("still being analysed"), and a sign-off first must make the upload fail.
  start_without_analysis();
  auto tech = user_with_role("tech", "technician");
  auto doc = user_with_role("doc", "doctor");
  bool exercised = false;
  for (int round = 0; round < 4 && !exercised; ++round) {
    const auto sample = make_sample(tech, "RACE-" + std::to_string(round));
    add_done_cells(sample, 5);
    const std::string images = "/api/samples/" + std::to_string(sample) + "/images";
    const auto files_before = stored_files();
    std::vector<std::pair<std::string, std::string>> files;
    for (int k = 0; k < 16 * (round + 1); ++k)
      files.emplace_back("f" + std::to_string(k) + ".png", disc_png(1000 * round + k, 1600, 1200));
    int upload_status = 0;
    std::string upload_body;
    std::thread uploader([&] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(60);
      httplib::MultipartFormDataItems items;
      for (const auto& [name, bytes] : files) items.push_back({"files", bytes, name, "image/png"});
      auto r = c.Post(images.c_str(), tech.headers(), items);
      upload_status = r ? r->status : -1;
      upload_body = r ? r->body : "no response";
    });
    // Sign while the upload is storing its files: past its first "signed?" check, before its
    // transaction.
    bool storing = wait_until([&] { return stored_files().size() > files_before.size(); }, 20000);
    auto s = post(doc, "/api/samples/" + std::to_string(sample) + "/sign", {{"allow_unreviewed", true}});
    uploader.join();
    ASSERT_TRUE(storing && s);
    EXPECT_FALSE(upload_status == 201 && s->status == 200)
        << "both the upload and the sign-off succeeded: " << upload_body;
    if (s->status != 200) continue;  // the upload committed first (and the sign-off was refused)
    exercised = true;
    EXPECT_EQ(upload_status, 409) << upload_body;
    EXPECT_NE(upload_body.find("signed"), std::string::npos) << upload_body;
    EXPECT_EQ(body_json(get(tech, images))["total"], 1) << "images were added to a signed sample";
    auto progress = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/progress"));
    EXPECT_EQ(progress["queued"], 0);
    EXPECT_EQ(progress["cells"], 5);
    EXPECT_EQ(stored_files(), files_before) << "the refused upload left its files behind";
  }
  EXPECT_TRUE(exercised) << "the sign-off never committed inside the upload's window";
}

TEST_P(JobsNoAnalysisTest, QueuedAnalysesPerUserAreCapped) {
  start_without_analysis();
  auto tech = user_with_role("tech", "technician");
  auto other = user_with_role("tech2", "technician");
  const auto sample = make_sample(tech, "JOB-5");
  {
    auto db = open_db();
    ASSERT_TRUE(db);
    auto filled = db->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      MS_ASSIGN_OR_RETURN(auto user, tx.query_one("SELECT id FROM users WHERE username = 'tech'"));
      const auto uid = user->i("id");
      const auto now = store::now_ms();
      for (int k = 0; k < 5000; ++k) {
        MS_ASSIGN_OR_RETURN(auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, "
                                                  "width, height, bytes, created_at) VALUES (?, ?, 'q.png', "
                                                  "'PNG', 8, 8, 10, ?) RETURNING id",
                                                  {sample, "queued-" + std::to_string(k), now}));
        MS_RETURN_IF_ERROR(tx.exec("INSERT INTO jobs (image_id, sample_id, status, created_by, created_at) "
                                   "VALUES (?, ?, 'queued', ?, ?)",
                                   {image, sample, uid, now}));
      }
      return {};
    });
    ASSERT_TRUE(filled) << filled.error().message;
  }
  auto r = upload(tech, sample, {{"one-more.png", disc_png(7)}});
  ASSERT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("over the limit of 5000 queued analyses per user"), std::string::npos) << r->body;
  EXPECT_TRUE(stored_files().empty()) << "the refused upload left its files behind";
  EXPECT_EQ(body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/images"))["total"], 5000);
  auto theirs = upload(other, sample, {{"one-more.png", disc_png(7)}});
  EXPECT_EQ(theirs->status, 201) << "the quota is per user: " << theirs->body;
}

TEST_P(JobsApiTest, FilesOfDeletedRecordsLeaveTheStore) {
  auto tech = user_with_role("tech", "technician");
  const auto first = make_sample(tech, "DEL-1");
  const auto second = make_sample(tech, "DEL-2");
  const std::string shared = disc_png(42), own = disc_png(43);
  ASSERT_EQ(upload(tech, first, {{"shared.png", shared}, {"own.png", own}})->status, 201);
  ASSERT_EQ(upload(tech, second, {{"shared-again.png", shared}})->status, 201);
  wait_for_jobs(tech, first);
  wait_for_jobs(tech, second);
  const auto all = stored_files();
  ASSERT_EQ(all.size(), 4u) << "two originals and two thumbnails";
  // Files uploaded just now are left alone for a while (an upload may be about to name them);
  // these were "uploaded" long ago.
  age_stored_files(2LL * 3600 * 1000);

  const auto first_images = body_json(get(tech, "/api/samples/" + std::to_string(first) + "/images"))["items"];
  ASSERT_EQ(del(tech, "/api/samples/" + std::to_string(first))->status, 204);
  std::string own_sha;
  for (const auto& img : first_images)
    if (img["filename"] == "own.png") own_sha = img["sha256"].get<std::string>();
  ASSERT_TRUE(wait_until([&] { return stored_files().size() == 2; })) << stored_files().size();
  EXPECT_FALSE(stored_files().count(own_sha));
  auto kept = body_json(get(tech, "/api/samples/" + std::to_string(second) + "/images"))["items"][0];
  EXPECT_TRUE(stored_files().count(kept["sha256"].get<std::string>())) << "a shared file was removed";
  EXPECT_EQ(get(tech, "/api/images/" + std::to_string(kept["id"].get<int>()) + "/file")->status, 200);

  const auto patient = body_json(get(tech, "/api/samples/" + std::to_string(second)))["patient_id"].get<int>();
  ASSERT_EQ(del(tech, "/api/patients/" + std::to_string(patient))->status, 204);
  EXPECT_TRUE(wait_until([&] { return stored_files().empty(); })) << stored_files().size();
}

TEST_P(JobsNoAnalysisTest, StartUpSweepsWhatACrashLeftBehind) {
  // The data directory of a server that died: a stored file whose row was never committed and
  // a half-written temporary, both from hours ago.
  auto files = server::FileStore::open(options_.data_dir);
  ASSERT_TRUE(files);
  auto orphan = files->put("an image whose row was never committed");
  ASSERT_TRUE(orphan);
  const std::string tmp = fs::path(orphan->path).parent_path().string() + "/.tmp-00000000deadbeef";
  std::ofstream(tmp) << "half-written";
  const std::int64_t t = store::now_ms() - 2LL * 3600 * 1000;
  struct timeval tv[2];
  for (auto& v : tv) v = {static_cast<time_t>(t / 1000), 0};
  ASSERT_EQ(::utimes(orphan->path.c_str(), tv), 0);
  ASSERT_EQ(::utimes(tmp.c_str(), tv), 0);
  start_server();  // with the analysis workers, whose housekeeping sweeps at start
  EXPECT_TRUE(wait_until([&] { return !fs::exists(orphan->path) && !fs::exists(tmp); }))
      << "the start-up sweep left the orphan or the temporary";
}

INSTANTIATE_TEST_SUITE_P(Backends, JobsApiTest, ::testing::ValuesIn(test_backends()), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, JobsNoAnalysisTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
