#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/active_classifier.h"
#include "store/adaptation_store.h"
#include "store/model_versions.h"
#include "unit/store/store_fixture.h"

namespace ms::server {
namespace {

// A classifier host that "loads" only the folders it is told exist; each folder is one version.
class FakeHost : public ClassifierHost {
 public:
  std::set<std::string> loadable = {"/start"};
  std::string current = "/start";
  int switches = 0;

  std::string classifier_dir() const override { return current; }
  std::string startup_classifier_dir() const override { return "/start"; }
  store::ModelInfo classifier_model() const override {
    return {"classifier", "cnn", current == "/start" ? "v-start" : "v-" + current, "sha-" + current, "{}"};
  }
  std::vector<std::string> classes() const override { return {"lymphocyte"}; }
  Status use_classifier(const std::string& dir) override {
    if (!loadable.count(dir)) return fail(ErrorCode::kNotFound, "no model.json in " + dir);
    current = dir;
    ++switches;
    return {};
  }
};

class ActiveClassifierTest : public store::StoreTest {
 protected:
  // Registers an adapted version (inactive) whose folder is data/<dir>; its model_versions id.
  std::int64_t adapted_version(const std::string& dir) {
    auto a = write([&](store::Tx& tx) { return store::create_adaptation(tx, "v-start", Json::object(), {}, {}); });
    auto claimed = store::claim_adaptation(*db_, "w");
    EXPECT_TRUE(claimed && *claimed);
    store::AdaptationOutcome out;
    out.version = "v-" + dir;
    out.model_dir = dir;
    out.model = {"classifier", "cnn", out.version, "sha-" + dir, "{}"};
    auto done = store::finish_adaptation(*db_, a->id, "w", out);
    EXPECT_TRUE(done && *done);
    auto got = db_->transact(store::TxMode::kRead, [&](store::Tx& tx) { return store::get_adaptation(tx, a->id); });
    return got ? got->model_version_id.value_or(0) : 0;
  }
  void activate(std::int64_t id) {
    write([&](store::Tx& tx) { return store::activate_model_version(tx, id); });
  }
};

TEST_P(ActiveClassifierTest, FollowsTheStoredChoiceAndKeepsAWorkingClassifier) {
  FakeHost host;
  ActiveClassifierFollower follower(*db_, "/data", host);
  ASSERT_TRUE(store::record_models(*db_, {host.classifier_model()}));

  // Nothing adapted is active: the start-up classifier stays, nothing is loaded.
  auto s = follower.sync();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(*s);
  EXPECT_EQ(host.switches, 0);

  // Another process activated an adapted version: the next sync switches to its folder.
  host.loadable.insert("/data/models/a1");
  const auto a1 = adapted_version("models/a1");
  ASSERT_GT(a1, 0);
  activate(a1);
  s = follower.sync();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(*s);
  EXPECT_EQ(host.current, "/data/models/a1");
  s = follower.sync();
  EXPECT_TRUE(s && !*s) << "a second sync has nothing to do";

  // A version whose folder this process cannot load: the working classifier stays, and the
  // failure is not retried at every sync.
  const auto a2 = adapted_version("models/a2");
  activate(a2);
  s = follower.sync();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(*s);
  EXPECT_EQ(host.current, "/data/models/a1");
  const int switches = host.switches;
  EXPECT_TRUE(follower.sync());
  EXPECT_EQ(host.switches, switches);

  // The start-up version activated again: back to the start-up folder.
  auto start = db_->transact(store::TxMode::kRead, [](store::Tx& tx) {
    return tx.query_one("SELECT id FROM model_versions WHERE version = 'v-start'");
  });
  ASSERT_TRUE(start && *start);
  activate((*start)->i("id"));
  s = follower.sync();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(*s);
  EXPECT_EQ(host.current, "/start");
}

INSTANTIATE_TEST_SUITE_P(Backends, ActiveClassifierTest, ::testing::ValuesIn(ms::testing::test_backends()),
                         ms::testing::backend_name);

}  // namespace
}  // namespace ms::server
