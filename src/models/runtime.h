#pragma once
// Process-wide LibTorch settings. Every entry point (CLI, server, tests that train) calls
// init_torch_runtime() once before touching tensors.
#include <string>

namespace ms {
// Sets intra-op threads to configured_threads() (MARROWSCOPE_THREADS overrides the core count),
// one inter-op thread, and flush-to-zero for denormals (2x faster ResNet training here).
// Returns the thread count applied.
int init_torch_runtime();
// Intra-op threads of inference on the calling thread (at::get_num_threads), and setting them
// for the calling thread (the pipeline's streams run one thread each).
int intra_op_threads();
void set_intra_op_threads(int n);

// The number format of inference on the CPU. bf16 runs convolutions and matrix products in
// bfloat16 (autocast; weights and accumulations stay float32) where the CPU has native bf16
// dot products (AVX-512 BF16 or AMX), several times faster there; on other CPUs bf16 would be
// emulated and slower, so the default is fp32 there.
enum class Precision { kFp32, kBf16 };
// MARROWSCOPE_PRECISION = fp32 | bf16 | auto (default: bf16 where the CPU has native bf16).
// An unknown value is an error naming it (thrown on first use).
Precision inference_precision();
// The detector's: the same as the classifier's. The shipped detector finds the same cells in bf16
// (AP50/AP75 within 0.003 of float32 on val and on a held-out test split; docs/RESULTS.md), and every
// network option runs in it (the head's GroupNorm normalises in float32).
Precision detector_inference_precision();
bool cpu_has_native_bf16();
std::string precision_name(Precision p);

// While alive, CPU inference on this thread runs in `p` (bf16: autocast to bfloat16).
class InferencePrecisionScope {
 public:
  explicit InferencePrecisionScope(Precision p);
  ~InferencePrecisionScope();
  InferencePrecisionScope(const InferencePrecisionScope&) = delete;
  InferencePrecisionScope& operator=(const InferencePrecisionScope&) = delete;

 private:
  bool active_ = false, prev_enabled_ = false;
  int prev_dtype_ = 0;
};
}  // namespace ms
