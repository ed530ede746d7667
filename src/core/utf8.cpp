#include "core/utf8.h"

#include <cstdint>

namespace ms {

std::size_t first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int more = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) { more = 1; cp = c & 0x1Fu; }
    else if ((c & 0xF0) == 0xE0) { more = 2; cp = c & 0x0Fu; }
    else if ((c & 0xF8) == 0xF0) { more = 3; cp = c & 0x07u; }
    else return i;
    if (s.size() - i <= static_cast<std::size_t>(more)) return i;
    for (int k = 1; k <= more; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    const bool overlong = (more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += static_cast<std::size_t>(more) + 1;
  }
  return std::string_view::npos;
}

std::size_t first_control_char(std::string_view s, bool allow_line_breaks) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != 0x7F) continue;
    if (allow_line_breaks && (c == '\t' || c == '\n' || c == '\r')) continue;
    return i;
  }
  return std::string_view::npos;
}

}  // namespace ms
