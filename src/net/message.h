#pragma once
// HTTP/1.1 request and response as the lab server's handlers see them. The server in
// net/http_server.h fills a Request only after the whole request passed its limits (head size,
// header count, body size for the route, deadline), so a handler never sees an unbounded input.
#include <cstddef>
#include <map>
#include <regex>
#include <string>
#include <utility>

namespace ms::net {

// Header names compare case-insensitively (RFC 9110 5.1).
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;
using Params = std::multimap<std::string, std::string>;

// One part of a multipart/form-data body.
struct MultipartFormData {
  std::string name;          // the form field
  std::string content;       // the part's bytes
  std::string filename;      // empty for a plain field
  std::string content_type;  // as sent; empty when the part named none
};
using MultipartFormDataMap = std::multimap<std::string, MultipartFormData>;

struct Request {
  std::string method;       // "GET", "POST", ... (upper case, as sent)
  std::string target;       // the request target as sent (path and query, percent-encoded)
  std::string path;         // percent-decoded path, without the query
  std::string version;      // "HTTP/1.1" or "HTTP/1.0"
  Headers headers;
  Params params;            // percent-decoded query parameters
  std::string body;
  MultipartFormDataMap files;  // parsed parts when the body is multipart/form-data
  std::smatch matches;         // the route pattern's groups over `path`
  std::string remote_addr;     // the peer's address (see ServerOptions::trusted_proxy)

  bool has_header(const std::string& name) const { return headers.count(name) > 0; }
  // The first value of `name`, or "" when absent.
  std::string get_header_value(const std::string& name) const;
  bool has_param(const std::string& name) const { return params.count(name) > 0; }
  std::string get_param_value(const std::string& name) const;
  bool is_multipart_form_data() const;
  bool has_file(const std::string& name) const { return files.count(name) > 0; }
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  void set_header(const std::string& name, const std::string& value);
  std::string get_header_value(const std::string& name) const;
  void set_content(std::string content, const std::string& content_type);
};

}  // namespace ms::net
