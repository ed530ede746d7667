// The CPU's peak multiply-add rate, the denominator for "share of the machine" that no BLAS
// reaches: fp32 (AVX-512 VFMADD231PS, 16 lanes x 2 FLOP) and bf16 (AVX-512 BF16 VDPBF16PS: 32 bf16
// products summed into 16 fp32 lanes, 64 FLOP) on 1 and 2 threads. Each thread keeps 16
// independent accumulators in registers so the instruction's latency never limits it; the loop
// does nothing else. Prints GFLOP/s per case (best of 5 runs of about 0.5 s).
//
//   build/bench_fma_peak
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr long kIterations = 40'000'000;  // per run and thread; 16 instructions each

__attribute__((target("avx512f"))) float fp32_loop(long n, float seed) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(seed * float(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (long k = 0; k < n; ++k)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx512f,avx512bf16"))) float bf16_loop(long n, float seed) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(seed * float(i));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  for (long k = 0; k < n; ++k)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

// GFLOP/s of `threads` threads each running `loop`, best of 5 runs.
double rate(float (*loop)(long, float), int threads, double flop_per_instruction) {
  double best = 0;
  volatile float sink = 0;
  for (int run = 0; run < 5; ++run) {
    std::vector<std::thread> pool;
    std::vector<float> out(size_t(threads), 0.f);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { out[size_t(t)] = loop(kIterations, float(t + run)); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : out) sink = sink + v;
    best = std::max(best, double(threads) * double(kIterations) * 16.0 * flop_per_instruction / s / 1e9);
  }
  return best;
}

}  // namespace

int main() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("this CPU has no AVX-512; nothing measured\n");
    return 1;
  }
  const bool bf16 = __builtin_cpu_supports("avx512bf16");
  std::printf("%-28s %8s %8s\n", "instruction", "1 thread", "2 threads");
  std::printf("%-28s %8.1f %8.1f   GFLOP/s\n", "fp32 FMA (VFMADD231PS zmm)", rate(fp32_loop, 1, 32), rate(fp32_loop, 2, 32));
  if (bf16)
    std::printf("%-28s %8.1f %8.1f   GFLOP/s\n", "bf16 dot (VDPBF16PS zmm)", rate(bf16_loop, 1, 64), rate(bf16_loop, 2, 64));
  else
    std::printf("bf16: this CPU has no AVX-512 BF16\n");
  return 0;
}
