#include "models/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include "core/threads.h"

namespace ms {
int init_torch_runtime() {
  static const int threads = [] {
    const int n = configured_threads();
    at::set_num_threads(n);
    try {
      at::set_num_interop_threads(1);
    } catch (...) {
      // Already set by an earlier call in this process; harmless.
    }
    at::globalContext().setFlushDenormal(true);
    return n;
  }();
  return threads;
}
}  // namespace ms
