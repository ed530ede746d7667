#pragma once
// Process-wide LibTorch settings. Every entry point (CLI, server, tests that train) calls
// init_torch_runtime() once before touching tensors.
namespace ms {
// Sets intra-op threads to configured_threads() (MARROWSCOPE_THREADS overrides the core count),
// one inter-op thread, and flush-to-zero for denormals (2x faster ResNet training here).
// Returns the thread count applied.
int init_torch_runtime();
}  // namespace ms
