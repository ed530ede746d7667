// Accounts, sessions, CSRF, throttling and roles over real HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/lab_server_fixture.h"
#include "store/database.h"
#include "store/schema.h"

namespace ms::testing {
namespace {


// One HTTP/1.1 request over a connection whose source address is `from` (any 127.x.y.z address
// reaches a server listening on 127.0.0.1), so tests can sign in from several client addresses.
struct RawReply {
  int status = 0;
  std::string headers, body;  // headers lower-cased
  Json json() const { return Json::parse(body, nullptr, false); }
};
RawReply request_from(const std::string& from, int port, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& extra_headers = "") {
  RawReply out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return out;
  }
  const std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n" + extra_headers + "\r\n" + body;
  for (std::size_t sent = 0; sent < req.size();) {
    const auto n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  // Reads the head, then Content-Length bytes of body (or to the end when none is given).
  std::string all;
  std::size_t head_end = std::string::npos, want = std::string::npos;
  char buf[4096];
  while (want == std::string::npos || all.size() < want) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<std::size_t>(n));
    if (head_end == std::string::npos && (head_end = all.find("\r\n\r\n")) != std::string::npos) {
      std::string head = all.substr(0, head_end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto cl = head.find("\r\ncontent-length:");
      if (cl != std::string::npos) want = head_end + 4 + std::stoul(head.substr(cl + 17));
    }
  }
  ::close(fd);
  if (all.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) return out;
  out.status = std::stoi(all.substr(9, 3));
  out.headers = all.substr(0, head_end);
  for (auto& c : out.headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.body = all.substr(head_end + 4);
  return out;
}

RawReply login_from(const std::string& from, int port, const std::string& user, const std::string& password) {
  return request_from(from, port, "POST", "/api/auth/login", Json{{"username", user}, {"password", password}}.dump());
}

using AuthApiTest = LabServerTest;

TEST_P(AuthApiTest, HealthOpenApiAndUnknownRoutes) {
  auto h = client_->Get("/api/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  // Public: only that the server is up and whether it analyses fields.
  EXPECT_EQ(body_json(h), Json({{"status", "ok"}, {"analysis", true}})) << h->body;
  // Signed in: the database, schema, runner and workers too.
  auto signed_in = body_json(get(admin(), "/api/health"));
  EXPECT_EQ(signed_in["schema_version"], store::newest_schema_version());
  EXPECT_EQ(signed_in["database"], GetParam());
  EXPECT_NE(signed_in["runner"].get<std::string>().find("test double"), std::string::npos) << signed_in.dump();
  auto doc = body_json(client_->Get("/api/openapi.json"));
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["openapi"], "3.1.0");
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
  EXPECT_FALSE(body_json(r).contains("id")) << "the answer must not differ for a taken name";
  // A taken name answers exactly as a free one: registration does not reveal which names exist.
  auto again = client_->Post("/api/auth/register", reg.dump(), "application/json");
  EXPECT_EQ(again->status, 201) << again->body;
  EXPECT_EQ(body_json(again), body_json(r));
  auto admin_taken = client_->Post("/api/auth/register",
                                   Json{{"username", "admin"}, {"password", "aaaaaaaa"}}.dump(), "application/json");
  EXPECT_EQ(admin_taken->status, 201) << admin_taken->body;
  EXPECT_EQ(admin_taken->body.find("taken"), std::string::npos) << admin_taken->body;
  reg["username"] = "sneaky";
  reg["role"] = "admin";
  EXPECT_EQ(client_->Post("/api/auth/register", reg.dump(), "application/json")->status, 403);
  reg["role"] = "viewer";
  reg["email"] = "not an email";
  EXPECT_EQ(client_->Post("/api/auth/register", reg.dump(), "application/json")->status, 400);

  auto pending = login("newtech", "tech-password", 403);
  auto a = admin();
  std::int64_t id = 0;
  const Json users = body_json(get(a, "/api/users"));  // a range-for over a temporary's member would dangle
  for (const auto& u : users["items"])
    if (u["username"] == "newtech") id = u["id"].get<std::int64_t>();
  ASSERT_GT(id, 0);
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
  EXPECT_NE(wrong->body.find("current password is wrong"), std::string::npos) << wrong->body;
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


TEST_P(AuthApiTest, AStrangerCannotLockTheAdminOutFromAnotherAddress) {
  const int port = server_->port();
  // Someone at 127.0.0.7 guesses at "admin" until sign-in is locked for them.
  for (int k = 0; k < 5; ++k) {
    auto r = login_from("127.0.0.7", port, "admin", "guess-" + std::to_string(k));
    ASSERT_EQ(r.status, 401) << r.body;
    // Each 401 says how many tries are left before the lock (the web app shows it).
    EXPECT_EQ(r.json()["error"]["details"]["tries_left"], 4 - k) << r.body;
    EXPECT_EQ(r.json()["error"]["details"]["lock_minutes"], 15);
  }
  auto last = login_from("127.0.0.7", port, "admin", "guess-4");
  EXPECT_EQ(last.status, 403) << last.body;
  EXPECT_NE(last.headers.find("retry-after: 900"), std::string::npos) << last.headers;
  EXPECT_EQ(login_from("127.0.0.7", port, "admin", kAdminPassword).status, 403)
      << "the guesser's own address stays locked, even with the right password";
  // The real admin, elsewhere, signs in as usual.
  auto real = login_from("127.0.0.8", port, "admin", kAdminPassword);
  EXPECT_EQ(real.status, 200) << real.body;
  admin();  // and from 127.0.0.1 too
}

TEST_P(AuthApiTest, WrongPasswordSaysHowManyTriesAreLeft) {
  auto r = client_->Post("/api/auth/login", Json{{"username", "admin"}, {"password", "nope"}}.dump(),
                         "application/json");
  ASSERT_EQ(r->status, 401);
  EXPECT_NE(body_json(r)["error"]["message"].get<std::string>().find("4 tries left before sign-in is locked for 15 minutes"),
            std::string::npos)
      << r->body;
  // The reason and its values, for a client that says it in another language.
  EXPECT_EQ(body_json(r)["error"]["reason"], "tries_left");
  EXPECT_EQ(body_json(r)["error"]["params"], Json({{"n", "4"}, {"minutes", "15"}}));
  // Errors without a reason carry neither field.
  auto bad = client_->Post("/api/auth/login", "{", "application/json");
  EXPECT_FALSE(body_json(bad)["error"].contains("reason")) << bad->body;
  // The same answer for a name that does not exist.
  auto ghost = client_->Post("/api/auth/login", Json{{"username", "ghost"}, {"password", "nope"}}.dump(),
                             "application/json");
  ASSERT_EQ(ghost->status, 401);
  EXPECT_EQ(body_json(ghost)["error"]["details"]["tries_left"], 4);
  for (int k = 0; k < 3; ++k) login("admin", "nope", 401);
  auto last = client_->Post("/api/auth/login", Json{{"username", "admin"}, {"password", "nope"}}.dump(),
                            "application/json");
  ASSERT_EQ(last->status, 401);
  EXPECT_EQ(body_json(last)["error"]["reason"], "locked_now") << last->body;
}

TEST_P(AuthApiTest, AnAdminUnlocksALockedAccountAndItIsAudited) {
  auto a = admin();
  auto r = post(a, "/api/users", {{"username", "tina"}, {"password", "password-tina"}, {"role", "technician"}});
  ASSERT_EQ(r->status, 201) << r->body;
  const auto tina = body_json(r)["id"].get<std::int64_t>();
  for (int k = 0; k < 5; ++k) login("tina", "typo", 401);
  auto locked = client_->Post("/api/auth/login", Json{{"username", "tina"}, {"password", "password-tina"}}.dump(),
                              "application/json");
  ASSERT_EQ(locked->status, 403) << locked->body;

  // Only an admin unlocks; a stranger's id is a 404; a body is refused.
  auto doc = user_with_role("doc", "doctor");
  const std::string url = "/api/users/" + std::to_string(tina) + "/unlock";
  EXPECT_EQ(post(doc, url, Json::object())->status, 403);
  EXPECT_EQ(client_->Post(url.c_str(), "", "application/json")->status, 401);
  EXPECT_EQ(post(a, "/api/users/999999/unlock", Json::object())->status, 404);
  EXPECT_EQ(client_->Post(url.c_str(), a.headers(), "{\"all\": true}", "application/json")->status, 400);

  auto u = client_->Post(url.c_str(), a.headers(), "", "application/json");
  ASSERT_EQ(u->status, 200) << u->body;
  EXPECT_EQ(body_json(u)["cleared"], 5);
  EXPECT_EQ(body_json(u)["user"]["username"], "tina");
  login("tina", "password-tina", 200);
  auto log = body_json(get(a, "/api/logs?action=user.unlock"));
  ASSERT_GE(log["items"].size(), 1u) << log.dump();
  EXPECT_EQ(log["items"][0]["target"], "tina");
  EXPECT_EQ(log["items"][0]["username"], "admin");
}

TEST_P(AuthApiTest, AnAddressThatSpraysManyNamesIsRefusedForEveryAccount) {
  user_with_role("doc9", "doctor");
  const int port = server_->port();
  for (int k = 0; k < 20; ++k)
    ASSERT_EQ(login_from("127.0.0.9", port, "user" + std::to_string(k), "Password1").status, 401) << k;
  auto refused = login_from("127.0.0.9", port, "doc9", "password-doc9");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("from this address"), std::string::npos) << refused.body;
  login("doc9", "password-doc9");  // another address is not refused
}

TEST_P(AuthApiTest, RegistrationIsRateLimitedPerAddress) {
  const int port = server_->port();
  for (int k = 0; k < 5; ++k) {
    auto r = request_from("127.0.0.10", port, "POST", "/api/auth/register",
                          Json{{"username", "self" + std::to_string(k)}, {"password", "password-1"}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  auto sixth = request_from("127.0.0.10", port, "POST", "/api/auth/register",
                            Json{{"username", "self5"}, {"password", "password-1"}}.dump());
  EXPECT_EQ(sixth.status, 403) << sixth.body;
  EXPECT_NE(sixth.headers.find("retry-after: 3600"), std::string::npos) << sixth.headers;
  auto elsewhere = request_from("127.0.0.11", port, "POST", "/api/auth/register",
                                Json{{"username", "self5"}, {"password", "password-1"}}.dump());
  EXPECT_EQ(elsewhere.status, 201) << elsewhere.body;
  auto logs = body_json(get(admin(), "/api/logs?action=auth.register_throttled"));
  EXPECT_EQ(logs["total"], 1) << logs.dump();
}

TEST_P(AuthApiTest, CurrentPasswordGuessesAreThrottledPerAccount) {
  auto s = user_with_role("doc3", "doctor");
  for (int k = 0; k < 5; ++k) {
    auto r = post(s, "/api/auth/password", {{"current_password", "guess-" + std::to_string(k)},
                                            {"new_password", "new-password-1"}});
    ASSERT_EQ(r->status, 403) << r->body;
    EXPECT_EQ(body_json(r)["error"]["details"]["tries_left"], 4 - k) << r->body;
  }
  auto right = post(s, "/api/auth/password", {{"current_password", "password-doc3"}, {"new_password", "new-password-1"}});
  EXPECT_EQ(right->status, 403) << "a stolen session tried passwords without limit";
  EXPECT_NE(right->body.find("too many wrong current passwords"), std::string::npos) << right->body;
  EXPECT_FALSE(right->get_header_value("Retry-After").empty());
  EXPECT_EQ(get(s, "/api/session")->status, 200) << "nothing changed";
  login("doc3", "password-doc3");
}

TEST_P(AuthApiTest, AvatarsOverFourMegapixelsAreRefusedFromTheHeader) {
  auto v = user_with_role("view2", "viewer");
  const auto me = body_json(get(v, "/api/session"))["user"]["id"].get<std::int64_t>();
  cv::Mat big(2001, 2000, CV_8UC3, cv::Scalar(200, 180, 160));  // 4.002 MP, a few KB as PNG
  auto png = encode_image(big, ".png");
  auto r = client_->Put(("/api/users/" + std::to_string(me) + "/avatar").c_str(), v.headers(),
                        std::string(png->begin(), png->end()), "image/png");
  ASSERT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("4000000 pixels"), std::string::npos) << r->body;
  auto ok = client_->Put(("/api/users/" + std::to_string(me) + "/avatar").c_str(), v.headers(), disc_png(4),
                         "image/png");
  ASSERT_EQ(ok->status, 200) << ok->body;
  auto got = get(v, "/api/users/" + std::to_string(me) + "/avatar");
  ASSERT_EQ(got->status, 200);
  EXPECT_EQ(got->get_header_value("Cache-Control"), "private, no-store");
}

class SessionLifetimeTest : public LabServerTest {
 protected:
  SessionLifetimeTest() { start_in_setup_ = false; }
};

TEST_P(SessionLifetimeTest, SessionsEndAtTheAbsoluteLifetimeEvenWhenUsed) {
  options_.session_max_age_ms = 1500;  // idle timeout stays 12 h
  start_server();
  auto s = admin();
  EXPECT_EQ(get(s, "/api/session")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(get(s, "/api/session")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(get(s, "/api/session")->status, 401) << "the session outlived its absolute lifetime";
  // Signing in again works, and purges the ended session.
  auto again = admin();
  EXPECT_EQ(get(again, "/api/session")->status, 200);
  auto db = store::open_database(url_->url());
  ASSERT_TRUE(db) << db.error().message;
  auto n = (*db)->transact(store::TxMode::kRead, [](store::Tx& tx) {
    return tx.query_one("SELECT COUNT(*) AS n FROM sessions");
  });
  ASSERT_TRUE(n && *n);
  EXPECT_EQ((**n).i("n"), 1) << "ended sessions are purged at sign-in";
}

MS_POSTGRES_SKIP_NOTICE(ServerBackends)

INSTANTIATE_TEST_SUITE_P(Backends, AuthApiTest, ::testing::ValuesIn(test_backends()), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, SessionLifetimeTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
