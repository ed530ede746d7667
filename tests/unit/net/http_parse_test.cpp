// Request-head, framing, query and multipart parsing: grammar, limits and hostile inputs.
#include <string>

#include <gtest/gtest.h>

#include "net/http_parse.h"

namespace ms::net {
namespace {

HeadResult parse(const std::string& text, Request& req, HeadLimits limits = {}) {
  return parse_request_head(text, limits, req);
}

TEST(HttpParse, CompleteHeadWithQueryAndHeaders) {
  Request req;
  const std::string head = "GET /api/patients?sort=name&q=a%20b+c HTTP/1.1\r\nHost: x\r\nX-A:  1 \r\n\r\nBODY";
  const auto r = parse(head, req);
  ASSERT_EQ(r.kind, HeadResult::kComplete) << r.message;
  EXPECT_EQ(r.head_bytes, head.size() - 4);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/api/patients");
  EXPECT_EQ(req.get_param_value("sort"), "name");
  EXPECT_EQ(req.get_param_value("q"), "a b c");
  EXPECT_EQ(req.get_header_value("x-a"), "1");  // names are case-insensitive, values trimmed
  EXPECT_EQ(req.get_header_value("HOST"), "x");
}

TEST(HttpParse, IncompleteUntilTheBlankLine) {
  Request req;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: x\r\n", req).kind, HeadResult::kIncomplete);
  EXPECT_EQ(parse("GET / HT", req).kind, HeadResult::kIncomplete);
}

TEST(HttpParse, RequestLineErrors) {
  struct Case {
    const char* head;
    int status;
  } cases[] = {
      {"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},             // two spaces
      {"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400},        // three parts
      {"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},              // not a token
      {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      {"GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET http://a/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},     // absolute-form
      {"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},           // bad escape
      {"GET /% HTTP/1.1\r\nHost: x\r\n\r\n", 400},             // lone percent
      {"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},         // NUL
      {"POST /%ff HTTP/1.1\r\nHost: x\r\n\r\n", 400},          // not UTF-8
      {"GET /%c3%28 HTTP/1.1\r\nHost: x\r\n\r\n", 400},        // not UTF-8
      {"GET /?a=%f HTTP/1.1\r\nHost: x\r\n\r\n", 400},         // bad query escape
      {"GET / HTTP/1.1\r\n\r\n", 400},                         // no Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},   // two Hosts
      {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},   // obsolete folding
      {"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01" "b\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    Request req;
    const auto r = parse(c.head, req);
    EXPECT_EQ(r.kind, HeadResult::kError) << c.head;
    EXPECT_EQ(r.status, c.status) << c.head << " -> " << r.message;
    EXPECT_FALSE(r.message.empty());
  }
}

TEST(HttpParse, HttpOneZeroNeedsNoHost) {
  Request req;
  EXPECT_EQ(parse("GET / HTTP/1.0\r\n\r\n", req).kind, HeadResult::kComplete);
  EXPECT_EQ(req.version, "HTTP/1.0");
}

TEST(HttpParse, LimitsAreCheckedBeforeTheHeadIsComplete) {
  HeadLimits limits;
  limits.max_request_line = 64;
  limits.max_header_line = 64;
  limits.max_headers = 3;
  limits.max_head_bytes = 256;
  Request req;
  // A request line that never ends is refused as soon as it is longer than the limit.
  auto r = parse("GET /" + std::string(100, 'a'), req, limits);
  EXPECT_EQ(r.kind, HeadResult::kError);
  EXPECT_EQ(r.status, 414);
  // So is a header line without its end.
  r = parse("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), req, limits);
  EXPECT_EQ(r.status, 431);
  r = parse("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", req, limits);
  EXPECT_EQ(r.status, 431);
  EXPECT_NE(r.message.find("more than 3 header"), std::string::npos);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 10; ++i) many += "X: " + std::string(50, 'b') + "\r\n";
  r = parse(many, req, limits);
  EXPECT_EQ(r.status, 431);
}

TEST(HttpParse, BodyFraming) {
  auto framing = [](const std::string& headers) {
    Request req;
    const auto r = parse_request_head("POST / HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n", {}, req);
    EXPECT_EQ(r.kind, HeadResult::kComplete);
    return body_framing(req);
  };
  EXPECT_EQ(framing("").content_length, 0u);
  EXPECT_EQ(framing("").status, 0);
  EXPECT_EQ(framing("Content-Length: 12\r\n").content_length, 12u);
  EXPECT_EQ(framing("Content-Length: 5, 5\r\n").content_length, 5u);
  EXPECT_EQ(framing("Content-Length: 5\r\nContent-Length: 6\r\n").status, 400);
  EXPECT_EQ(framing("Content-Length: -1\r\n").status, 400);
  EXPECT_EQ(framing("Content-Length: 1e3\r\n").status, 400);
  EXPECT_EQ(framing("Content-Length: 99999999999999999999\r\n").status, 400);
  EXPECT_EQ(framing("Transfer-Encoding: chunked\r\n").status, 411);
  EXPECT_EQ(framing("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n").status, 411);
  EXPECT_EQ(framing("Content-Encoding: gzip\r\nContent-Length: 4\r\n").status, 415);
  EXPECT_EQ(framing("Content-Encoding: br\r\n").status, 415);
  EXPECT_EQ(framing("Content-Encoding: identity\r\nContent-Length: 4\r\n").status, 0);
  EXPECT_TRUE(framing("Expect: 100-continue\r\nContent-Length: 4\r\n").expect_continue);
  EXPECT_EQ(framing("Expect: something\r\n").status, 417);
}

TEST(HttpParse, PercentDecodingAndUtf8) {
  std::string out;
  EXPECT_TRUE(percent_decode("/a%2Fb%41", out));
  EXPECT_EQ(out, "/a/bA");
  EXPECT_FALSE(percent_decode("%4", out));
  EXPECT_FALSE(percent_decode("%g0", out));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xe4\xb8\xad\xe6\x96\x87"));   // 中文
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));           // U+1F600
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));                  // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));              // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));          // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe4\xb8"));                  // truncated
  Params p;
  EXPECT_TRUE(parse_query("a=1&&b&c=%20", p));
  EXPECT_EQ(p.size(), 3u);
  std::string many;
  for (int i = 0; i < 300; ++i) many += "k=v&";
  Params q;
  EXPECT_FALSE(parse_query(many, q));
}

TEST(HttpParse, MultipartBoundary) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"a b:c\""), "a b:c");
  EXPECT_EQ(multipart_boundary("multipart/form-data"), "");
  EXPECT_EQ(multipart_boundary("multipart/mixed; boundary=abc"), "");
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')), "");
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=a{b"), "");
}

TEST(HttpParse, MultipartParts) {
  const std::string body =
      "preamble\r\n--XyZ\r\n"
      "Content-Disposition: form-data; name=\"files\"; filename=\"a \\\"1\\\".png\"\r\n"
      "Content-Type: image/png\r\n\r\n"
      "\x89PNG\r\n--X not the boundary\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
      "hello\r\n"
      "--XyZ--\r\n";
  MultipartFormDataMap files;
  const auto r = parse_multipart(body, "XyZ", {}, files);
  ASSERT_TRUE(r.ok) << r.message;
  ASSERT_EQ(files.size(), 2u);
  const auto& f = files.find("files")->second;
  EXPECT_EQ(f.filename, "a \"1\".png");
  EXPECT_EQ(f.content_type, "image/png");
  EXPECT_EQ(f.content, "\x89PNG\r\n--X not the boundary");
  EXPECT_EQ(files.find("note")->second.content, "hello");
  EXPECT_TRUE(files.find("note")->second.filename.empty());
}

TEST(HttpParse, MultipartErrorsNameThePart) {
  auto fails = [](const std::string& body, const std::string& expected, MultipartLimits limits = {}) {
    MultipartFormDataMap files;
    const auto r = parse_multipart(body, "B", limits, files);
    EXPECT_FALSE(r.ok) << body;
    EXPECT_NE(r.message.find(expected), std::string::npos) << r.message;
  };
  fails("no boundary here", "no part");
  fails("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "closing boundary");
  fails("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--", "part 1: no Content-Disposition");
  fails("--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--", "part 1: malformed Content-Disposition");
  fails("--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--B--", "malformed Content-Disposition");
  fails("--Bjunk", "CRLF");
  std::string many;
  for (int i = 0; i < 5; ++i) many += "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
  many += "--B--";
  MultipartLimits three;
  three.max_parts = 3;
  fails(many, "more than 3 parts", three);
  MultipartLimits small_head;
  small_head.max_part_head_bytes = 16;
  fails("--B\r\nContent-Disposition: form-data; name=\"long-name\"\r\n\r\nx\r\n--B--", "longer than 16", small_head);
}

}  // namespace
}  // namespace ms::net
