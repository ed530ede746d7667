// Adapting the classifier from the app: real fields analysed by the shipped detector with a tiny
// classifier, cells reviewed, an admin's adaptation run by the server's adaptation thread, the
// new version activated (the running server switches to it, later analyses name it) and kept
// across a restart; then the start-up version activated again. Also the refusals: roles, bad
// bodies, a second adaptation while one waits, detectors, unknown versions, servers without a
// pipeline. Skips the real part cleanly without ../shared/data.
#include <chrono>
#include <filesystem>
#include <thread>

#include "models/runtime.h"
#include "review_fixture.h"
#include "server/pipeline_runner.h"
#include "unit/engine/classifier/classifier_test_support.h"

namespace ms::testing {
namespace {
namespace fs = std::filesystem;

// A tiny CNN taught two kinds of disc: enough of a classifier for the pipeline to run and for
// an adaptation to have something to change, in seconds.
std::string tiny_classifier() {
  static const std::string dir = [] {
    // Named as blood classes: the server refuses a classifier whose classes its taxonomies lack.
    const fs::path data = make_disc_classes("ms_adaptation_api_discs", {20, 20});
    fs::rename(data / "a_blue", data / "lymphocyte");
    fs::rename(data / "b_green", data / "monocyte");
    const fs::path run = fs::temp_directory_path() / "ms_adaptation_api_run";
    fs::remove_all(run);
    auto t = train_classifier(tiny_cnn_request(data, run, 2));
    EXPECT_TRUE(t) << (t ? "" : t.error().message);
    return t ? t->model_dir : std::string();
  }();
  return dir;
}

class AdaptationApiTest : public ReviewServerTest {
 protected:
  AdaptationApiTest() { start_in_setup_ = false; }
  std::shared_ptr<server::PipelineRunner> load_runner() {
    auto runner = server::PipelineRunner::load(MARROWSCOPE_SOURCE_DIR "/models/detector", tiny_classifier());
    EXPECT_TRUE(runner) << runner.error().message;
    return runner ? *runner : nullptr;
  }
  void start_with(std::shared_ptr<store::AnalysisRunner> runner) {
    auto s = server::LabServer::create(options_, std::move(runner));
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    ASSERT_TRUE(server_->start());
    connect(server_->port());
    client_->set_read_timeout(120);
  }
  Json wait_for_adaptation(const SessionCookies& s, std::int64_t id) {
    Json a;
    for (int i = 0; i < 1200; ++i) {
      a = body_json(get(s, "/api/adaptations/" + std::to_string(id)));
      if (a.value("status", "") == "done" || a.value("status", "") == "failed") return a;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return a;
  }
  Json classifier_versions(const SessionCookies& s) {
    Json out = Json::array();
    const Json all = body_json(get(s, "/api/model-versions"));  // not a range-for over a temporary's member
    for (const auto& m : all["items"])
      if (m["kind"] == "classifier") out.push_back(m);
    return out;
  }
};

TEST_P(AdaptationApiTest, ServerWithoutAPipelineRefusesClearly) {
  start_with(runner_);  // the test double: no classifier to adapt
  auto admin = this->admin();
  auto r = post(admin, "/api/adaptations", Json::object());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("without an analysis pipeline"), std::string::npos) << r->body;
  EXPECT_EQ(get(admin, "/api/adaptations")->status, 200);
  EXPECT_EQ(get(admin, "/api/adaptations/1")->status, 404);
  EXPECT_EQ(post(admin, "/api/model-versions/1/activate", Json::object())->status, 409);
}

TEST_P(AdaptationApiTest, AdaptActivateRestartAndSwitchBack) {
  const std::string val = kSharedData + "/txl-pbc";
  if (!fs::exists(val + "/images/val")) GTEST_SKIP() << "no " << val << " (../shared/data is absent)";
  init_torch_runtime();
  ASSERT_FALSE(tiny_classifier().empty());
  start_with(load_runner());
  auto admin = this->admin();
  auto doc = user_with_role("doc", "doctor");
  auto tech = user_with_role("tech", "technician");

  // Three real fields, analysed, every cell confirmed by the doctor as one of the two classes.
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : fs::directory_iterator(val + "/images/val")) {
    files.emplace_back(e.path().filename().string(), file_bytes(e.path().string()));
    if (files.size() == 3) break;
  }
  const auto sample = make_sample(doc, "ADAPT-1");
  auto up = upload(doc, sample, files);
  ASSERT_EQ(up->status, 201) << up->body;
  auto progress = wait_for_jobs(doc, sample, 240000);
  ASSERT_EQ(progress["done"], 3) << progress.dump();
  const auto ids = cell_ids(doc, sample);
  ASSERT_GE(ids.size(), 3u);
  Json changes = Json::array();
  for (std::size_t k = 0; k < ids.size(); ++k)
    changes.push_back({{"id", ids[k]}, {"class", k % 2 ? "monocyte" : "lymphocyte"}, {"confirmed", true}});
  auto reviewed = post(doc, "/api/cells/review", {{"changes", changes}});
  ASSERT_EQ(reviewed->status, 200) << reviewed->body;

  // Refusals before anything is queued.
  EXPECT_EQ(post(doc, "/api/adaptations", Json::object())->status, 403);
  EXPECT_EQ(post(tech, "/api/adaptations", Json::object())->status, 403);
  EXPECT_EQ(get(doc, "/api/adaptations")->status, 403);
  EXPECT_EQ(post(admin, "/api/adaptations", {{"max_epochs", 0}})->status, 400);
  EXPECT_EQ(post(admin, "/api/adaptations", {{"max_epochs", 51}})->status, 400);
  EXPECT_EQ(post(admin, "/api/adaptations", {{"max_epochs", "two"}})->status, 400);
  EXPECT_EQ(post(admin, "/api/adaptations", {{"seed", -1}})->status, 400);
  EXPECT_EQ(post(admin, "/api/adaptations", {{"samples", {sample, 999999}}})->status, 404);
  EXPECT_EQ(post(admin, "/api/adaptations", {{"samples", Json::array({"1; DROP TABLE cells"})}})->status, 400);
  EXPECT_TRUE(body_json(get(admin, "/api/adaptations"))["items"].empty()) << "a refused request queued nothing";

  const Json before = classifier_versions(admin);
  ASSERT_EQ(before.size(), 1u);
  const auto startup_id = before[0]["id"].get<std::int64_t>();
  auto queued = post(admin, "/api/adaptations", {{"samples", {sample}}, {"max_epochs", 1}, {"seed", 3}});
  ASSERT_EQ(queued->status, 202) << queued->body;
  const auto aid = body_json(queued)["id"].get<std::int64_t>();
  EXPECT_EQ(body_json(queued)["base_version"], before[0]["version"]);
  auto second = post(admin, "/api/adaptations", Json::object());
  EXPECT_EQ(second->status, 409) << "one adaptation at a time: " << second->body;

  const Json done = wait_for_adaptation(admin, aid);
  ASSERT_EQ(done["status"], "done") << done.dump();
  EXPECT_EQ(done["lab_cells"].get<std::size_t>(), ids.size());
  EXPECT_GE(done["held_back"].get<int>(), 1);
  EXPECT_TRUE(done["before_accuracy"].is_number());
  EXPECT_TRUE(done["after_accuracy"].is_number());
  EXPECT_NE(done["version"].get<std::string>().find("-adapted-"), std::string::npos) << done.dump();
  ASSERT_TRUE(done["model_version_id"].is_number()) << done.dump();
  const auto new_id = done["model_version_id"].get<std::int64_t>();
  EXPECT_FALSE(fs::exists(options_.data_dir + "/tmp/adaptation-" + std::to_string(aid))) << "scratch cells left";

  // Registered but not in use until an admin activates it.
  Json versions = classifier_versions(admin);
  ASSERT_EQ(versions.size(), 2u) << versions.dump();
  for (const auto& m : versions) EXPECT_EQ(m["active"], m["id"] == startup_id) << m.dump();
  EXPECT_EQ(post(doc, "/api/model-versions/" + std::to_string(new_id) + "/activate", Json::object())->status, 403);
  EXPECT_EQ(post(admin, "/api/model-versions/999999/activate", Json::object())->status, 404);
  std::int64_t detector_id = 0;
  const Json all_versions = body_json(get(admin, "/api/model-versions"));
  for (const auto& m : all_versions["items"])
    if (m["kind"] == "detector") detector_id = m["id"].get<std::int64_t>();
  EXPECT_EQ(post(admin, "/api/model-versions/" + std::to_string(detector_id) + "/activate", Json::object())->status, 409);

  auto activated = post(admin, "/api/model-versions/" + std::to_string(new_id) + "/activate", Json::object());
  ASSERT_EQ(activated->status, 200) << activated->body;
  EXPECT_EQ(body_json(activated)["active"], true);
  // Later analyses are the new version's.
  const auto sample2 = make_sample(doc, "ADAPT-2");
  ASSERT_EQ(upload(doc, sample2, files)->status, 201);
  const Json p2 = wait_for_jobs(doc, sample2, 240000);
  ASSERT_EQ(p2["done"], 3);
  const Json later = cells(doc, sample2);
  ASSERT_FALSE(later["items"].empty());
  for (const auto& c : later["items"]) EXPECT_EQ(c["classifier_version"], done["version"]) << c.dump();
  auto log = body_json(get(admin, "/api/logs?action=model.activate"));
  EXPECT_EQ(log["total"], 1) << log.dump();

  // A restart keeps the admin's choice, though the server is started with the original folder.
  client_.reset();
  server_->stop();
  server_.reset();
  start_with(load_runner());
  admin = this->admin();
  versions = classifier_versions(admin);
  for (const auto& m : versions) EXPECT_EQ(m["active"], m["id"] == new_id) << m.dump();
  EXPECT_NE(body_json(get(admin, "/api/health"))["runner"].get<std::string>().find(done["version"].get<std::string>()),
            std::string::npos);

  // The start-up version stays available.
  auto back = post(admin, "/api/model-versions/" + std::to_string(startup_id) + "/activate", Json::object());
  ASSERT_EQ(back->status, 200) << back->body;
  versions = classifier_versions(admin);
  for (const auto& m : versions) EXPECT_EQ(m["active"], m["id"] == startup_id) << m.dump();
}

INSTANTIATE_TEST_SUITE_P(Backends, AdaptationApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
