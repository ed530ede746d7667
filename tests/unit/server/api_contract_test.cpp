// The API document itself: the copy the web app's types are generated from is the server's
// document, the checker that every server test runs on its answers refuses drift, every
// operation of the document answers successfully somewhere in this suite, and the interactive
// reference (/api/docs) is for accounts only, under a policy that runs only the server's scripts.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "server/lab_server_fixture.h"

namespace ms::testing {
namespace {

// The web app's copy of the document (its TypeScript types are generated from it).
constexpr const char* kWebCopy = "web/src/api/openapi.json";

// After the whole suite: every operation of the document answered 2xx at least once. Only on a
// full run (a --gtest_filter run exercises a part on purpose).
class EveryOperationAnswered : public ::testing::Environment {
 public:
  void TearDown() override {
    if (::testing::GTEST_FLAG(filter) != "*") return;
    const auto& contract = ApiContract::instance();
    if (contract.document().is_null()) return;
    const auto answered = contract.answered();
    std::string missing;
    for (const auto& op : contract.operations())
      if (!answered.count(op)) missing += "\n  " + op;
    EXPECT_TRUE(missing.empty()) << "operations of /api/openapi.json that no server test saw answer 2xx "
                                    "(add a call to a test that already runs):"
                                 << missing;
  }
};
[[maybe_unused]] ::testing::Environment* const kCoverage =
    ::testing::AddGlobalTestEnvironment(new EveryOperationAnswered);

using ApiContractTest = LabServerTest;

TEST_P(ApiContractTest, WebAppsCopyIsTheServersDocument) {
  auto r = client_->Get("/api/openapi.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const Json served = Json::parse(r->body);
  EXPECT_EQ(served["openapi"], "3.1.0");
  const std::string path = std::string(MARROWSCOPE_SOURCE_DIR) + "/" + kWebCopy;
  const std::string text = served.dump(2) + "\n";
  if (const char* w = std::getenv("MARROWSCOPE_WRITE_OPENAPI"); w && std::string(w) == "1") {
    std::ofstream(path, std::ios::binary) << text;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream copy;
  copy << in.rdbuf();
  EXPECT_TRUE(copy.str() == text)
      << kWebCopy << " is not the server's /api/openapi.json; after changing a route or a shape, "
      << "write it with MARROWSCOPE_WRITE_OPENAPI=1 build/test_server --gtest_filter='*WebAppsCopy*' "
      << "and regenerate the web app's types (cd web && npm run api-types)";
}

TEST_P(ApiContractTest, EveryReferenceResolvesAndEveryExampleFits) {
  const Json& doc = ApiContract::instance().document();
  ASSERT_TRUE(doc.is_object());
  std::vector<std::string> problems;
  // Walks every schema of the document; $refs must resolve and examples must fit their schema.
  std::function<void(const Json&, const std::string&)> walk = [&](const Json& j, const std::string& at) {
    if (j.is_object()) {
      if (j.contains("$ref")) {
        const std::string ref = j["$ref"].get<std::string>();
        if (ref.rfind("#/", 0) != 0 || !doc.contains(Json::json_pointer(ref.substr(1))))
          problems.push_back(at + ": $ref " + ref + " does not resolve");
      }
      if (j.contains("schema") && j.contains("example"))
        for (const auto& e : validate_json(j["schema"], j["example"], doc)) problems.push_back(at + ".example " + e);
      if (j.contains("properties") && j.contains("example")) {  // a schema with its own example
        Json schema = j;
        schema.erase("example");
        for (const auto& e : validate_json(schema, j["example"], doc)) problems.push_back(at + ".example " + e);
      }
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), at + "/" + it.key());
    } else if (j.is_array()) {
      for (std::size_t i = 0; i < j.size(); ++i) walk(j[i], at + "/" + std::to_string(i));
    }
  };
  walk(doc, "#");
  for (const char* name : {"Error", "Session", "User", "Patient", "Sample", "Cell"})
    EXPECT_TRUE(doc["components"]["schemas"][name].contains("example")) << name << " has no example";
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

// The checker every test runs is only worth something if it refuses answers that drifted.
TEST_P(ApiContractTest, CheckerRefusesAnswersThatDrifted) {
  auto a = admin();
  const auto sample = make_sample(a, "CONTRACT-1");
  ASSERT_EQ(upload(a, sample, {{"f.png", disc_png(1)}})->status, 201);
  wait_for_jobs(a, sample);
  const Json page = body_json(get(a, "/api/samples/" + std::to_string(sample) + "/cells"));
  ASSERT_EQ(page["items"].size(), 3u) << page.dump();
  // Operations no other test needed a successful answer of.
  const Json image = body_json(get(a, "/api/images/" + std::to_string(page["items"][0]["image_id"].get<std::int64_t>())));
  EXPECT_EQ(image.value("sample_id", 0), sample) << image.dump();
  const auto patient = body_json(get(a, "/api/samples/" + std::to_string(sample))).value("patient_id", 0);
  EXPECT_EQ(body_json(get(a, "/api/patients/" + std::to_string(patient) + "/samples")).value("total", 0), 1);
  const Json& doc = ApiContract::instance().document();
  const Json& cell_schema = doc["components"]["schemas"]["Cell"];
  Json cell = page["items"][0];
  EXPECT_TRUE(validate_json(cell_schema, cell, doc).empty()) << "a real cell fits";
  Json missing = cell;
  missing.erase("class");
  EXPECT_FALSE(validate_json(cell_schema, missing, doc).empty()) << "a key the document requires is gone";
  Json extra = cell;
  extra["unlisted"] = 1;
  EXPECT_FALSE(validate_json(cell_schema, extra, doc).empty()) << "a key the document does not list";
  Json wrong = cell;
  wrong["confirmed"] = "yes";
  EXPECT_FALSE(validate_json(cell_schema, wrong, doc).empty()) << "a key of the wrong type";
  // Fields a newer classifier reports are optional and nullable: both kinds of server fit.
  Json newer = cell;
  newer["atypical"] = 0.25;
  newer["flag_reason"] = "atypical";
  EXPECT_TRUE(validate_json(cell_schema, newer, doc).empty());
  newer["atypical"] = nullptr;
  newer["flag_reason"] = nullptr;
  EXPECT_TRUE(validate_json(cell_schema, newer, doc).empty());
  newer["atypical"] = 1.5;
  EXPECT_FALSE(validate_json(cell_schema, newer, doc).empty()) << "atypical is in [0, 1]";
}

TEST_P(ApiContractTest, ReferencePageIsForAccountsAndRunsOnlyTheServersScripts) {
  auto anonymous = client_->Get("/api/docs");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto a = admin();
  auto page = get(a, "/api/docs");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  // The test server has no built web app: the page says where the document is instead.
  EXPECT_NE(page->body.find("/api/openapi.json"), std::string::npos) << page->body;
  // With the web app built, the page loads Swagger UI and its start-up from the web root, and
  // runs no inline script.
  std::filesystem::create_directories(options_.web_root + "/api-docs");
  std::ofstream(options_.web_root + "/api-docs/swagger-ui-bundle.js") << "/* bundle */";
  auto built = get(a, "/api/docs");
  ASSERT_EQ(built->status, 200);
  EXPECT_NE(built->body.find("<script src=\"/api-docs/swagger-ui-bundle.js\"></script>"), std::string::npos);
  EXPECT_NE(built->body.find("<script src=\"/api-docs/init.js\"></script>"), std::string::npos);
  EXPECT_EQ(built->body.find("<script>"), std::string::npos) << "no inline script";
  // Every other API answer keeps the policy that runs nothing.
  const std::string api_csp = get(a, "/api/session")->get_header_value("Content-Security-Policy");
  EXPECT_EQ(api_csp.find("script-src"), std::string::npos) << api_csp;
  EXPECT_EQ(api_csp.rfind("default-src 'none';", 0), 0u) << api_csp;
}

INSTANTIATE_TEST_SUITE_P(Backends, ApiContractTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
