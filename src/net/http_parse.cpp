#include "net/http_parse.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace ms::net {
namespace {

// RFC 9110 5.6.2 token characters.
bool is_tchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Field values: HTAB, SP, visible ASCII and obs-text; no other control characters.
bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

HeadResult head_error(int status, std::string message) {
  HeadResult r;
  r.kind = HeadResult::kError;
  r.status = status;
  r.message = std::move(message);
  return r;
}

std::string shown(std::string_view s, std::size_t max = 60) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out += static_cast<char>(c);
    else out += '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + static_cast<std::size_t>(n) >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool decode_query_component(std::string_view in, std::string& out) {
  std::string spaced(in);
  std::replace(spaced.begin(), spaced.end(), '+', ' ');
  return percent_decode(spaced, out);
}

bool parse_query(std::string_view query, Params& params, std::size_t max_params) {
  std::size_t count = 0;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    if (++count > max_params) return false;
    const std::size_t eq = pair.find('=');
    std::string key, value;
    if (!decode_query_component(pair.substr(0, eq), key)) return false;
    if (eq != std::string_view::npos && !decode_query_component(pair.substr(eq + 1), value)) return false;
    params.emplace(std::move(key), std::move(value));
  }
  return true;
}

HeadResult parse_request_head(std::string_view buf, const HeadLimits& limits, Request& req) {
  // Request line.
  const std::size_t line_end = buf.find("\r\n");
  if (line_end == std::string_view::npos) {
    if (buf.size() > limits.max_request_line)
      return head_error(414, "request line is longer than " + std::to_string(limits.max_request_line) + " bytes");
    return {};
  }
  if (line_end > limits.max_request_line)
    return head_error(414, "request line is longer than " + std::to_string(limits.max_request_line) + " bytes");
  const std::string_view line = buf.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return head_error(400, "malformed request line (expected METHOD TARGET HTTP/1.1)");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return head_error(400, "malformed request method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && std::isdigit(static_cast<unsigned char>(version[5])) &&
        version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])))
      return head_error(505, "HTTP version " + shown(version) + " is not supported (use HTTP/1.1)");
    return head_error(400, "malformed HTTP version");
  }
  if (target.empty() || target.front() != '/')
    return head_error(400, "request target must be a path starting with '/'");
  for (unsigned char c : target)
    if (c <= 0x20 || c >= 0x7f) return head_error(400, "request target holds a byte that must be percent-encoded");
  const std::size_t qpos = target.find('?');
  std::string path;
  if (!percent_decode(target.substr(0, qpos), path)) return head_error(400, "malformed percent-escape in the request path");
  if (path.find('\0') != std::string::npos) return head_error(400, "request path holds a NUL byte");
  if (!is_valid_utf8(path)) return head_error(400, "request path is not valid UTF-8");
  Params params;
  if (qpos != std::string_view::npos && !parse_query(target.substr(qpos + 1), params))
    return head_error(400, "malformed query string (bad percent-escape or more than 256 parameters)");

  // Header fields.
  Headers headers;
  std::size_t pos = line_end + 2, count = 0;
  while (true) {
    if (pos > limits.max_head_bytes)
      return head_error(431, "request head is larger than " + std::to_string(limits.max_head_bytes) + " bytes");
    const std::size_t end = buf.find("\r\n", pos);
    if (end == std::string_view::npos) {
      if (buf.size() - pos > limits.max_header_line)
        return head_error(431, "a header line is longer than " + std::to_string(limits.max_header_line) + " bytes");
      if (buf.size() > limits.max_head_bytes)
        return head_error(431, "request head is larger than " + std::to_string(limits.max_head_bytes) + " bytes");
      return {};
    }
    if (end == pos) {  // the blank line that ends the head
      pos = end + 2;
      break;
    }
    if (end - pos > limits.max_header_line)
      return head_error(431, "a header line is longer than " + std::to_string(limits.max_header_line) + " bytes");
    if (++count > limits.max_headers)
      return head_error(431, "more than " + std::to_string(limits.max_headers) + " header fields");
    const std::string_view field = buf.substr(pos, end - pos);
    if (field.front() == ' ' || field.front() == '\t')
      return head_error(400, "obsolete header line folding is not accepted");
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon)))
      return head_error(400, "malformed header field '" + shown(field.substr(0, colon)) + "'");
    const std::string_view value = trim_ows(field.substr(colon + 1));
    if (!is_field_value(value))
      return head_error(400, "header '" + shown(field.substr(0, colon)) + "' holds a control character");
    headers.emplace(std::string(field.substr(0, colon)), std::string(value));
    pos = end + 2;
  }
  if (pos > limits.max_head_bytes)
    return head_error(431, "request head is larger than " + std::to_string(limits.max_head_bytes) + " bytes");
  const std::size_t hosts = headers.count("Host");
  if (hosts > 1) return head_error(400, "more than one Host header");
  if (version == "HTTP/1.1" && hosts == 0) return head_error(400, "Host header missing (required by HTTP/1.1)");

  req.method = std::string(method);
  req.target = std::string(target);
  req.path = std::move(path);
  req.version = std::string(version);
  req.headers = std::move(headers);
  req.params = std::move(params);
  HeadResult ok;
  ok.kind = HeadResult::kComplete;
  ok.head_bytes = pos;
  return ok;
}

BodyFraming body_framing(const Request& req) {
  BodyFraming f;
  if (req.has_header("Transfer-Encoding")) {
    f.status = 411;
    f.message = "Transfer-Encoding is not accepted: send the body with a Content-Length";
    return f;
  }
  for (auto [it, end] = req.headers.equal_range("Content-Encoding"); it != end; ++it) {
    const std::string v = lower(trim_ows(it->second));
    if (v != "identity") {
      f.status = 415;
      f.message = "Content-Encoding '" + shown(it->second) + "' is not accepted: send the body uncompressed";
      return f;
    }
  }
  bool seen = false;
  std::string length;
  for (auto [it, end] = req.headers.equal_range("Content-Length"); it != end; ++it) {
    std::string_view rest = it->second;
    while (true) {  // a list "5, 5" is one value repeated (RFC 9110 8.6)
      const std::size_t comma = rest.find(',');
      const std::string_view one = trim_ows(rest.substr(0, comma));
      if (one.empty() || one.size() > 15 || !std::all_of(one.begin(), one.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        f.status = 400;
        f.message = "malformed Content-Length '" + shown(it->second) + "'";
        return f;
      }
      if (seen && one != length) {
        f.status = 400;
        f.message = "conflicting Content-Length values";
        return f;
      }
      seen = true;
      length = std::string(one);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (seen) f.content_length = static_cast<std::size_t>(std::stoull(length));
  const std::string expect = lower(trim_ows(req.get_header_value("Expect")));
  if (!expect.empty()) {
    if (expect != "100-continue") {
      f.status = 417;
      f.message = "Expect '" + shown(expect) + "' is not supported";
      return f;
    }
    f.expect_continue = true;
  }
  return f;
}

std::string multipart_boundary(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  if (lower(trim_ows(content_type.substr(0, semi))) != "multipart/form-data") return {};
  std::string_view rest = semi == std::string_view::npos ? std::string_view() : content_type.substr(semi + 1);
  while (!rest.empty()) {
    rest = trim_ows(rest);
    const std::size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return {};
    const std::string name = lower(trim_ows(rest.substr(0, eq)));
    rest = rest.substr(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      const std::size_t close = rest.find('"', 1);
      if (close == std::string_view::npos) return {};
      value = std::string(rest.substr(1, close - 1));
      rest = rest.substr(close + 1);
      const std::size_t next = rest.find(';');
      rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    } else {
      const std::size_t next = rest.find(';');
      value = std::string(trim_ows(rest.substr(0, next)));
      rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    }
    if (name != "boundary") continue;
    // RFC 2046 5.1.1: 1-70 characters from bchars, not ending in a space.
    if (value.empty() || value.size() > 70 || value.back() == ' ') return {};
    for (unsigned char c : value)
      if (!(std::isalnum(c) || std::string_view("'()+_,-./:=? ").find(static_cast<char>(c)) != std::string_view::npos))
        return {};
    return value;
  }
  return {};
}

namespace {

// Parameters of a Content-Disposition value: form-data; name="x"; filename="y".
bool parse_disposition(std::string_view value, std::string& name, std::string& filename, bool& has_name) {
  const std::size_t semi = value.find(';');
  if (lower(trim_ows(value.substr(0, semi))) != "form-data") return false;
  std::string_view rest = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
  while (!rest.empty()) {
    rest = trim_ows(rest);
    if (rest.empty()) break;
    const std::size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string key = lower(trim_ows(rest.substr(0, eq)));
    rest = trim_ows(rest.substr(eq + 1));
    std::string v;
    if (!rest.empty() && rest.front() == '"') {
      std::size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        v += rest[i];
      }
      if (i >= rest.size()) return false;  // unterminated quoted string
      rest = rest.substr(i + 1);
    } else {
      const std::size_t next = rest.find(';');
      v = std::string(trim_ows(rest.substr(0, next)));
      rest = rest.substr(next == std::string_view::npos ? rest.size() : next);
    }
    rest = trim_ows(rest);
    if (!rest.empty()) {
      if (rest.front() != ';') return false;
      rest.remove_prefix(1);
    }
    if (key == "name") {
      name = std::move(v);
      has_name = true;
    } else if (key == "filename") {
      filename = std::move(v);
    }
  }
  return true;
}

MultipartResult multipart_error(std::size_t part, const std::string& what) {
  MultipartResult r;
  r.message = part == 0 ? what : "part " + std::to_string(part) + ": " + what;
  return r;
}

}  // namespace

MultipartResult parse_multipart(std::string_view body, std::string_view boundary,
                                const MultipartLimits& limits, MultipartFormDataMap& files) {
  if (boundary.empty()) return multipart_error(0, "no multipart boundary");
  const std::string dash = "--" + std::string(boundary);
  const std::string delimiter = "\r\n" + dash;
  // The first delimiter may follow a preamble, which is ignored.
  std::size_t pos;
  if (body.substr(0, dash.size()) == dash) {
    pos = dash.size();
  } else {
    const std::size_t first = body.find(delimiter);
    if (first == std::string_view::npos) return multipart_error(0, "body holds no part delimited by the boundary");
    pos = first + delimiter.size();
  }
  std::size_t part = 0;
  while (true) {
    if (body.substr(pos, 2) == "--") return MultipartResult{true, {}};  // the close delimiter
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;  // transport padding
    if (body.substr(pos, 2) != "\r\n") return multipart_error(part + 1, "delimiter line does not end with CRLF");
    pos += 2;
    if (++part > limits.max_parts)
      return multipart_error(0, "more than " + std::to_string(limits.max_parts) + " parts");
    const std::size_t head_end = body.find("\r\n\r\n", pos);
    const bool no_headers = body.substr(pos, 2) == "\r\n";
    if (!no_headers && (head_end == std::string_view::npos || head_end - pos > limits.max_part_head_bytes))
      return multipart_error(part, "part headers missing or longer than " + std::to_string(limits.max_part_head_bytes) + " bytes");
    const std::string_view head = no_headers ? std::string_view() : body.substr(pos, head_end - pos);
    pos = no_headers ? pos + 2 : head_end + 4;
    MultipartFormData data;
    bool has_disposition = false, has_name = false;
    std::size_t hpos = 0;
    while (hpos <= head.size() && !head.empty()) {
      const std::size_t e = head.find("\r\n", hpos);
      const std::string_view field = head.substr(hpos, e == std::string_view::npos ? std::string_view::npos : e - hpos);
      const std::size_t colon = field.find(':');
      if (colon == std::string_view::npos || !is_token(field.substr(0, colon)))
        return multipart_error(part, "malformed part header '" + shown(field) + "'");
      const std::string key = lower(field.substr(0, colon));
      const std::string_view value = trim_ows(field.substr(colon + 1));
      if (!is_field_value(value)) return multipart_error(part, "part header holds a control character");
      if (key == "content-disposition") {
        if (has_disposition) return multipart_error(part, "more than one Content-Disposition");
        has_disposition = true;
        if (!parse_disposition(value, data.name, data.filename, has_name))
          return multipart_error(part, "malformed Content-Disposition (expected form-data; name=\"...\")");
      } else if (key == "content-type") {
        data.content_type = std::string(value);
      }
      if (e == std::string_view::npos) break;
      hpos = e + 2;
    }
    if (!has_disposition || !has_name) return multipart_error(part, "no Content-Disposition with a field name");
    const std::size_t end = body.find(delimiter, pos);
    if (end == std::string_view::npos) return multipart_error(part, "body ends before the closing boundary");
    data.content = std::string(body.substr(pos, end - pos));
    std::string key = data.name;
    files.emplace(std::move(key), std::move(data));
    pos = end + delimiter.size();
  }
}

}  // namespace ms::net
