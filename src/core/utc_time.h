#pragma once
// The current time in UTC as text.
#include <string>

namespace ms {

// strftime(format) of now in UTC; the default is ISO 8601 ("2026-12-06T07:55:00Z").
std::string utc_time_text(const char* format = "%Y-%m-%dT%H:%M:%SZ");

}  // namespace ms
