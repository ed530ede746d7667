#include "net/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace ms::net {

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "";
  }
}

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr std::uint64_t kListenId = 0, kWakeId = 1;
// Lingering close: how long, and how many bytes, a refused request's remaining bytes are read
// and discarded before the connection closes.
constexpr std::int64_t kLingerMs = 5000;
constexpr std::size_t kLingerBytes = 1ull << 30;

struct Route {
  std::string method;
  std::regex re;
  Handler handler;
  std::size_t body_limit = 0;
  PreBodyCheck check;
};

// Header values a handler set must not break the response framing.
std::string without_line_breaks(const std::string& s) {
  std::string out = s;
  for (auto& c : out)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return out;
}

std::string serialize(const Response& res, bool head_only, bool close) {
  const bool bodiless = res.status == 204 || res.status == 304 || (res.status >= 100 && res.status < 200);
  std::string out;
  out.reserve(256 + (head_only || bodiless ? 0 : res.body.size()));
  out += "HTTP/1.1 " + std::to_string(res.status) + " " + reason_phrase(res.status) + "\r\n";
  for (const auto& [k, v] : res.headers) {
    if (k.empty()) continue;
    const CaseInsensitiveLess less;
    auto same = [&](const char* name) { return !less(k, name) && !less(name, k); };
    if (same("Content-Length") || same("Connection") || same("Transfer-Encoding")) continue;
    out += without_line_breaks(k) + ": " + without_line_breaks(v) + "\r\n";
  }
  if (!bodiless) out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  out += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  if (!head_only && !bodiless) out += res.body;
  return out;
}

std::string peer_address(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
      in_addr v4;
      std::memcpy(&v4, &a6.sin6_addr.s6_addr[12], 4);
      inet_ntop(AF_INET, &v4, buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a6.sin6_addr, buf, sizeof buf);
    }
  }
  return buf;
}

}  // namespace

struct HttpServer::Impl {
  // kDrain: the answer is out and the connection will close, but the client may still be
  // sending a body that was refused unread; reading and discarding it for a while ("lingering
  // close") lets the client see the answer instead of a reset. Nothing read there is kept.
  enum class State { kHead, kBody, kBusy, kWrite, kDrain };
  struct Conn {
    int fd = -1;
    std::string peer;
    State state = State::kHead;
    std::string in;            // received bytes not consumed yet
    std::size_t scanned = 0;   // bytes of `in` searched for the end of the head
    bool idle = true;          // kHead with no byte of the next request yet
    bool eof = false;          // the peer closed its side
    bool dead = false;         // the socket failed while a handler ran: close when it returns
    std::shared_ptr<Request> req;
    const Route* route = nullptr;
    std::size_t body_len = 0;
    std::size_t reserved = 0;  // bytes of the in-flight body budget this request holds
    bool head_only = false, close_after = false, pending_continue = false;
    std::string out;
    std::size_t out_off = 0;
    std::int64_t deadline = 0;
    std::size_t drained = 0;  // kDrain: bytes discarded
    int served = 0;
    std::uint32_t events = 0;
  };
  struct Job {
    std::uint64_t id = 0;
    std::shared_ptr<Request> req;
    const Route* route = nullptr;  // null: the fallback
    bool precheck = false, head_only = false, close = false;
    std::size_t reserved = 0;      // released by the pool thread once the handler returned
  };
  struct Done {
    std::uint64_t id = 0;
    std::string out;
    bool close = false;
    bool precheck = false, passed = false;
    std::shared_ptr<Request> req;  // a passed check hands the request back
  };

  ServerLimits limits;
  std::deque<Route> routes;  // a deque: jobs keep pointers to routes
  Handler fallback;
  ErrorRenderer renderer;
  std::function<void(const Request&, Response&)> finisher;
  int listen_fd = -1, epoll_fd = -1, wake_fd = -1, bound_port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> inflight{0};

  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::deque<Job> jobs;
  bool pool_stop = false;
  std::vector<std::thread> threads;
  std::mutex done_mu;
  std::vector<Done> done;

  std::unordered_map<std::uint64_t, Conn> conns;
  std::vector<std::uint64_t> ready;  // connections with a pipelined request in `in`
  std::uint64_t next_id = 2;

  explicit Impl(ServerLimits l) : limits(std::move(l)) {
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
  }
  ~Impl() {
    for (auto& [id, c] : conns) ::close(c.fd);
    if (listen_fd >= 0) ::close(listen_fd);
    if (wake_fd >= 0) ::close(wake_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  void set_events(std::uint64_t id, Conn& c, std::uint32_t events) {
    if (c.dead || c.events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = events;
  }

  void close_conn(std::uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Conn& c = it->second;
    if (!c.dead) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    inflight -= c.reserved;
    conns.erase(it);
  }

  Response error_response(int status, const std::string& message) const {
    Response res;
    res.status = status;
    try {
      if (renderer) renderer(status, message, res);
    } catch (...) {
      res.body.clear();
    }
    if (res.body.empty()) res.set_content("{\"error\":{\"code\":\"internal\",\"message\":\"HTTP error\"}}", "application/json");
    return res;
  }

  void finish(const Request& req, Response& res) const {
    try {
      if (finisher) finisher(req, res);
    } catch (...) {
    }
  }

  // Answers from the loop thread (limits, framing, routing) and closes afterwards when asked.
  void respond_error(std::uint64_t id, Conn& c, int status, const std::string& message, bool close,
                     const Request* req = nullptr) {
    Response res = error_response(status, message);
    if (status == 503) res.set_header("Retry-After", "5");
    finish(req ? *req : Request{}, res);
    start_write(id, c, serialize(res, c.head_only, close), close);
  }

  void start_write(std::uint64_t id, Conn& c, std::string out, bool close) {
    c.state = State::kWrite;
    c.out = std::move(out);
    c.out_off = 0;
    c.close_after = close;
    c.deadline = now_ms() + limits.write_timeout_ms +
                 static_cast<std::int64_t>(c.out.size() * 1000 / std::max<std::size_t>(1, limits.min_body_rate));
    flush(id, c);
  }

  void flush(std::uint64_t id, Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_events(id, c, EPOLLOUT);
        return;
      }
      close_conn(id);
      return;
    }
    // The whole response is out.
    if (c.eof) {
      close_conn(id);
      return;
    }
    if (c.close_after) {
      ::shutdown(c.fd, SHUT_WR);
      c.state = State::kDrain;
      c.in.clear();
      c.out.clear();
      c.drained = 0;
      c.deadline = now_ms() + kLingerMs;
      set_events(id, c, EPOLLIN);
      return;
    }
    c.out.clear();
    c.out.shrink_to_fit();
    c.state = State::kHead;
    c.idle = true;
    c.head_only = false;
    c.deadline = now_ms() + limits.idle_timeout_ms;
    set_events(id, c, EPOLLIN);
    if (!c.in.empty()) ready.push_back(id);
  }

  void accept_all() {
    while (true) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN, or out of descriptors: the rest wait in the backlog
      }
      if (static_cast<int>(conns.size()) >= limits.max_connections) {
        static const std::string kBusy = [] {
          const std::string body = "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many open connections; retry\"}}";
          return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\n"
                 "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        }();
        [[maybe_unused]] ssize_t n = ::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL);
        ::close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const std::uint64_t id = next_id++;
      Conn& c = conns[id];
      c.fd = fd;
      c.peer = peer_address(ss);
      c.deadline = now_ms() + limits.idle_timeout_ms;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
      c.events = EPOLLIN;
    }
  }

  void on_readable(std::uint64_t id, Conn& c) {
    if (c.state == State::kDrain) {
      char buf[65536];
      while (true) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.drained += static_cast<std::size_t>(n);
          if (c.drained > kLingerBytes) break;
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        break;
      }
      close_conn(id);
      return;
    }
    if (c.state == State::kHead) {
      char buf[16384];
      // Never hold more than one head's worth: the parser refuses a longer head anyway.
      while (c.in.size() <= limits.head.max_head_bytes) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          if (c.idle) {
            c.idle = false;
            c.deadline = now_ms() + limits.head_timeout_ms;
          }
          c.in.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0) c.eof = true;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN && errno != EWOULDBLOCK) c.eof = true;
        break;
      }
      const bool eof = c.eof;
      process_head(id, c);  // may close the connection: look it up again
      if (eof) {
        auto it = conns.find(id);
        if (it != conns.end() && (it->second.state == State::kHead || it->second.state == State::kBody)) close_conn(id);
      }
      return;
    }
    if (c.state == State::kBody) {
      Request& req = *c.req;
      while (req.body.size() < c.body_len) {
        const std::size_t want = std::min<std::size_t>(c.body_len - req.body.size(), 1 << 20);
        const std::size_t old = req.body.size();
        req.body.resize(old + want);
        const ssize_t n = ::recv(c.fd, req.body.data() + old, want, 0);
        if (n > 0) {
          req.body.resize(old + static_cast<std::size_t>(n));
          continue;
        }
        req.body.resize(old);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close_conn(id);  // the peer left before the body was complete
        return;
      }
      dispatch(id, c);
    }
  }

  void process_head(std::uint64_t id, Conn& c) {
    if (c.state != State::kHead || c.in.empty()) return;
    c.idle = false;
    // Parse only when the head's end arrived or a limit is already broken, so a head that
    // trickles in byte by byte is scanned once, not once per byte.
    const std::size_t from = c.scanned >= 3 ? c.scanned - 3 : 0;
    const bool complete = c.in.find("\r\n\r\n", from) != std::string::npos;
    const bool first_line = c.in.find("\r\n") != std::string::npos;
    if (!complete && c.in.size() <= limits.head.max_head_bytes &&
        (first_line || c.in.size() <= limits.head.max_request_line)) {
      c.scanned = c.in.size();
      return;
    }
    auto req = std::make_shared<Request>();
    const HeadResult head = parse_request_head(c.in, limits.head, *req);
    if (head.kind == HeadResult::kIncomplete) {
      c.scanned = c.in.size();
      return;
    }
    if (head.kind == HeadResult::kError) {
      c.in.clear();
      respond_error(id, c, head.status, head.message, true);
      return;
    }
    c.in.erase(0, head.head_bytes);
    c.scanned = 0;
    req->remote_addr = c.peer;
    if (!limits.trusted_proxy.empty() && c.peer == limits.trusted_proxy) {
      const std::string xff = req->get_header_value("X-Forwarded-For");
      const std::size_t comma = xff.rfind(',');
      std::string client = xff.substr(comma == std::string::npos ? 0 : comma + 1);
      while (!client.empty() && client.front() == ' ') client.erase(0, 1);
      while (!client.empty() && client.back() == ' ') client.pop_back();
      if (!client.empty() && client.size() <= 64) req->remote_addr = client;
    }
    c.head_only = req->method == "HEAD";
    const std::string connection = req->get_header_value("Connection");
    auto has_token = [&](const char* t) {
      std::string v = connection;
      for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return v.find(t) != std::string::npos;
    };
    bool close = has_token("close") || (req->version == "HTTP/1.0" && !has_token("keep-alive")) ||
                 c.served + 1 >= limits.max_requests_per_connection;
    ++c.served;

    const BodyFraming framing = body_framing(*req);
    if (framing.status != 0) {
      c.in.clear();
      respond_error(id, c, framing.status, framing.message, true, req.get());
      return;
    }
    // Route: HEAD is served by GET routes.
    const std::string method = c.head_only ? "GET" : req->method;
    const Route* route = nullptr;
    std::string allowed;
    if (req->path.size() <= 2048) {
      for (const auto& r : routes) {
        if (!std::regex_match(req->path, r.re)) continue;
        if (r.method == method) {
          route = &r;
          break;
        }
        if (allowed.find(r.method) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + r.method;
      }
    }
    const bool body_follows = framing.content_length > c.in.size();
    if (!route && !(method == "GET" && fallback)) {
      // The unread body of a refused request must not be taken for the next request.
      if (body_follows) c.in.clear();
      else c.in.erase(0, framing.content_length);
      if (!allowed.empty()) {
        Response res = error_response(405, "method " + req->method + " is not allowed on " + req->path + " (allowed: " + allowed + ")");
        res.set_header("Allow", allowed);
        finish(*req, res);
        start_write(id, c, serialize(res, c.head_only, close || body_follows), close || body_follows);
      } else {
        respond_error(id, c, 404, "no route for " + req->method + " " + req->path, close || body_follows, req.get());
      }
      return;
    }
    const std::size_t limit = route && route->body_limit ? route->body_limit : limits.default_body_limit;
    if (framing.content_length > (route ? limit : 0)) {
      c.in.clear();
      respond_error(id, c, 413,
                    "request body of " + std::to_string(framing.content_length) + " bytes is over the " +
                        std::to_string(route ? limit : 0) + " byte limit of " + req->method + " " + req->path,
                    true, req.get());
      return;
    }
    if (framing.content_length > 0) {
      if (inflight + framing.content_length > limits.max_inflight_body_bytes) {
        c.in.clear();
        respond_error(id, c, 503, "the server is receiving too many large requests; retry shortly", true, req.get());
        return;
      }
      inflight += framing.content_length;
      c.reserved = framing.content_length;
    }
    c.req = std::move(req);
    c.route = route;
    c.body_len = framing.content_length;
    c.close_after = close;
    if (route && route->check && c.body_len > c.in.size() && c.body_len > limits.default_body_limit) {
      // Check the caller before spending memory and time on a large body.
      c.state = State::kBusy;
      set_events(id, c, 0);
      Job job;
      job.id = id;
      job.req = c.req;
      job.route = route;
      job.precheck = true;
      submit(std::move(job));
      c.pending_continue = framing.expect_continue;
      return;
    }
    c.pending_continue = framing.expect_continue;
    begin_body(id, c);
  }

  void begin_body(std::uint64_t id, Conn& c) {
    Request& req = *c.req;
    if (c.body_len > 0) {
      req.body.reserve(c.body_len);
      const std::size_t take = std::min(c.in.size(), c.body_len);
      req.body.assign(c.in, 0, take);
      c.in.erase(0, take);
    }
    if (req.body.size() >= c.body_len) {
      dispatch(id, c);
      return;
    }
    if (c.pending_continue) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      [[maybe_unused]] ssize_t n = ::send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL);
    }
    c.state = State::kBody;
    c.deadline = now_ms() + limits.body_timeout_ms +
                 static_cast<std::int64_t>(c.body_len * 1000 / std::max<std::size_t>(1, limits.min_body_rate));
    set_events(id, c, EPOLLIN);
  }

  void dispatch(std::uint64_t id, Conn& c) {
    c.state = State::kBusy;
    set_events(id, c, 0);
    Job job;
    job.id = id;
    job.req = std::move(c.req);
    job.route = c.route;
    job.head_only = c.head_only;
    job.close = c.close_after;
    job.reserved = c.reserved;  // the handler's thread releases it
    c.reserved = 0;
    submit(std::move(job));
  }

  void submit(Job job) {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      jobs.push_back(std::move(job));
    }
    pool_cv.notify_one();
  }

  void run_job(Job& job) {
    Done d;
    d.id = job.id;
    d.close = job.close;
    Request& req = *job.req;
    Response res;
    try {
      if (job.route) std::regex_match(req.path, req.matches, job.route->re);
      if (job.precheck) {
        d.precheck = true;
        d.passed = job.route->check(req, res);
        if (d.passed) {
          d.req = std::move(job.req);
        } else {
          finish(req, res);
          d.close = true;  // the body was never read
          d.out = serialize(res, false, true);
        }
        push_done(std::move(d));
        return;
      }
      bool parsed = true;
      if (req.is_multipart_form_data()) {
        const std::string boundary = multipart_boundary(req.get_header_value("Content-Type"));
        MultipartResult mp;
        if (boundary.empty()) mp.message = "multipart/form-data without a valid boundary parameter";
        else mp = parse_multipart(req.body, boundary, limits.multipart, req.files);
        if (!mp.ok) {
          res = error_response(400, "malformed multipart body: " + mp.message);
          parsed = false;
        } else {
          std::string().swap(req.body);  // the parts hold the bytes now
        }
      }
      if (parsed) {
        if (job.route) job.route->handler(req, res);
        else fallback(req, res);
      }
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unhandled exception: {}", req.method, req.target.substr(0, 200), e.what());
      res = error_response(500, "internal error");
    } catch (...) {
      spdlog::error("{} {}: unhandled exception", req.method, req.target.substr(0, 200));
      res = error_response(500, "internal error");
    }
    finish(req, res);
    try {
      d.out = serialize(res, job.head_only, d.close);
    } catch (...) {  // out of memory for the reply
      d.close = true;
      d.out = serialize(error_response(500, "internal error"), job.head_only, true);
    }
    job.req.reset();
    inflight -= job.reserved;
    push_done(std::move(d));
  }

  void push_done(Done d) {
    {
      std::lock_guard<std::mutex> lock(done_mu);
      done.push_back(std::move(d));
    }
    wake();
  }

  void pool_loop() {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(pool_mu);
        pool_cv.wait(lock, [&] { return pool_stop || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      run_job(job);
    }
  }

  void collect_done() {
    std::vector<Done> batch;
    {
      std::lock_guard<std::mutex> lock(done_mu);
      batch.swap(done);
    }
    for (auto& d : batch) {
      auto it = conns.find(d.id);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (c.dead) {
        close_conn(d.id);
        continue;
      }
      if (d.precheck && d.passed) {
        c.req = std::move(d.req);
        begin_body(d.id, c);
        continue;
      }
      if (d.precheck) {  // refused before its body: the reservation goes back now
        inflight -= c.reserved;
        c.reserved = 0;
        c.in.clear();
      }
      start_write(d.id, c, std::move(d.out), d.close);
    }
  }

  void sweep() {
    const std::int64_t now = now_ms();
    std::vector<std::uint64_t> expired;
    for (auto& [id, c] : conns)
      if (c.state != State::kBusy && now > c.deadline) expired.push_back(id);
    for (auto id : expired) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (c.state == State::kHead && !c.idle) {
        c.in.clear();
        respond_error(id, c, 408, "request head not received in time", true);
      } else if (c.state == State::kBody) {
        c.req.reset();
        respond_error(id, c, 408, "request body not received in time", true);
      } else {
        close_conn(id);
      }
    }
  }

  void loop() {
    std::vector<epoll_event> events(256);
    std::int64_t last_sweep = now_ms();
    while (!stopping) {
      const int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 100);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t id = events[i].data.u64;
        const std::uint32_t ev = events[i].events;
        if (id == kListenId) {
          accept_all();
          continue;
        }
        if (id == kWakeId) {
          std::uint64_t v;
          while (::read(wake_fd, &v, sizeof v) > 0) {
          }
          collect_done();
          continue;
        }
        auto it = conns.find(id);
        if (it == conns.end()) continue;
        Conn& c = it->second;
        if (c.state == State::kBusy) {
          if (ev & (EPOLLERR | EPOLLHUP)) {  // stop watching; close once the handler returns
            epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
            c.dead = true;
          }
          continue;
        }
        if ((ev & EPOLLERR) || ((ev & EPOLLHUP) && !(ev & EPOLLIN))) {
          close_conn(id);
          continue;
        }
        if (ev & EPOLLOUT) {
          if (c.state == State::kWrite) flush(id, c);
          continue;
        }
        if (ev & (EPOLLIN | EPOLLHUP)) on_readable(id, c);
      }
      // Pipelined requests already in a buffer.
      while (!ready.empty()) {
        std::vector<std::uint64_t> now_ready;
        now_ready.swap(ready);
        for (auto id : now_ready) {
          auto it = conns.find(id);
          if (it != conns.end() && it->second.state == State::kHead) process_head(id, it->second);
        }
      }
      const std::int64_t now = now_ms();
      if (now - last_sweep >= 200) {
        sweep();
        last_sweep = now;
      }
    }
  }
};

HttpServer::HttpServer(ServerLimits limits) : impl_(std::make_unique<Impl>(std::move(limits))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& method, const std::string& pattern, Handler handler,
                       std::size_t body_limit, PreBodyCheck check) {
  Route r;
  r.method = method;
  r.re = std::regex(pattern);
  r.handler = std::move(handler);
  r.body_limit = body_limit;
  r.check = std::move(check);
  impl_->routes.push_back(std::move(r));
}

void HttpServer::set_fallback(Handler handler) { impl_->fallback = std::move(handler); }
void HttpServer::set_error_renderer(ErrorRenderer renderer) { impl_->renderer = std::move(renderer); }
void HttpServer::set_finisher(std::function<void(const Request&, Response&)> finisher) {
  impl_->finisher = std::move(finisher);
}

bool HttpServer::bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints, &list) != 0) return false;
  int fd = -1;
  for (addrinfo* a = list; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) break;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(list);
  if (fd < 0) return false;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  impl_->bound_port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                                     : reinterpret_cast<sockaddr_in&>(ss).sin_port);
  impl_->listen_fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  return true;
}

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::run() {
  Impl& m = *impl_;
  // A peer that went away must never end the process: this server's own writes pass
  // MSG_NOSIGNAL, but a write elsewhere in a server process (a client library, libpq) may not.
  std::signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < std::max(1, m.limits.threads); ++i) m.threads.emplace_back([&m] { m.pool_loop(); });
  m.loop();
  {
    std::lock_guard<std::mutex> lock(m.pool_mu);
    m.pool_stop = true;
  }
  m.pool_cv.notify_all();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  std::vector<std::uint64_t> ids;
  for (auto& [id, c] : m.conns) ids.push_back(id);
  for (auto id : ids) m.close_conn(id);
}

void HttpServer::stop() {
  impl_->stopping = true;
  impl_->wake();
}

}  // namespace ms::net
