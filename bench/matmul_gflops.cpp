// Measures the machine's dense float32 matmul throughput through LibTorch (the BLAS it links), the
// denominator for "share of the machine's GFLOP/s" that the model benchmarks report.
//   build/bench_matmul_gflops --benchmark_counters_tabular=true
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "models/runtime.h"

static void BM_Matmul(benchmark::State& state) {
  ms::init_torch_runtime();
  const int64_t n = state.range(0);
  at::manual_seed(0);
  const at::Tensor a = at::randn({n, n});
  const at::Tensor b = at::randn({n, n});
  at::Tensor c;
  for (auto _ : state) {
    c = at::mm(a, b);
    benchmark::DoNotOptimize(c.data_ptr<float>());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n) * n * n * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Matmul)->Arg(256)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
