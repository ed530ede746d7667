#pragma once
namespace ms {
// Number of compute threads: MARROWSCOPE_THREADS when set to a positive integer, otherwise the
// machine's hardware concurrency (at least 1).
int configured_threads();
}  // namespace ms
