#pragma once
// HTML escaping shared by every page Marrowscope writes (training reports, the printable
// differential report, server-rendered report pieces).
#include <string>
#include <string_view>

namespace ms {

// Escapes & < > " ' as entities, for element content and quoted attribute values. UTF-8 passes
// through unchanged.
std::string html_escape(std::string_view text);

}  // namespace ms
