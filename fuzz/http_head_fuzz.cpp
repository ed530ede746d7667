// HTTP/1.1 request heads (net/http_parse.h): parse_request_head on arbitrary bytes as they arrive
// on a connection, then body_framing on a head that parsed. Properties: nothing throws; a
// complete head lies inside the bytes and inside the limits; every prefix of a complete head is
// reported incomplete (a server reading byte by byte must neither accept a head early nor refuse
// one that would have been valid); a refusal carries a 4xx/5xx status and a message; a framing
// that is accepted is Content-Length only.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "net/http_parse.h"

namespace {

ms::net::HeadLimits small_limits() {
  ms::net::HeadLimits l;
  l.max_request_line = 512;
  l.max_header_line = 512;
  l.max_headers = 16;
  l.max_head_bytes = 2048;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  const ms::net::HeadLimits limits = small_limits();
  ms::net::Request req;
  const ms::net::HeadResult r = ms::net::parse_request_head(buf, limits, req);
  switch (r.kind) {
    case ms::net::HeadResult::kIncomplete:
      FUZZ_CHECK(size <= limits.max_head_bytes);
      break;
    case ms::net::HeadResult::kError:
      FUZZ_CHECK(r.status >= 400 && r.status <= 599 && !r.message.empty());
      break;
    case ms::net::HeadResult::kComplete: {
      FUZZ_CHECK(r.head_bytes >= 4 && r.head_bytes <= size && r.head_bytes <= limits.max_head_bytes);
      FUZZ_CHECK(buf.substr(r.head_bytes - 4, 4) == "\r\n\r\n");
      FUZZ_CHECK(req.headers.size() <= limits.max_headers);
      FUZZ_CHECK(req.version == "HTTP/1.1" || req.version == "HTTP/1.0");
      for (const std::size_t cut : {r.head_bytes - 1, r.head_bytes - 2, r.head_bytes / 2}) {
        ms::net::Request partial;
        const ms::net::HeadResult p = ms::net::parse_request_head(buf.substr(0, cut), limits, partial);
        FUZZ_CHECK(p.kind == ms::net::HeadResult::kIncomplete);
      }
      const ms::net::BodyFraming f = ms::net::body_framing(req);
      if (f.status != 0) {
        FUZZ_CHECK(f.status >= 400 && f.status <= 599 && !f.message.empty());
      } else {
        FUZZ_CHECK(!req.has_header("Transfer-Encoding"));
      }
      break;
    }
  }
  return 0;
}
