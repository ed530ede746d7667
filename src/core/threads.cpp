#include "core/threads.h"

#include <cstdlib>
#include <string>
#include <thread>

namespace ms {
int configured_threads() {
  if (const char* env = std::getenv("MARROWSCOPE_THREADS")) {
    try {
      int n = std::stoi(env);
      if (n > 0) return n;
    } catch (...) {
    }
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}
}  // namespace ms
