// The HTTP server over real loopback sockets: framing, limits before the body, deadlines,
// stalled clients, pipelining, exceptions, connection caps.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "net/http_server.h"
#include "server/raw_http_client.h"

namespace ms::net {
namespace {

using ms::testing::RawClient;

class HttpServerTest : public ::testing::Test {
 protected:
  void start() {
    server_ = std::make_unique<HttpServer>(limits_);
    server_->set_error_renderer([](int status, const std::string& message, Response& res) {
      res.set_content("{\"error\":\"" + message + "\"}", "application/json");
    });
    server_->set_finisher([](const Request&, Response& res) { res.set_header("X-Finished", "1"); });
    server_->route("GET", "/echo", [](const Request& req, Response& res) {
      res.set_content(req.path + "|" + req.get_param_value("q") + "|" + req.remote_addr, "text/plain");
    });
    server_->route("POST", "/json", [](const Request& req, Response& res) {
      res.set_content("got " + std::to_string(req.body.size()), "text/plain");
    });
    server_->route("GET", "/items/(\\d+)", [](const Request& req, Response& res) {
      res.set_content("item " + req.matches[1].str(), "text/plain");
    });
    server_->route(
        "POST", "/upload",
        [](const Request& req, Response& res) {
          std::string names;
          for (const auto& [k, f] : req.files) names += k + "=" + f.filename + ":" + std::to_string(f.content.size()) + ";";
          res.set_content("body " + std::to_string(req.body.size()) + " parts " + names, "text/plain");
        },
        1 << 20,
        [](const Request& req, Response& res) {
          if (req.get_header_value("X-Ok") == "1") return true;
          res.status = 403;
          res.set_content("refused before the body", "text/plain");
          return false;
        });
    server_->route("GET", "/slow", [](const Request&, Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      res.set_content("slow", "text/plain");
    });
    server_->route("GET", "/throw", [](const Request&, Response&) -> void { throw std::runtime_error("boom"); });
    server_->route("GET", "/big", [](const Request&, Response& res) { res.set_content(std::string(100000, 'z'), "text/plain"); });
    server_->set_fallback([](const Request& req, Response& res) { res.set_content("fallback " + req.path, "text/plain"); });
    ASSERT_TRUE(server_->bind("127.0.0.1", 0));
    port_ = server_->port();
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // A fresh connection's answer to one request.
  RawClient::Reply once(const std::string& request) {
    RawClient c(port_);
    EXPECT_TRUE(c.connected());
    c.send(request);
    return c.read_reply();
  }
  static std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

  ServerLimits limits_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(HttpServerTest, RoutesQueryMatchesFallbackAndFinisher) {
  start();
  auto r = once(get("/echo?q=a%20b"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/echo|a b|127.0.0.1");
  EXPECT_NE(r.head.find("X-Finished: 1"), std::string::npos);
  EXPECT_EQ(once(get("/items/42")).body, "item 42");
  EXPECT_EQ(once(get("/anything/else")).body, "fallback /anything/else");
  r = once("POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.head.find("X-Finished: 1"), std::string::npos);  // the server's own errors too
  r = once("DELETE /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.head.find("Allow: GET"), std::string::npos);
  RawClient head(port_);
  head.send("HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n");
  r = head.read_reply(5000, true);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  head.send(get("/items/3"));  // no body bytes came before the next answer
  EXPECT_EQ(head.read_reply().body, "item 3");
  EXPECT_NE(r.head.find("Content-Length: 100000"), std::string::npos);
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  start();
  RawClient c(port_);
  ASSERT_TRUE(c.send(get("/items/1") + get("/items/2") + "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + get("/items/3")));
  EXPECT_EQ(c.read_reply().body, "item 1");
  EXPECT_EQ(c.read_reply().body, "item 2");
  EXPECT_EQ(c.read_reply().body, "got 3");
  EXPECT_EQ(c.read_reply().body, "item 3");
  ASSERT_TRUE(c.send(get("/items/4")));  // the connection stays open
  EXPECT_EQ(c.read_reply().body, "item 4");
  ASSERT_TRUE(c.send("GET /items/5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(c.read_reply().body, "item 5");
  EXPECT_TRUE(c.closed_within(2000));
}

TEST_F(HttpServerTest, BodyLimitIsCheckedBeforeTheBodyIsRead) {
  limits_.default_body_limit = 1024;
  start();
  RawClient c(port_);
  // Only the head is sent: the answer comes without a byte of the 10 MiB body.
  ASSERT_TRUE(c.send("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 10485760\r\n\r\n"));
  auto r = c.read_reply();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("over the 1024 byte limit of POST /json"), std::string::npos) << r.body;
  EXPECT_TRUE(c.closed_within(2000));
  EXPECT_EQ(once("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'x')).body, "got 1024");
  // The fallback (static files) takes no body at all.
  EXPECT_EQ(once("GET /file HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello").status, 413);
}

TEST_F(HttpServerTest, RefusesFramingsWhoseSizeIsUnknownUpFront) {
  start();
  auto r = once("POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n");
  EXPECT_EQ(r.status, 411);
  r = once("POST /json HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(r.status, 415);
  // No Content-Length means no body (RFC 9112 6.3): the request is answered at once, not read to EOF.
  r = once("POST /json HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "got 0");
}

TEST_F(HttpServerTest, LargeBodyRouteChecksTheCallerFirst) {
  start();
  RawClient refused(port_);
  ASSERT_TRUE(refused.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 900000\r\n\r\n"));
  auto r = refused.read_reply();
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "refused before the body");
  EXPECT_TRUE(refused.closed_within(2000));

  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f.png\"\r\n\r\n" + std::string(800000, 'p') +
      "\r\n--b--\r\n";
  RawClient ok(port_);
  ASSERT_TRUE(ok.send("POST /upload HTTP/1.1\r\nHost: t\r\nX-Ok: 1\r\nExpect: 100-continue\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n"));
  auto cont = ok.read_reply();
  EXPECT_EQ(cont.status, 100);  // "go on" only after the check passed
  ASSERT_TRUE(ok.send(body));
  r = ok.read_reply();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "body 0 parts files=f.png:800000;");
  // A malformed multipart body is a 400 naming the problem, before the handler.
  const std::string bad = "--b\r\nContent-Type: x\r\n\r\ny\r\n--b--";
  r = once("POST /upload HTTP/1.1\r\nHost: t\r\nX-Ok: 1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: " +
           std::to_string(bad.size()) + "\r\n\r\n" + bad);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("part 1"), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, HeadAndBodyDeadlines) {
  limits_.head_timeout_ms = 300;
  limits_.body_timeout_ms = 300;
  limits_.min_body_rate = 1 << 30;
  limits_.idle_timeout_ms = 300;
  start();
  RawClient head(port_);
  ASSERT_TRUE(head.send("GET /echo HTTP/1.1\r\nHost"));
  auto r = head.read_reply(3000);
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(head.closed_within(2000));
  RawClient body(port_);
  ASSERT_TRUE(body.send("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a little"));
  r = body.read_reply(3000);
  EXPECT_EQ(r.status, 408);
  RawClient idle(port_);
  EXPECT_TRUE(idle.closed_within(3000));  // a connection that never sends is closed
}

TEST_F(HttpServerTest, StalledClientsHoldNoHandlerThread) {
  limits_.threads = 2;
  start();
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < 40; ++i) {
    stalled.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(stalled.back()->send(i % 2 ? "GET /echo HTTP/1.1\r\nHo" : "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\nab"));
  }
  // With two handler threads and forty half-sent requests, others are still answered.
  for (int i = 0; i < 20; ++i) {
    auto r = once(get("/items/" + std::to_string(i)));
    ASSERT_EQ(r.status, 200) << "request " << i;
  }
}

TEST_F(HttpServerTest, HeadLimitsAnswerBeforeBufferingMore) {
  limits_.head.max_headers = 50;
  start();
  std::string many = "GET /echo HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 2000; ++i) many += "X-a: b\r\n";
  auto r = once(many + "\r\n");
  EXPECT_EQ(r.status, 431);
  RawClient longline(port_);
  longline.send("GET /" + std::string(20000, 'a'));
  r = longline.read_reply();
  EXPECT_EQ(r.status, 414);
  RawClient longheader(port_);
  longheader.send("GET / HTTP/1.1\r\nX: " + std::string(200000, 'a'));
  r = longheader.read_reply();
  EXPECT_EQ(r.status, 431);
}

TEST_F(HttpServerTest, ExceptionsAreFiveHundredAndTheServerStays) {
  start();
  for (int i = 0; i < 3; ++i) {
    auto r = once(get("/throw"));
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("internal error"), std::string::npos);
  }
  EXPECT_EQ(once(get("/items/7")).body, "item 7");
  EXPECT_EQ(once("POST /%ff HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").status, 400);
  EXPECT_EQ(once(get("/items/8")).body, "item 8");
}

TEST_F(HttpServerTest, RangeHeadersAreIgnored) {
  start();
  std::string range = "bytes=0-";
  for (int i = 0; i < 1000; ++i) range += ",0-";
  auto r = once("GET /big HTTP/1.1\r\nHost: t\r\nRange: " + range + "\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 100000u);  // the representation once, not once per range
}

TEST_F(HttpServerTest, ConnectionAndInFlightBodyCaps) {
  limits_.max_connections = 4;
  limits_.max_inflight_body_bytes = 1000;
  start();
  RawClient first(port_);
  first.send("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 900\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The first body holds 900 of the 1000 in-flight bytes, so the next is told to come back.
  RawClient second(port_);
  second.send("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n\r\n");
  auto r = second.read_reply();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.head.find("Retry-After"), std::string::npos);
  EXPECT_TRUE(second.closed_within(2000));
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawClient>(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RawClient over(port_);  // the fifth open connection
  r = over.read_reply();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("too many open connections"), std::string::npos);
  first.send(std::string(900, 'x'));
  EXPECT_EQ(first.read_reply().body, "got 900");
}

TEST_F(HttpServerTest, SlowHandlersDoNotBlockOtherConnections) {
  limits_.threads = 4;
  start();
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(std::make_unique<RawClient>(port_));
    slow.back()->send(get("/slow"));
  }
  EXPECT_EQ(once(get("/items/9")).body, "item 9");
  for (auto& c : slow) EXPECT_EQ(c->read_reply().body, "slow");
}

TEST_F(HttpServerTest, TrustedProxyNamesTheClient) {
  limits_.trusted_proxy = "127.0.0.1";
  start();
  auto r = once("GET /echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 10.1.1.1, 192.0.2.7\r\n\r\n");
  EXPECT_EQ(r.body, "/echo||192.0.2.7");
}

TEST(HttpServerUntrusted, ForwardedForIsIgnoredFromOtherPeers) {
  ServerLimits limits;
  HttpServer server(limits);
  server.route("GET", "/ip", [](const Request& req, Response& res) { res.set_content(req.remote_addr, "text/plain"); });
  ASSERT_TRUE(server.bind("127.0.0.1", 0));
  std::thread t([&] { server.run(); });
  RawClient c(server.port());
  c.send("GET /ip HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n");
  EXPECT_EQ(c.read_reply().body, "127.0.0.1");
  server.stop();
  t.join();
}

}  // namespace
}  // namespace ms::net
