// Multipart upload checking (net/http_parse.h): the boundary from a Content-Type value, then the
// body split into parts. Input: the Content-Type value, a newline, then the body. Properties:
// nothing throws; a boundary found is a valid RFC 2046 boundary (1-70 bchars, no trailing
// space); a body that parses has at most max_parts parts, each with a field name, and each part's
// content is bytes of the body, never more than the body.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "net/http_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  const std::string_view content_type = input.substr(0, nl);
  const std::string_view body = input.substr(nl + 1);

  const std::string boundary = ms::net::multipart_boundary(content_type);
  if (!boundary.empty()) {
    FUZZ_CHECK(boundary.size() <= 70 && boundary.back() != ' ');
    FUZZ_CHECK(content_type.find(boundary) != std::string_view::npos);
  }
  // The boundary the server would find, or one taken from the body itself so that bodies are
  // explored even when the Content-Type line is not a multipart one.
  std::string used = boundary;
  if (used.empty() && body.substr(0, 2) == "--") {
    const std::size_t end = body.find("\r\n");
    used = std::string(body.substr(2, end == std::string_view::npos ? 0 : end - 2));
  }
  ms::net::MultipartLimits limits;
  limits.max_parts = 16;
  limits.max_part_head_bytes = 512;
  ms::net::MultipartFormDataMap files;
  const ms::net::MultipartResult r = ms::net::parse_multipart(body, used, limits, files);
  if (r.ok) {
    FUZZ_CHECK(files.size() <= limits.max_parts);
    for (const auto& [name, part] : files) {
      FUZZ_CHECK(name == part.name);
      FUZZ_CHECK(part.content.size() <= body.size());
      FUZZ_CHECK(body.find(part.content) != std::string_view::npos);
    }
  } else {
    FUZZ_CHECK(!r.message.empty());
  }
  return 0;
}
