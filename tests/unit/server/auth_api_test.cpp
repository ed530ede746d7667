// Accounts, sessions, CSRF, throttling and roles over real HTTP.
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/lab_server_fixture.h"
#include "store/schema.h"

namespace ms::testing {
namespace {

using AuthApiTest = LabServerTest;

TEST_P(AuthApiTest, HealthOpenApiAndUnknownRoutes) {
  auto h = client_->Get("/api/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(body_json(h)["schema_version"], store::newest_schema_version());
  EXPECT_EQ(body_json(h)["database"], GetParam());
  auto doc = body_json(client_->Get("/api/openapi.json"));
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["openapi"], "3.0.3");
  for (const char* path : {"/api/auth/login", "/api/patients/{id}", "/api/samples/{id}/images",
                           "/api/jobs/{id}/retry", "/api/logs", "/api/openapi.json"})
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  auto missing = client_->Get("/api/no-such-thing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(error_code(missing), "not_found");
  auto post_missing = client_->Post("/api/nothing", "{}", "application/json");
  EXPECT_EQ(post_missing->status, 404);
  EXPECT_EQ(error_code(post_missing), "not_found");
  // Without a built web app, / explains what is missing instead of failing.
  auto root = client_->Get("/patients/12");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_NE(root->body.find("not built"), std::string::npos);
}

TEST_P(AuthApiTest, LoginSessionCsrfAndLogout) {
  auto none = client_->Get("/api/patients");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(error_code(none), "unauthenticated");
  login("admin", "wrong-password", 401);
  login("nobody", "wrong-password", 401);
  auto bad_json = client_->Post("/api/auth/login", "{\"username\": ", "application/json");
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_EQ(error_code(bad_json), "invalid_argument");
  auto missing = client_->Post("/api/auth/login", R"({"username":"admin"})", "application/json");
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(body_json(missing)["error"]["message"].get<std::string>().find("password"), std::string::npos);

  auto r = client_->Post("/api/auth/login",
                         Json{{"username", "admin"}, {"password", kAdminPassword}}.dump(), "application/json");
  ASSERT_EQ(r->status, 200);
  const std::string cookie = r->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  auto s = admin();
  ASSERT_EQ(s.csrf.size(), 64u);
  auto me = body_json(get(s, "/api/session"));
  EXPECT_EQ(me["user"]["username"], "admin");
  EXPECT_EQ(me["user"]["role"], "admin");
  EXPECT_FALSE(me["user"].contains("password_hash"));
  EXPECT_EQ(me["csrf_token"], s.csrf);

  Json patient = {{"identifier", "CSRF-1"}, {"name", "Csrf Test"}};
  auto no_csrf = client_->Post("/api/patients", s.headers(false), patient.dump(), "application/json");
  EXPECT_EQ(no_csrf->status, 403);
  EXPECT_NE(no_csrf->body.find("X-CSRF-Token"), std::string::npos);
  SessionCookies wrong = s;
  wrong.csrf = std::string(64, 'a');
  EXPECT_EQ(post(wrong, "/api/patients", patient)->status, 403);
  EXPECT_EQ(post(s, "/api/patients", patient)->status, 201);

  EXPECT_EQ(post(s, "/api/auth/logout", Json::object())->status, 200);
  EXPECT_EQ(get(s, "/api/session")->status, 401) << "a revoked session still works";
}

TEST_P(AuthApiTest, RepeatedFailuresThrottleLogin) {
  for (int k = 0; k < 5; ++k) login("admin", "not-the-password", 401);
  auto r = client_->Post("/api/auth/login",
                         Json{{"username", "admin"}, {"password", kAdminPassword}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << "the right password must wait out the throttle";
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  EXPECT_NE(r->body.find("too many failed sign-ins"), std::string::npos);
}

TEST_P(AuthApiTest, ParallelGuessesCannotOutrunTheThrottle) {
  // Guesses sent at once must not all be checked before any is counted: at most
  // max_login_failures (5) wrong passwords are ever tried per window. 8 clients x 2 guesses each
  // (8 connections: cpp-httplib's listen backlog is 5, and a burst of connects beyond it waits
  // for SYN retransmits rather than testing the throttle).
  const int port = server_->port();
  std::atomic<int> wrong{0}, throttled{0};
  std::mutex mu;
  std::string other;  // any other answer: status and body
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      for (int guess = 0; guess < 2; ++guess) {
        auto r = c.Post("/api/auth/login",
                        Json{{"username", "admin"}, {"password", "guess-" + std::to_string(2 * k + guess)}}.dump(),
                        "application/json");
        const int status = r ? r->status : 0;
        if (status == 401) ++wrong;
        else if (status == 403) ++throttled;
        else {
          std::lock_guard<std::mutex> lock(mu);
          other += std::to_string(status) + " " + (r ? r->body : httplib::to_string(r.error())) + "\n";
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(other, "");
  EXPECT_EQ(wrong, 5) << "guesses checked against the password";
  EXPECT_EQ(throttled, 11);
  login("admin", kAdminPassword, 403);
}

TEST_P(AuthApiTest, RegistrationNeedsAnAdminToEnable) {
  Json reg = {{"username", "newtech"}, {"password", "tech-password"}, {"role", "technician"},
              {"display_name", "New Tech"}, {"email", "tech@lab.org"}, {"department", "Hematology"}};
  auto r = client_->Post("/api/auth/register", reg.dump(), "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(body_json(r)["enabled"], false);
  const auto id = body_json(r)["id"].get<std::int64_t>();
  EXPECT_EQ(client_->Post("/api/auth/register", reg.dump(), "application/json")->status, 409);
  reg["username"] = "sneaky";
  reg["role"] = "admin";
  EXPECT_EQ(client_->Post("/api/auth/register", reg.dump(), "application/json")->status, 403);
  reg["role"] = "viewer";
  reg["email"] = "not an email";
  EXPECT_EQ(client_->Post("/api/auth/register", reg.dump(), "application/json")->status, 400);

  auto pending = login("newtech", "tech-password", 403);
  auto a = admin();
  auto enabled = patch(a, "/api/users/" + std::to_string(id), {{"enabled", true}});
  ASSERT_EQ(enabled->status, 200) << enabled->body;
  auto t = login("newtech", "tech-password");
  auto me = body_json(get(t, "/api/users/" + std::to_string(id)));
  EXPECT_EQ(me["department"], "Hematology");
  // Profile edits by the user; role changes only by an admin.
  EXPECT_EQ(patch(t, "/api/users/" + std::to_string(id), {{"phone", "+1 555 0100"}})->status, 200);
  EXPECT_EQ(patch(t, "/api/users/" + std::to_string(id), {{"role", "admin"}})->status, 403);
  EXPECT_EQ(patch(t, "/api/users/" + std::to_string(id), {{"shoe_size", 44}})->status, 400);
  EXPECT_EQ(get(t, "/api/users/1")->status, 404) << "another user's account is invisible";
  EXPECT_EQ(get(t, "/api/users")->status, 403);
  EXPECT_EQ(get(a, "/api/users/99999")->status, 404);
}

TEST_P(AuthApiTest, PasswordChangeRevokesEverySession) {
  auto first = user_with_role("doc1", "doctor");
  auto second = login("doc1", "password-doc1");
  auto wrong = post(first, "/api/auth/password", {{"current_password", "nope"}, {"new_password", "new-password-1"}});
  EXPECT_EQ(wrong->status, 403);
  auto weak = post(first, "/api/auth/password", {{"current_password", "password-doc1"}, {"new_password", "short"}});
  EXPECT_EQ(weak->status, 400);
  auto ok = post(first, "/api/auth/password",
                 {{"current_password", "password-doc1"}, {"new_password", "new-password-1"}});
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(get(first, "/api/session")->status, 401);
  EXPECT_EQ(get(second, "/api/session")->status, 401);
  login("doc1", "password-doc1", 401);
  login("doc1", "new-password-1");
}

TEST_P(AuthApiTest, RolesGateEveryWrite) {
  auto viewer = user_with_role("view1", "viewer");
  auto tech = user_with_role("tech1", "technician");
  auto doctor = user_with_role("doc2", "doctor");
  EXPECT_EQ(get(viewer, "/api/patients")->status, 200);
  auto denied = post(viewer, "/api/patients", {{"identifier", "V1"}, {"name", "Viewer Made"}});
  EXPECT_EQ(denied->status, 403);
  EXPECT_EQ(error_code(denied), "permission_denied");
  const auto sample = make_sample(tech, "ROLE-1");
  EXPECT_EQ(upload(viewer, sample, {{"a.png", disc_png(1)}})->status, 403);
  EXPECT_EQ(get(tech, "/api/logs")->status, 403);
  EXPECT_EQ(get(doctor, "/api/logs")->status, 200);
  const std::string status = "/api/samples/" + std::to_string(sample) + "/status";
  EXPECT_EQ(post(tech, status, {{"status", "in_review"}})->status, 200);
  auto bogus = post(doctor, status, {{"status", "bogus"}});
  EXPECT_EQ(bogus->status, 400);
  EXPECT_NE(body_json(bogus)["error"]["message"].get<std::string>().find("status"), std::string::npos);
  // The status route never signs: signing is the report's /sign, which stores the signed report.
  for (const auto* who : {&tech, &doctor}) {
    auto via_status = post(*who, status, {{"status", "signed"}});
    EXPECT_EQ(via_status->status, 409);
    EXPECT_NE(body_json(via_status)["error"]["message"].get<std::string>().find(
                  "POST /api/samples/" + std::to_string(sample) + "/sign"),
              std::string::npos)
        << via_status->body;
  }
  EXPECT_EQ(body_json(get(doctor, "/api/samples/" + std::to_string(sample)))["status"], "in_review");
  EXPECT_EQ(post(tech, status, {{"status", "draft"}})->status, 200);
  EXPECT_EQ(post(tech, status, {{"status", "in_review"}})->status, 200);
  EXPECT_EQ(post(tech, status, {{"status", "in_review"}})->status, 409) << "in_review -> in_review";
  ASSERT_EQ(upload(tech, sample, {{"field.png", disc_png(3)}})->status, 201);
  wait_for_jobs(tech, sample);
  EXPECT_EQ(post(tech, "/api/samples/" + std::to_string(sample) + "/sign", {{"allow_unreviewed", true}})->status, 403);
  auto signed_r = sign(doctor, sample);
  ASSERT_EQ(signed_r->status, 200) << signed_r->body;
  EXPECT_EQ(body_json(signed_r)["sample"]["status"], "signed");
  EXPECT_EQ(body_json(signed_r)["snapshot"], true);
  EXPECT_EQ(post(doctor, status, {{"status", "draft"}})->status, 409);
  EXPECT_EQ(upload(tech, sample, {{"late.png", disc_png(2)}})->status, 409) << "signed samples are locked";
  auto logs = body_json(get(doctor, "/api/logs?action=sample."));
  ASSERT_TRUE(logs.is_object());
  bool saw_sign = false;
  for (const auto& e : logs["items"]) saw_sign |= e["action"] == "sample.sign" && e["username"] == "doc2";
  EXPECT_TRUE(saw_sign) << logs.dump();
}

MS_POSTGRES_SKIP_NOTICE(ServerBackends)

INSTANTIATE_TEST_SUITE_P(Backends, AuthApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
