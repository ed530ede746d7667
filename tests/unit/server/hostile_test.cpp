// Hostile requests against a real lab server on a loopback port, as an attacker would send them:
// broken framing and encodings, traversal, oversized heads and bodies, stalls, wrong types, wrong
// roles, strangers' ids. Every case asserts the status, that the server still answers
// GET /api/health, that the process grew by less than a stated budget, and (for writes) that
// nothing was stored.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/lab_server_fixture.h"
#include "server/raw_http_client.h"

namespace ms::testing {
namespace {

namespace fs = std::filesystem;

// Resident memory of this process (the server runs in it), in MiB.
double rss_mib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// Memory a single hostile request may leave behind or use at its peak, in MiB: the largest
// body the test server takes is 4 MiB; everything else is refused before it is read.
constexpr double kBudgetMib = 48;

class HostileTest : public LabServerTest {
 protected:
  void SetUp() override {
    LabServerTest::SetUp();
    fs::create_directories(dir_.str() + "/web/assets");
    std::ofstream(dir_.str() + "/web/index.html") << "<!doctype html><title>app</title>";
    std::ofstream(dir_.str() + "/web/assets/app.js") << std::string(100000, 'j');
    std::ofstream(dir_.str() + "/web/.env") << "SECRET=1";
    fs::create_symlink("/etc/passwd", dir_.str() + "/web/leak.txt");
    // The server resolved its web root at start; restart it so the files above are served.
    server_->stop();
    server_.reset();
    start_server();
    admin_ = admin();
    doctor_ = user_with_role("doc", "doctor");
    tech_ = user_with_role("tech", "technician");
    viewer_ = user_with_role("view", "viewer");
    sample_ = make_sample(tech_, "H-1");
  }

  // What a refused write must not change: rows a client can list, and files on disk.
  struct Stored {
    std::size_t patients = 0, images = 0, files = 0;
    bool operator==(const Stored& o) const { return patients == o.patients && images == o.images && files == o.files; }
  };
  Stored stored() {
    Stored s;
    s.patients = body_json(get(admin_, "/api/patients?page_size=500"))["items"].size();
    s.images = body_json(get(admin_, "/api/samples/" + std::to_string(sample_) + "/images"))["items"].size();
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_.str() + "/data", ec); !ec && it != fs::recursive_directory_iterator(); ++it)
      if (it->is_regular_file() && it->path().string().find("/files/") != std::string::npos) ++s.files;
    return s;
  }

  struct Outcome {
    int status = 0;
    std::string body, head;
  };
  // Sends raw bytes on a new connection and reads one reply.
  Outcome raw(const std::string& bytes, int timeout_ms = 15000) {
    RawClient c(server_->port());
    EXPECT_TRUE(c.connected());
    c.send(bytes);  // a server that answers early may close before everything is sent
    auto r = c.read_reply(timeout_ms);
    return {r.status, r.body, r.head};
  }

  // One hostile case: `act` sends it; the status must be one of `expected`.
  void expect_case(const std::string& name, const std::function<Outcome()>& act, std::set<int> expected,
                   bool stores_nothing = true) {
    SCOPED_TRACE(name);
    const Stored before = stores_nothing ? stored() : Stored{};
    const double rss_before = rss_mib();
    const Outcome out = act();
    const double grown = rss_mib() - rss_before;
    EXPECT_TRUE(expected.count(out.status)) << name << ": status " << out.status << " " << out.body.substr(0, 300);
    if (out.status >= 400) {
      // Every error is the one JSON shape, whatever bytes the request held.
      const Json j = Json::parse(out.body, nullptr, false);
      EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].contains("code") && j["error"].contains("message"))
          << name << ": " << out.body.substr(0, 300);
    }
    // 505 (an HTTP version other than 1.x) is the one 5xx that input may cause, by RFC 9110.
    if (out.status != 505) EXPECT_LT(out.status, 500) << name;
    EXPECT_EQ(out.body.find("root:x:0:0"), std::string::npos) << name << " leaked /etc/passwd";
    EXPECT_EQ(out.body.find("SQLite format"), std::string::npos) << name << " leaked the database";
    EXPECT_EQ(out.body.find(kAdminPassword), std::string::npos) << name << " leaked the admin password";
    EXPECT_LT(grown, kBudgetMib) << name << " grew the server by " << grown << " MiB";
    auto health = client_->Get("/api/health");
    ASSERT_TRUE(health) << name << ": the server stopped answering";
    EXPECT_EQ(health->status, 200) << name;
    if (stores_nothing) {
      EXPECT_TRUE(stored() == before) << name << " stored something";
    }
    ++cases_;
  }
  void expect_raw(const std::string& name, const std::string& bytes, std::set<int> expected) {
    expect_case(name, [&] { return raw(bytes); }, std::move(expected));
  }
  // A request with a session (cookie and CSRF header) and a JSON or raw body.
  std::string with_session(const SessionCookies& s, const std::string& method, const std::string& target,
                           const std::string& body = "", const std::string& type = "application/json",
                           bool csrf = true) {
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: t\r\nCookie: " + s.cookie + "\r\n";
    if (csrf) r += "X-CSRF-Token: " + s.csrf + "\r\n";
    if (!type.empty()) r += "Content-Type: " + type + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return r;
  }
  static std::string plain(const std::string& method, const std::string& target, const std::string& extra = "",
                           const std::string& body = "") {
    return method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  SessionCookies admin_, doctor_, tech_, viewer_;
  std::int64_t sample_ = 0;
  int cases_ = 0;
};

TEST_P(HostileTest, FramingEncodingAndHeads) {
  expect_raw("POST /%ff, no route, bad UTF-8 path", plain("POST", "/%ff"), {400});
  expect_raw("DELETE /api/%c3%28", plain("DELETE", "/api/%c3%28"), {400});
  expect_raw("OPTIONS /%ff", "OPTIONS /%ff HTTP/1.1\r\nHost: t\r\n\r\n", {400});
  expect_raw("PUT unknown route", plain("PUT", "/nothing/here"), {404});
  expect_raw("OPTIONS on an API route", "OPTIONS /api/patients HTTP/1.1\r\nHost: t\r\n\r\n", {405});
  expect_raw("chunked login", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n100000\r\n" + std::string(4096, 'a'), {411});
  expect_raw("gzip login", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Encoding: gzip\r\nContent-Length: 20\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + std::string(10, '\0'), {415});
  expect_raw("deflate + identity", plain("POST", "/api/auth/login", "Content-Encoding: identity, deflate\r\n"), {415});
  expect_raw("two Content-Lengths", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", {400});
  expect_raw("negative Content-Length", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n", {400});
  expect_raw("Content-Length overflow", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n", {400});
  expect_raw("login body over the JSON limit, head only",
             "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 629145600\r\n\r\n", {413});
  expect_raw("no Content-Length: no body", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\r\n{\"username\":", {400});
  expect_raw("HTTP/2.0", "GET /api/health HTTP/2.0\r\nHost: t\r\n\r\n", {505});
  expect_raw("HTTP/0.9 style", "GET /\r\n\r\n", {400});
  expect_raw("absolute-form target", "GET http://evil/ HTTP/1.1\r\nHost: t\r\n\r\n", {400});
  expect_raw("no Host", "GET /api/health HTTP/1.1\r\n\r\n", {400});
  expect_raw("control byte in a header", "GET /api/health HTTP/1.1\r\nHost: t\r\nX-A: a\x7f" "b\r\n\r\n", {400});
  expect_raw("obsolete folding", "GET /api/health HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", {400});
  expect_raw("Expect other than 100-continue", plain("POST", "/api/auth/login", "Expect: 200-ok\r\n"), {417});
  expect_raw("request line of 1 MiB", "GET /" + std::string(1 << 20, 'a'), {414});
  expect_raw("header line of 1 MiB", "GET / HTTP/1.1\r\nHost: t\r\nX-Long: " + std::string(1 << 20, 'a'), {431});
  std::string many = "GET /api/health HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 200000; ++i) many += "X-a: b\r\n";
  expect_raw("200,000 headers", many + "\r\n", {431});
  std::string range = "bytes=0-";
  for (int i = 0; i < 2700; ++i) range += ",0-";
  expect_case("2,700 ranges on a 100 KB asset", [&] {
    auto o = raw("GET /assets/app.js HTTP/1.1\r\nHost: t\r\nRange: " + range + "\r\n\r\n");
    EXPECT_EQ(o.body.size(), 100000u);  // the file once
    return o;
  }, {200});
  expect_raw("300 query parameters", [] {
    std::string q = "/api/health?";
    for (int i = 0; i < 300; ++i) q += "a=" + std::to_string(i) + "&";
    return "GET " + q + " HTTP/1.1\r\nHost: t\r\n\r\n";
  }(), {400});
  expect_raw("bad escape in a query value", "GET /api/health?x=%zz HTTP/1.1\r\nHost: t\r\n\r\n", {400});
  expect_case("HEAD of the OpenAPI document", [&] {
    RawClient c(server_->port());
    c.send("HEAD /api/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_reply(5000, true);
    EXPECT_TRUE(r.body.empty());
    return Outcome{r.status, "", r.head};
  }, {200});
  EXPECT_GE(cases_, 27);
}

TEST_P(HostileTest, StaticFilesStayUnderTheWebRoot) {
  const std::string db = dir_.str() + "/data/marrowscope.db";
  // Paths that name a file outside the web root: nothing.
  for (const std::string& target :
       {"//proc/self/cwd/" + db, "/" + db, "/%2F" + db.substr(1), std::string("/assets/..%2f..%2fetc%2fpasswd.js"),
        std::string("/leak.txt"), std::string("/.env"), std::string("/assets/%2e%2e%2f.env"),
        std::string("/assets//../.env"), std::string("/%2e%2e/%2e%2e/etc/hosts.txt")})
    expect_case("static " + target, [&] { return raw("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"); }, {400, 404});
  // Paths without an extension are the app's client-side routes: the app's page, never the file.
  for (const std::string& target :
       {std::string("//etc/passwd"), std::string("/%2Fetc%2Fpasswd"), std::string("/%2Fproc%2Fself%2Fenviron"),
        std::string("/%2Fproc%2Fself%2Fcmdline"), std::string("/%2e%2e/%2e%2e/etc/passwd"),
        std::string("/assets/../../../../etc/passwd")})
    expect_case("static " + target, [&] {
      auto o = raw("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n");
      if (o.status == 200) EXPECT_EQ(o.body, "<!doctype html><title>app</title>");
      return o;
    }, {200, 400, 404});
  // What the web root does hold is served, and client-side routes get the app.
  expect_case("asset", [&] { return raw("GET /assets/app.js HTTP/1.1\r\nHost: t\r\n\r\n"); }, {200});
  expect_case("client route", [&] {
    auto o = raw("GET /patients/12 HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_NE(o.body.find("<title>app</title>"), std::string::npos);
    EXPECT_NE(o.head.find("Content-Security-Policy"), std::string::npos);
    return o;
  }, {200});
}

TEST_P(HostileTest, SlowClientsDoNotStopTheServer) {
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < 64; ++i) {
    stalled.push_back(std::make_unique<RawClient>(server_->port()));
    // Half a head, or a whole head whose body never comes: neither holds a handler thread.
    stalled.back()->send(i % 2 ? std::string("GET /api/health HTTP/1.1\r\nHo")
                               : plain("POST", "/api/auth/login", "Content-Type: application/json\r\n").substr(0, 80) +
                                     "Content-Length: 100\r\n\r\n{");
  }
  for (int i = 0; i < 20; ++i) {
    auto h = client_->Get("/api/health");
    ASSERT_TRUE(h) << "request " << i << " while 64 clients stall";
    EXPECT_EQ(h->status, 200);
  }
  auto list = get(viewer_, "/api/patients");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
}

TEST_P(HostileTest, JsonBodiesAndQueryValues) {
  const std::string login = "/api/auth/login";
  expect_raw("login as text/plain with application/json inside",
             plain("POST", login, "Content-Type: text/plain; x=application/json\r\n", R"({"username":"admin","password":"x"})"), {415});
  expect_raw("login without a Content-Type", plain("POST", login, "", R"({"username":"admin","password":"x"})"), {415});
  expect_raw("login with invalid UTF-8 in a string",
             plain("POST", login, "Content-Type: application/json\r\n", "{\"username\":\"\xff\xfe\",\"password\":\"x\"}"), {400, 401});
  expect_raw("login with wrong types", plain("POST", login, "Content-Type: application/json\r\n", R"({"username":123,"password":["x"]})"), {400});
  expect_raw("login with unknown keys", plain("POST", login, "Content-Type: application/json\r\n", R"({"username":"a","password":"b","x":1})"), {400});
  expect_raw("login array body", plain("POST", login, "Content-Type: application/json\r\n", "[1,2]"), {400});
  expect_raw("nesting 100,000 deep", plain("POST", login, "Content-Type: application/json\r\n", std::string(100000, '[') + std::string(100000, ']')), {400});
  expect_raw("two million brackets", plain("POST", login, "Content-Type: application/json\r\n", std::string(1000000, '[') + std::string(1000000, ']')), {413});
  expect_raw("NUL inside JSON", plain("POST", login, "Content-Type: application/json\r\n", std::string("{\"username\":\"a\0b\",\"password\":\"x\"}", 34)), {400});
  expect_case("sort=%ff", [&] { return raw(with_session(viewer_, "GET", "/api/patients?sort=%ff", "", "")); }, {400});
  expect_case("status=%ff and a huge limit", [&] {
    return raw(with_session(viewer_, "GET", "/api/jobs?status=%ff&limit=999999999999999999999", "", ""));
  }, {400});
  expect_case("rule_set=%ff", [&] {
    return raw(with_session(viewer_, "GET", "/api/samples/" + std::to_string(sample_) + "/differential?rule_set=%ff", "", ""));
  }, {400, 404});
  expect_case("page number too large", [&] { return raw(with_session(viewer_, "GET", "/api/patients?page=99999999999999999999", "", "")); }, {400});
  expect_case("patient with a 1 MiB name", [&] {
    return raw(with_session(tech_, "POST", "/api/patients", Json{{"identifier", "X1"}, {"name", std::string(1 << 20, 'n')}}.dump()));
  }, {413});
  expect_case("patient with invalid UTF-8", [&] {
    return raw(with_session(tech_, "POST", "/api/patients", "{\"identifier\":\"X\xc3\x28\",\"name\":\"n\"}"));
  }, {400});
  expect_case("review of 5,001 cells", [&] {
    Json ids = Json::array();
    for (int i = 1; i <= 5001; ++i) ids.push_back(i);
    return raw(with_session(tech_, "POST", "/api/cells/review", Json{{"ids", ids}, {"class", "blast"}}.dump()));
  }, {400});
  expect_case("review with a non-UTF-8 class", [&] {
    return raw(with_session(tech_, "POST", "/api/cells/review", "{\"ids\":[1],\"class\":\"\xff\"}"));
  }, {400, 404});
}

TEST_P(HostileTest, SessionsRolesAndStrangersIds) {
  const std::string s = std::to_string(sample_);
  expect_raw("no session", "GET /api/patients HTTP/1.1\r\nHost: t\r\n\r\n", {401});
  expect_raw("forged session cookie", "GET /api/patients HTTP/1.1\r\nHost: t\r\nCookie: ms_session=" + std::string(64, 'a') + "\r\n\r\n", {401});
  expect_raw("cookie of 7 KiB", "GET /api/patients HTTP/1.1\r\nHost: t\r\nCookie: ms_session=" + std::string(7000, 'b') + "\r\n\r\n", {401});
  expect_case("no CSRF header", [&] {
    return raw(with_session(tech_, "POST", "/api/patients", R"({"identifier":"C1","name":"n"})", "application/json", false));
  }, {403});
  expect_case("text/plain JSON without CSRF", [&] {
    return raw(with_session(tech_, "POST", "/api/patients", R"({"identifier":"C1","name":"n"})", "text/plain; x=application/json", false));
  }, {403});
  expect_case("text/plain JSON with CSRF", [&] {
    return raw(with_session(tech_, "POST", "/api/patients", R"({"identifier":"C1","name":"n"})", "text/plain; x=application/json"));
  }, {415});
  expect_case("wrong CSRF token", [&] {
    SessionCookies wrong = tech_;
    wrong.csrf = std::string(64, '0');
    return raw(with_session(wrong, "POST", "/api/patients", R"({"identifier":"C2","name":"n"})"));
  }, {403});
  expect_case("viewer creates a patient", [&] { return raw(with_session(viewer_, "POST", "/api/patients", R"({"identifier":"V","name":"n"})")); }, {403});
  expect_case("viewer deletes a sample", [&] { return raw(with_session(viewer_, "DELETE", "/api/samples/" + s, "", "")); }, {403});
  expect_case("technician creates an account", [&] {
    return raw(with_session(tech_, "POST", "/api/users", R"({"username":"x","password":"password-x","role":"admin"})"));
  }, {403});
  expect_case("technician promotes the viewer", [&] {
    const auto id = body_json(get(viewer_, "/api/session"))["user"].value("id", 0);
    return raw(with_session(tech_, "PATCH", "/api/users/" + std::to_string(id), R"({"role":"admin"})"));
  }, {403, 404});
  expect_case("viewer reads the operation log", [&] { return raw(with_session(viewer_, "GET", "/api/logs", "", "")); }, {403});
  expect_case("technician signs", [&] { return raw(with_session(tech_, "POST", "/api/samples/" + s + "/sign", R"({"allow_unreviewed":true})")); }, {403});
  expect_case("a stranger's sample id", [&] { return raw(with_session(viewer_, "GET", "/api/samples/999999", "", "")); }, {404});
  expect_case("an id of 30 digits", [&] { return raw(with_session(viewer_, "GET", "/api/samples/" + std::string(30, '9'), "", "")); }, {404});
  expect_case("a negative id", [&] { return raw(with_session(viewer_, "GET", "/api/samples/-1", "", "")); }, {404});
  expect_case("a non-numeric id", [&] { return raw(with_session(viewer_, "GET", "/api/samples/abc", "", "")); }, {404});
  expect_case("crop size 100000", [&] { return raw(with_session(viewer_, "GET", "/api/cells/1/crop?size=100000", "", "")); }, {400, 404});
  expect_case("register the admin's name", [&] {
    return raw(plain("POST", "/api/auth/register", "Content-Type: application/json\r\n", R"({"username":"admin","password":"aaaaaaaa"})"));
  }, {201, 202, 400, 409, 429}, false);
}

TEST_P(HostileTest, UploadsAreCheckedBeforeTheirBodies) {
  const std::string target = "/api/samples/" + std::to_string(sample_) + "/images";
  const std::string big = "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 3145728\r\n";
  // Only the head is sent: each answer comes before a byte of the 3 MiB body.
  expect_raw("upload without a session, head only", "POST " + target + " HTTP/1.1\r\nHost: t\r\n" + big + "\r\n", {401});
  expect_case("upload as a viewer, head only", [&] {
    return raw("POST " + target + " HTTP/1.1\r\nHost: t\r\nCookie: " + viewer_.cookie + "\r\nX-CSRF-Token: " + viewer_.csrf +
               "\r\n" + big + "\r\n");
  }, {403});
  expect_case("upload over the server's limit, head only", [&] {
    return raw("POST " + target + " HTTP/1.1\r\nHost: t\r\nCookie: " + tech_.cookie + "\r\nX-CSRF-Token: " + tech_.csrf +
               "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 5242880\r\n\r\n");
  }, {413});
  const std::string png = disc_png(7);
  auto multipart = [](const std::string& boundary, const std::string& name, const std::string& bytes) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"" + name +
           "\"\r\nContent-Type: image/png\r\n\r\n" + bytes + "\r\n--" + boundary + "--\r\n";
  };
  expect_case("multipart without a boundary", [&] {
    return raw(with_session(tech_, "POST", target, multipart("b", "a.png", png), "multipart/form-data"));
  }, {400});
  expect_case("multipart cut before its closing boundary", [&] {
    std::string body = multipart("b", "a.png", png);
    body.resize(body.size() - 10);
    return raw(with_session(tech_, "POST", target, body, "multipart/form-data; boundary=b"));
  }, {400});
  expect_case("a corrupt PNG", [&] {
    return raw(with_session(tech_, "POST", target, multipart("b", "bad.png", png.substr(0, 40)), "multipart/form-data; boundary=b"));
  }, {413, 415, 422});
  expect_case("a PNG declaring 60000 x 60000 pixels", [&] {
    std::string huge = png;
    const unsigned char dims[8] = {0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60};
    huge.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
    return raw(with_session(tech_, "POST", target, multipart("b", "huge.png", huge), "multipart/form-data; boundary=b"));
  }, {413, 422});
  expect_case("a file name with NUL", [&] {
    return raw(with_session(tech_, "POST", target, multipart("b", std::string("a\0b.png", 7), png),
                            "multipart/form-data; boundary=b"));
  }, {400});
  expect_case("a file name with slashes and invalid UTF-8", [&] {
    auto o = raw(with_session(tech_, "POST", target, multipart("b", "../../etc/\xff\xfe.png", png),
                              "multipart/form-data; boundary=b"));
    EXPECT_EQ(o.body.find("../"), std::string::npos) << o.body;  // stored under a clean display name
    return o;
  }, {201}, false);
  expect_case("a JSON body to the upload route", [&] { return raw(with_session(tech_, "POST", target, "{}")); }, {415});
  expect_case("recognition as a viewer", [&] {
    return raw(with_session(viewer_, "POST", "/api/recognition", multipart("b", "c.png", png), "multipart/form-data; boundary=b"));
  }, {403, 200, 503});
  expect_case("avatar that is not an image", [&] {
    const auto id = body_json(get(viewer_, "/api/session"))["user"].value("id", 0);
    return raw(with_session(viewer_, "PUT", "/api/users/" + std::to_string(id) + "/avatar", "not an image at all", "image/png"));
  }, {400, 413, 415, 422});
}

INSTANTIATE_TEST_SUITE_P(Backends, HostileTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
