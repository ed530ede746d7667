#pragma once
// Times a loaded network's forward pass alone (eval mode, no gradients, the process's inference
// precision: MARROWSCOPE_PRECISION) on one random normalised batch: what PyTorch eager runs for the
// same call (bench/peer_pytorch.py).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/GradMode.h>

#include "core/error.h"
#include "models/runtime.h"

namespace ms::bench {

// net: Result<module holder> as load_*_model return it. False (the run skipped) when it failed.
// prepare(net) readies the eval-mode network as the product's predictors do (BatchNorms folded into
// the convolutions; int8 quantized from the folder's calibration) and returns the precision it
// runs in, so this times the forward pass the product runs.
template <class NetResult, class Prepare>
bool time_forward(benchmark::State& state, NetResult& net, int batch, int side, Prepare prepare) {
  if (!net) {
    state.SkipWithError(net.error().message.c_str());
    return false;
  }
  (*net)->eval();
  const ms::Precision p = prepare(*net);
  c10::NoGradGuard no_grad;
  const ms::InferencePrecisionScope precision(p);
  at::manual_seed(1);
  const auto x = at::randn({batch, 3, side, side});
  (*net)->forward(x);  // warm-up: first-call allocations
  for (auto _ : state) {
    auto out = (*net)->forward(x);
    benchmark::DoNotOptimize(&out);
  }
  return true;
}

}  // namespace ms::bench
