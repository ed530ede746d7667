#pragma once
// UTF-8 and control-character checks for text that users type or import (patients, samples,
// CSV rows). Stored text must be well-formed UTF-8: the JSON of every reply and of signed report
// snapshots is written from it, and HL7 / FHIR receivers reject malformed bytes.
#include <cstddef>
#include <string>
#include <string_view>

namespace ms {

// The byte offset of the first malformed UTF-8 sequence (overlong forms, surrogates and code
// points past U+10FFFF are malformed), or std::string_view::npos when `s` is well-formed.
std::size_t first_invalid_utf8(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return first_invalid_utf8(s) == std::string_view::npos; }

// The byte offset of the first C0 control character (0x00-0x1F) or DEL (0x7F) in `s`, or npos.
// With `allow_line_breaks`, TAB, LF and CR are allowed (multi-line notes).
std::size_t first_control_char(std::string_view s, bool allow_line_breaks = false);

}  // namespace ms
