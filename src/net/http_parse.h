#pragma once
// Pure, allocation-bounded parsing of HTTP/1.1 request heads, query strings and multipart bodies.
// No sockets here: the server (http_server.h) feeds bytes in, and the fuzz harnesses feed
// arbitrary bytes in. Every limit is checked before memory is spent on the input it bounds.
#include <cstddef>
#include <string>
#include <string_view>

#include "net/message.h"

namespace ms::net {

struct HeadLimits {
  std::size_t max_request_line = 8192;  // method + target + version (414 above)
  std::size_t max_header_line = 8192;   // one "Name: value" line (431 above)
  std::size_t max_headers = 100;        // header fields (431 above)
  std::size_t max_head_bytes = 65536;   // request line + headers + blank line (431 above)
};

// The outcome of looking at the bytes received so far on a connection.
struct HeadResult {
  enum Kind { kIncomplete, kComplete, kError } kind = kIncomplete;
  std::size_t head_bytes = 0;  // kComplete: bytes of the head, including the blank line
  int status = 0;              // kError: the HTTP status to answer (400, 414, 431, 501, 505)
  std::string message;         // kError: what was wrong, for the error body
};

// Parses the head at the start of `buf` into `req` (method, target, path, version, headers,
// params). kIncomplete when no blank line has arrived yet and no limit is exceeded by what did;
// kError as soon as the bytes so far break a limit or the grammar (RFC 9112 section 3 and 5:
// token method, origin-form target, HTTP/1.0 or 1.1, no obsolete line folding, no control
// characters in values, Host required for 1.1), whether or not the head is complete. Lines end
// with CRLF.
HeadResult parse_request_head(std::string_view buf, const HeadLimits& limits, Request& req);

// How a request's body is framed, from its head.
struct BodyFraming {
  int status = 0;               // non-zero: refuse the request with this status (400, 411, 415, 501)
  std::string message;          // why
  std::size_t content_length = 0;  // when status == 0: the body's exact length (0: no body)
  bool expect_continue = false;    // the client waits for "100 Continue" before sending the body
};
// Only Content-Length framing is accepted: a Transfer-Encoding (chunked or any other) is 411,
// since no limit can be checked before such a body is read; a Content-Encoding other than
// identity is 415 (a compressed body's real size is unknown until it is inflated); conflicting
// or malformed Content-Length values are 400; an Expect other than 100-continue is 417.
BodyFraming body_framing(const Request& req);

// Percent-decodes `in` ('+' stays '+'; use decode_query_component for query text). False on a
// malformed escape ("%g1", a lone '%'); `out` is then unspecified.
bool percent_decode(std::string_view in, std::string& out);
// Query component: '+' means a space, then percent-decoding.
bool decode_query_component(std::string_view in, std::string& out);
// Splits "a=1&b=%20x" into params; false when an escape is malformed or more than
// `max_params` pairs are present.
bool parse_query(std::string_view query, Params& params, std::size_t max_params = 256);

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view s);

struct MultipartLimits {
  std::size_t max_parts = 1024;
  std::size_t max_part_head_bytes = 8192;  // the headers of one part
};
struct MultipartResult {
  bool ok = false;
  std::string message;  // when !ok: what was wrong ("part 3: no Content-Disposition")
};
// The boundary parameter of a multipart/form-data Content-Type, or "" when the type is not
// multipart/form-data or its boundary is missing or not a valid RFC 2046 boundary.
std::string multipart_boundary(std::string_view content_type);
// Parses a complete multipart/form-data body into `files` (keyed by the part's field name).
MultipartResult parse_multipart(std::string_view body, std::string_view boundary,
                                const MultipartLimits& limits, MultipartFormDataMap& files);

}  // namespace ms::net
