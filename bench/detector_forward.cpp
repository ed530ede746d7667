// Forward-pass speed of RetinaNet configurations on CPU (inference: eval mode, no gradients), to
// choose the detector's input size and width. One image per iteration; fields/s = items/s.
//   build/bench_detector_forward --benchmark_counters_tabular=true
// Arguments: ResNet-18 width x100, input side (px), intra-op threads, path aggregation + IoU
// branch (0 = baseline RetinaNet P3-P7, 1 = thesis variant P2-P6 with both improvements).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "models/detector/retina_net.h"
#include "models/runtime.h"

static void BM_RetinaNetForward(benchmark::State& state) {
  ms::init_torch_runtime();
  const float width = static_cast<float>(state.range(0)) / 100.f;
  const int size = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const bool improved = state.range(3) != 0;
  at::set_num_threads(threads);
  ms::RetinaNetOptions o;
  o.backbone.width = width;
  o.neck.channels = width < 1.f ? 128 : 256;
  o.input_size = size;
  if (improved) {
    o.neck.min_level = 2;
    o.neck.max_level = 6;
    o.neck.path_aggregation = true;
    o.head.iou_branch = true;
  }
  at::manual_seed(0);
  ms::RetinaNet net(o);
  net->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 3, size, size});
  for (auto _ : state) {
    const ms::RetinaNetOutput out = net->forward(x);
    benchmark::DoNotOptimize(out.cls_logits.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(improved ? "P2-P6+PA+IoU" : "P3-P7") + " fpn" + std::to_string(o.neck.channels));
}

static void Configs(benchmark::internal::Benchmark* b) {
  for (int improved : {0, 1})
    for (int width : {50, 100})
      for (int size : {320, 416, 512})
        for (int threads : {1, 2}) b->Args({width, size, threads, improved});
}
BENCHMARK(BM_RetinaNetForward)->Apply(Configs)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK_MAIN();
