#include "models/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/error.h"
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

int intra_op_threads() {
  init_torch_runtime();
  return at::get_num_threads();
}

void set_intra_op_threads(int n) { at::set_num_threads(std::max(1, n)); }

bool cpu_has_native_bf16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == "avx512_bf16" || w == "amx_bf16") return true;
      return false;
    }
    return false;
  }();
  return has;
}

bool cpu_has_int8_dot_products() {
  static const bool has = [] {
    bool vnni = false;
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (!vnni && std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == "avx512_vnni" || w == "avx_vnni" || w == "amx_int8") vnni = true;
      break;
    }
    if (!vnni) return false;
    for (const auto e : at::globalContext().supportedQEngines())
      if (e == at::QEngine::ONEDNN) return true;
    return false;
  }();
  return has;
}

std::string precision_name(Precision p) {
  return p == Precision::kBf16 ? "bf16" : p == Precision::kInt8 ? "int8" : "fp32";
}

namespace {
// MARROWSCOPE_PRECISION as set; nullopt for auto.
std::optional<Precision> asked_precision() {
  const char* env = std::getenv("MARROWSCOPE_PRECISION");
  const std::string v = env ? env : "";
  if (v == "fp32") return Precision::kFp32;
  if (v == "bf16") return Precision::kBf16;
  if (v == "int8") return Precision::kInt8;
  if (v.empty() || v == "auto") return std::nullopt;
  throw MarrowError(ErrorCode::kInvalidArgument,
                    "MARROWSCOPE_PRECISION: expected fp32, bf16, int8 or auto, found '" + v + "'");
}
}  // namespace

Precision inference_precision() { return asked_precision().value_or(Precision::kInt8); }

Precision usable_precision(Precision asked, bool model_has_int8_calibration) {
  if (asked != Precision::kInt8) return asked;
  if (model_has_int8_calibration && cpu_has_int8_dot_products()) return Precision::kInt8;
  return cpu_has_native_bf16() ? Precision::kBf16 : Precision::kFp32;
}

namespace {
thread_local bool t_int8 = false;
}  // namespace

bool int8_inference_active() { return t_int8; }

Precision detector_inference_precision() { return usable_precision(inference_precision(), false); }

InferencePrecisionScope::InferencePrecisionScope(Precision p) {
  if (p == Precision::kInt8) {
    // The quantized kernels belong to oneDNN's engine; selecting it is process-wide and idempotent.
    at::globalContext().setQEngine(at::QEngine::ONEDNN);
    int8_set_ = true;
    prev_int8_ = t_int8;
    t_int8 = true;
    if (!cpu_has_native_bf16()) return;
  } else if (p != Precision::kBf16) {
    return;
  }
  active_ = true;
  prev_enabled_ = at::autocast::is_cpu_enabled();
  prev_dtype_ = static_cast<int>(at::autocast::get_autocast_cpu_dtype());
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::set_cpu_enabled(true);
  at::autocast::increment_nesting();
}

InferencePrecisionScope::~InferencePrecisionScope() {
  if (int8_set_) t_int8 = prev_int8_;
  if (!active_) return;
  // The cast weights are cached while autocast is on; dropped when the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(prev_enabled_);
  at::autocast::set_autocast_cpu_dtype(static_cast<at::ScalarType>(prev_dtype_));
}

}  // namespace ms
