#pragma once
// The lab server's HTTP/1.1 server. One event-loop thread owns every connection (epoll): it
// reads request heads and bodies under limits and deadlines and writes responses; a fixed pool
// of threads runs only complete requests. An idle, slow or stalled client therefore holds a
// connection slot and its bounded buffers, never a pool thread, and memory per request is
// bounded before anything reaches a handler:
//  - head: request-line, header-line, header-count and head-size limits (414/431), a deadline
//    for the whole head from its first byte (408);
//  - body: Content-Length framing only (Transfer-Encoding 411, Content-Encoding 415), a limit per
//    route checked before a byte of the body is read (413), a deadline that allows a minimum
//    rate (408), and a budget for all bodies in flight at once (503);
//  - routes with a large body limit run a check (authentication) before the body is read;
//  - Range headers are ignored (every answer is one whole representation), so no reply is
//    larger than what the handler produced.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "net/http_parse.h"
#include "net/message.h"

namespace ms::net {

struct ServerLimits {
  HeadLimits head;
  MultipartLimits multipart;
  std::size_t default_body_limit = 256 << 10;       // routes that name no limit
  std::size_t max_inflight_body_bytes = 1ull << 30;  // all bodies being read or handled at once
  int threads = 32;                // handler threads
  int max_connections = 1000;      // open connections; more are answered 503 and closed
  int head_timeout_ms = 10000;     // from a request's first byte to the end of its head
  int idle_timeout_ms = 5000;      // a kept-alive connection waiting for its next request
  int body_timeout_ms = 30000;     // base time for a body ...
  std::size_t min_body_rate = 64 << 10;  // ... plus its size at this many bytes per second
  int write_timeout_ms = 30000;    // base time for a response, plus its size at min_body_rate
  int max_requests_per_connection = 1000;
  std::string trusted_proxy;  // peer address whose X-Forwarded-For names the client
};

using Handler = std::function<void(const Request&, Response&)>;
// Runs on a pool thread after the head and before a large body is read; false refuses the
// request with what it wrote into the Response (the body is then never read).
using PreBodyCheck = std::function<bool(const Request&, Response&)>;
// Writes the server's own error replies (400, 404, 405, 408, 411, 413, 414, 415, 417, 431, 500,
// 503, 505) in the application's error format.
using ErrorRenderer = std::function<void(int status, const std::string& message, Response&)>;

class HttpServer {
 public:
  explicit HttpServer(ServerLimits limits);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `pattern` is an ECMAScript regex over the whole decoded path; its groups are Request::matches.
  // body_limit 0 takes ServerLimits::default_body_limit. HEAD is served by GET routes.
  void route(const std::string& method, const std::string& pattern, Handler handler,
             std::size_t body_limit = 0, PreBodyCheck check = {});
  // GET/HEAD requests that no route matches (the web app's files).
  void set_fallback(Handler handler);
  void set_error_renderer(ErrorRenderer renderer);
  // Runs on every response, the server's own errors included (security headers).
  void set_finisher(std::function<void(const Request&, Response&)> finisher);

  // Binds `host`:`port` (0: any free port). False when the address cannot be bound.
  bool bind(const std::string& host, int port);
  int port() const;
  // Serves until stop(); call from one thread.
  void run();
  // Thread-safe; run() returns after in-flight handlers finished.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "Not Found" for 404 and so on; "" for an unknown status.
const char* reason_phrase(int status);

}  // namespace ms::net
