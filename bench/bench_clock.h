#pragma once
// Wall time and peak memory, as the benches report them.
#include <sys/resource.h>

#include <chrono>

namespace ms::bench {

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Peak resident set of this process so far, MiB.
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace ms::bench
