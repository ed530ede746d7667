// The operation log's filters (user, action, date, paging) and the model versions endpoint over
// real HTTP, on SQLite and PostgreSQL.
#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/lab_server_fixture.h"

namespace ms::testing {
namespace {

using AdminApiTest = LabServerTest;

TEST_P(AdminApiTest, OperationLogFiltersByUserActionAndDate) {
  auto tech = user_with_role("tech1", "technician");
  auto doc = user_with_role("doc1", "doctor");
  const auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); };
  const auto make_patient = [&](const SessionCookies& s, const std::string& id) {
    auto r = post(s, "/api/patients", {{"identifier", id}, {"name", "Logged " + id}});
    ASSERT_EQ(r ? r->status : 0, 201) << (r ? r->body : "no response");
  };
  pause();
  const std::int64_t t0 = store::now_ms();
  pause();
  make_patient(tech, "LOG-1");
  make_patient(tech, "LOG-2");
  pause();
  const std::int64_t t1 = store::now_ms();
  pause();
  make_patient(doc, "LOG-3");

  auto logs = [&](const std::string& query) { return body_json(get(doc, "/api/logs" + query)); };
  auto targets = [](const Json& page) {
    std::vector<std::string> out;
    for (const auto& e : page["items"]) out.push_back(e["target"].get<std::string>());
    return out;
  };

  const Json by_tech = logs("?username=tech1");
  ASSERT_EQ(by_tech["total"], 3) << "sign-in and two patients: " << by_tech.dump();
  for (const auto& e : by_tech["items"]) EXPECT_EQ(e["username"], "tech1");
  EXPECT_EQ(by_tech["items"][2]["action"], "auth.login") << "newest first";
  const auto tech_id = by_tech["items"][0]["user_id"].get<std::int64_t>();
  EXPECT_EQ(logs("?user_id=" + std::to_string(tech_id))["total"], 3);

  EXPECT_EQ(targets(logs("?action=patient.create")), (std::vector<std::string>{"LOG-3", "LOG-2", "LOG-1"}));
  EXPECT_EQ(logs("?action=patient.create&username=tech1")["total"], 2);
  EXPECT_EQ(logs("?action=patient.")["total"], 3) << "a prefix ending in '.'";
  EXPECT_EQ(logs("?action=patient")["total"], 0) << "without the '.', the action must match exactly";

  const std::string window = "?from=" + std::to_string(t0) + "&to=" + std::to_string(t1);
  EXPECT_EQ(targets(logs(window)), (std::vector<std::string>{"LOG-2", "LOG-1"}));
  EXPECT_EQ(targets(logs("?from=" + std::to_string(t1))), (std::vector<std::string>{"LOG-3"}));
  EXPECT_EQ(logs("?to=" + std::to_string(t0 - 3600000))["total"], 0);

  const Json second = logs("?action=patient.create&page_size=2&page=2");
  EXPECT_EQ(second["total"], 3);
  EXPECT_EQ(targets(second), (std::vector<std::string>{"LOG-1"}));

  for (const char* bad : {"?from=yesterday", "?user_id=x", "?page_size=0", "?page_size=5000", "?page=0"}) {
    auto r = get(doc, std::string("/api/logs") + bad);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(error_code(r), "invalid_argument") << bad;
  }
  EXPECT_EQ(get(tech, "/api/logs")->status, 403) << "the log is for doctors and admins";
  EXPECT_EQ(client_->Get("/api/logs")->status, 401);
}

// The route table of docs/API.md and /api/openapi.json (built from the routes as they are
// registered) list the same routes: a route added without its documentation, or documented and
// gone, fails here. Table cells read "GET, POST /api/users" or "GET /api/images/{id} · /file"
// (a suffix of the first path) or "GET /api/a · /api/b".
TEST_P(AdminApiTest, OpenApiAndApiMdListTheSameRoutes) {
  std::ifstream in(MARROWSCOPE_SOURCE_DIR "/docs/API.md");
  ASSERT_TRUE(in) << "docs/API.md";
  const auto trim = [](std::string t) {
    while (!t.empty() && t.front() == ' ') t.erase(t.begin());
    while (!t.empty() && t.back() == ' ') t.pop_back();
    return t;
  };
  const auto split = [&](const std::string& text, const std::string& sep) {
    std::vector<std::string> out;
    std::size_t from = 0;
    for (std::size_t at; (at = text.find(sep, from)) != std::string::npos; from = at + sep.size())
      out.push_back(trim(text.substr(from, at - from)));
    out.push_back(trim(text.substr(from)));
    return out;
  };
  std::set<std::string> documented;
  bool routes = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) routes = line == "## Routes";
    if (!routes || line.rfind("| ", 0) != 0) continue;
    const std::string cell = line.substr(2, line.find(" |", 2) - 2);
    const auto slash = cell.find('/');
    if (slash == std::string::npos) continue;  // the header row
    const auto paths = split(cell.substr(slash), "\u00b7");
    for (const auto& method : split(cell.substr(0, slash), ","))
      for (const auto& p : paths)
        documented.insert(method + " " + (p.rfind("/api/", 0) == 0 ? p : paths[0] + p));
  }
  ASSERT_GT(documented.size(), 40u) << "the route table of docs/API.md was not found";
  std::set<std::string> served;
  const Json doc = body_json(client_->Get("/api/openapi.json"));
  for (const auto& [path, operations] : doc["paths"].items())
    for (const auto& [method, op] : operations.items()) {
      std::string m = method;
      for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      served.insert(m + " " + path);
    }
  for (const auto& r : served) EXPECT_TRUE(documented.count(r)) << r << " is served but not in docs/API.md";
  for (const auto& r : documented) EXPECT_TRUE(served.count(r)) << r << " is in docs/API.md but not served";
}

// A test double that names its models, as the pipeline runner names the shipped ones.
class VersionedRunner : public TestDoubleRunner {
 public:
  explicit VersionedRunner(std::string version) : version_(std::move(version)) {}
  std::vector<store::ModelInfo> models() const override {
    return {{"detector", "det-test", "det-" + version_, std::string(64, 'a'), R"({"map50": 0.9})"},
            {"classifier", "cls-test", "cls-" + version_, std::string(64, 'b'), R"({"accuracy": 0.8})"}};
  }

 private:
  std::string version_;
};

class ModelVersionsTest : public LabServerTest {
 protected:
  ModelVersionsTest() { start_in_setup_ = false; }
  // version -> active, of the endpoint's items
  std::map<std::string, bool> versions(const SessionCookies& s) {
    auto r = get(s, "/api/model-versions");
    EXPECT_EQ(r ? r->status : 0, 200);
    std::map<std::string, bool> out;
    const Json page = body_json(r);  // a range-for over a temporary's member would dangle
    for (const auto& m : page["items"]) {
      EXPECT_EQ(m["sha256"].get<std::string>().size(), 64u);
      EXPECT_TRUE(m["metrics"].is_object()) << m.dump();
      out[m["version"].get<std::string>()] = m["active"].get<bool>();
    }
    return out;
  }
};

TEST_P(ModelVersionsTest, RecordsEachStartsModelsAndMarksTheActiveOnes) {
  runner_ = std::make_shared<VersionedRunner>("1");
  start_server();
  auto viewer = user_with_role("viewer1", "viewer");
  EXPECT_EQ(versions(viewer), (std::map<std::string, bool>{{"det-1", true}, {"cls-1", true}}));
  auto first = body_json(get(viewer, "/api/model-versions"))["items"];
  for (const auto& m : first)
    if (m["kind"] == "classifier") {
      EXPECT_EQ(m["metrics"]["accuracy"], 0.8);
    }

  // A restart with new models keeps the old versions (cells still name them), inactive.
  server_->stop();
  server_.reset();
  runner_ = std::make_shared<VersionedRunner>("2");
  start_server();
  EXPECT_EQ(versions(viewer), (std::map<std::string, bool>{
                                  {"det-1", false}, {"cls-1", false}, {"det-2", true}, {"cls-2", true}}));
  EXPECT_EQ(client_->Get("/api/model-versions")->status, 401);
}

INSTANTIATE_TEST_SUITE_P(Backends, AdminApiTest, ::testing::ValuesIn(test_backends()), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, ModelVersionsTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
