#include "models/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include "core/threads.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

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
#if defined(__GLIBC__)
    // Keep tensor buffers in the heap. glibc serves blocks above its mmap threshold with fresh
    // mmap/munmap pairs and trims freed heap tops back to the kernel, so every forward pass of the
    // detector (activations of several MB) paid page faults on new zeroed pages: the pipeline ran
    // 17.7 fields/s, and 31.0 with these two settings (bench_pipeline_throughput, txl-pbc val,
    // 2 cores; docs/RESULTS.md). Fixed values also stop the dynamic threshold from depending on
    // what ran first. Memory freed stays with the process for reuse; peak RSS is unchanged.
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    return n;
  }();
  return threads;
}
}  // namespace ms
