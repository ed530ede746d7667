#pragma once
// A raw HTTP/1.1 client for tests that must send what no well-behaved client sends: partial
// heads, wrong framing, stalls, pipelined requests. Replies are read as they arrive.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <string>

namespace ms::testing {

// A raw client: whatever bytes a test wants, and the replies as they arrive.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  struct Reply {
    int status = 0;
    std::string head, body;
  };
  // The next whole response (Content-Length framed; `head_only` for a HEAD request), or status
  // 0 when the connection closed or nothing came within `timeout_ms`.
  Reply read_reply(int timeout_ms = 5000, bool head_only = false) {
    Reply r;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      const std::size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        r.head = buf_.substr(0, end + 2);
        std::size_t length = 0;
        const std::size_t cl = lower(r.head).find("content-length:");
        if (cl != std::string::npos && !head_only) length = std::stoul(r.head.substr(cl + 15));
        if (buf_.size() >= end + 4 + length) {
          r.status = std::stoi(r.head.substr(9, 3));
          r.body = buf_.substr(end + 4, length);
          buf_.erase(0, end + 4 + length);
          return r;
        }
      }
      if (!fill(until)) return Reply{};
    }
  }
  // True when the server closed the connection within `timeout_ms`.
  bool closed_within(int timeout_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (fill(until)) {
    }
    return eof_;
  }
  std::string pending() const { return buf_; }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool fill(std::chrono::steady_clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    if (left < 0 || eof_) return false;  // 0: look once without waiting
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false, eof_ = false;
  std::string buf_;
};

}  // namespace ms::testing
