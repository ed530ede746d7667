// Forward-pass speed of RetinaNet configurations on CPU (inference: eval mode, no gradients), to
// choose the detector's input size and width. One image per iteration; fields/s = items/s.
//   build/bench_detector_forward --benchmark_counters_tabular=true
// Arguments: ResNet-18 width x100, input side (px), intra-op threads, path aggregation + IoU
// branch (0 = baseline RetinaNet P3-P7, 1 = thesis variant P2-P6 with both improvements).
// BM_ShippedDetector: the shipped model folder (models/detector, or $MARROWSCOPE_MODELS/detector)
// through DetectorPredictor::detect, the pipeline's call (letterbox, normalise, forward,
// postprocess), on one real txl-pbc val field (575 x 575) per iteration, 1 and 2 threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "bench_forward.h"
#include "engine/detector/detector_model_file.h"
#include "engine/predict/detector_predictor.h"
#include "engine/predict/inference_preparation.h"
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

static void BM_ShippedDetector(benchmark::State& state) {
  ms::init_torch_runtime();
  at::set_num_threads(static_cast<int>(state.range(0)));
  const char* env = std::getenv("MARROWSCOPE_BENCH_FIELDS");  // run from the repo root, or set this
  const std::filesystem::path val = env && *env ? env : "../shared/data/txl-pbc/images/val";
  std::error_code ec;
  if (!std::filesystem::is_directory(val, ec)) {
    state.SkipWithError("no txl-pbc val folder (../shared/data/txl-pbc/images/val or $MARROWSCOPE_BENCH_FIELDS)");
    return;
  }
  cv::Mat field;
  for (const auto& e : std::filesystem::directory_iterator(val)) {  // the first 575 x 575 field
    field = cv::imread(e.path().string(), cv::IMREAD_COLOR);
    if (field.cols == 575 && field.rows == 575) break;
  }
  auto predictor = ms::DetectorPredictor::load(ms::default_detector_dir());
  if (!predictor || field.empty()) {
    state.SkipWithError(predictor ? "no readable val field" : predictor.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto dets = (*predictor)->detect({field});
    benchmark::DoNotOptimize(dets.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel((*predictor)->version() + " " + std::to_string((*predictor)->input_size()) + "px");
}
// The shipped network's forward pass alone on one normalised random image at its input size (no
// letterbox, no decoding; BatchNorms folded as the predictor does): what PyTorch eager runs for
// the same call (bench/peer_pytorch.py).
static void BM_ShippedDetectorForward(benchmark::State& state) {
  ms::init_torch_runtime();
  at::set_num_threads(static_cast<int>(state.range(0)));
  ms::DetectorModelInfo info;
  const std::string dir = ms::default_detector_dir();
  auto net = ms::load_detector_model(dir, info);
  const auto prepare = [&](auto& n) {
    auto p = ms::prepare_detector_for_inference(*n, dir, info.version, true, ms::inference_precision());
    if (!p) throw ms::MarrowError(p.error());
    return *p;
  };
  if (!ms::bench::time_forward(state, net, 1, info.model.input_size, prepare)) return;
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(info.version);
}
BENCHMARK(BM_ShippedDetectorForward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_ShippedDetector)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK_MAIN();
