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
// int8 runs a CNN's convolutions on 8-bit integers (oneDNN's quantized kernels, VNNI dot
// products) with activation ranges measured once on the model's training cells (int8.json in the
// model folder, `marrowscope calibrate-int8`); what is not quantized runs as under bf16. A model
// without a calibration, or a CPU without VNNI, runs bf16/fp32 instead (usable_precision).
enum class Precision { kFp32, kBf16, kInt8 };
// MARROWSCOPE_PRECISION = fp32 | bf16 | int8 | auto: what inference asks for; auto (the default)
// asks for int8, which each model resolves with usable_precision: int8 where its folder has a
// calibration and the CPU has VNNI (the shipped classifier: float32's class for 1,298 of 1,302
// held-out cells with 8 views, as many of another lab's cells flagged atypical; the shipped
// detector: AP50/AP75 within 0.006 of float32; both about 1.3-1.9x bf16's speed; docs/RESULTS.md
// "int8 inference"), else bf16 where the CPU has native bf16, else fp32. An unknown value is an
// error naming it (thrown on first use).
Precision inference_precision();
// What a model runs when `asked`: int8 only where the model has a calibration and the CPU has
// VNNI with oneDNN's quantized engine; otherwise the auto choice (bf16 where native, else fp32).
Precision usable_precision(Precision asked, bool model_has_int8_calibration);
bool cpu_has_int8_dot_products();
// True inside an InferencePrecisionScope(kInt8) on this thread: a quantized network takes its
// int8 path only then.
bool int8_inference_active();
// A detector's without a calibration (in training, or a folder without int8.json): bf16 where
// native (the shipped detector: AP50/AP75 within 0.003 of float32; every network option runs in it,
// the head's GroupNorm normalising in float32), else fp32; fp32 and bf16 as asked.
Precision detector_inference_precision();
bool cpu_has_native_bf16();
std::string precision_name(Precision p);

// While alive, CPU inference on this thread runs in `p` (bf16: autocast to bfloat16; int8: the
// quantized path of networks that have one, and bf16 autocast elsewhere where the CPU has it).
class InferencePrecisionScope {
 public:
  explicit InferencePrecisionScope(Precision p);
  ~InferencePrecisionScope();
  InferencePrecisionScope(const InferencePrecisionScope&) = delete;
  InferencePrecisionScope& operator=(const InferencePrecisionScope&) = delete;

 private:
  bool active_ = false, prev_enabled_ = false, prev_int8_ = false, int8_set_ = false;
  int prev_dtype_ = 0;
};
}  // namespace ms
