#include "core/utc_time.h"

#include <ctime>

namespace ms {

std::string utc_time_text(const char* format) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  return std::strftime(buf, sizeof buf, format, &tm) ? std::string(buf) : std::string();
}

}  // namespace ms
