// Cell classifier speed (the classifier's speed requirement: cells per second at batch 1 and
// batch 32 on this machine, aim >= 150 at batch), through ClassifierPredictor::classify exactly
// as the pipeline calls it:
// 8-bit BGR crops of 360 x 360 px (PBC's cell images) resized, center-cropped, normalised and
// classified, in eval mode without gradients.
//   build/bench_classifier_speed --benchmark_counters_tabular=true
// Arguments: model (0 = the shipped models/classifier, 1 = a ViT of configs/classifier/
// vit_improved.json's shape with random weights: speed does not depend on the weights), batch,
// intra-op threads, test-time views (0 = the model's test_time_views; the shipped model uses 8,
// and 1 measures the single forward). cells_per_s is the counter to read.
#include <filesystem>
#include <memory>
#include <random>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "bench_forward.h"
#include "core/config.h"
#include "core/paths.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/classifier/classifier_trainer.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/inference_preparation.h"
#include "models/runtime.h"

namespace {

namespace fs = std::filesystem;

// The shipped model, or a randomly initialised ViT saved as a model folder under /tmp.
std::string bench_model_dir(int which) {
  if (which == 0) return ms::default_model_dir("classifier");
  const fs::path dir = fs::temp_directory_path() / "ms_bench_vit_improved";
  if (fs::exists(dir / "model.pt")) return dir.string();
  auto cfg = ms::load_config<ms::ClassifierTrainConfig>(ms::config_path("classifier/vit_improved.json"));
  if (!cfg) throw ms::MarrowError(cfg.error());
  ms::ClassifierModelInfo info;
  info.version = "vit-improved-random";
  info.model = cfg->model;
  info.crop_fraction = cfg->data.crop_fraction;
  for (int c = 0; c < 11; ++c) info.classes.push_back("class" + std::to_string(c));
  at::manual_seed(0);
  auto net = ms::make_classifier(info.model, 11);
  if (auto s = ms::write_classifier_model(dir.string(), *net, info); !s) throw ms::MarrowError(s.error());
  return dir.string();
}

void BM_ClassifierSpeed(benchmark::State& state) {
  ms::init_torch_runtime();
  const int which = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  at::set_num_threads(static_cast<int>(state.range(2)));
  auto pred = ms::ClassifierPredictor::load(bench_model_dir(which));
  if (!pred) {
    state.SkipWithError(pred.error().message.c_str());
    return;
  }
  if (state.range(3) > 0) (*pred)->set_test_time_views(static_cast<int>(state.range(3)));
  std::mt19937 rng(1);
  std::vector<cv::Mat> crops;
  for (int i = 0; i < batch; ++i) {
    cv::Mat img(360, 360, CV_8UC3);
    cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
    crops.push_back(img);
  }
  (*pred)->classify(crops);  // warm-up: first-call allocations
  for (auto _ : state) {
    auto out = (*pred)->classify(crops);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["cells_per_s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel((which == 0 ? "shipped " : "vit_improved ") + (*pred)->version() + " input " +
                 std::to_string((*pred)->input_size()) + " views " +
                 std::to_string((*pred)->test_time_views()));
}

void Configs(benchmark::internal::Benchmark* b) {
  for (int batch : {1, 32})
    for (int views : {1, 8}) b->Args({0, batch, 2, views});
  // One thread, one view: the peer comparison with PyTorch (bench/peer_pytorch.py) at 1 thread.
  for (int batch : {1, 32}) b->Args({0, batch, 1, 1});
  for (int batch : {1, 32}) b->Args({1, batch, 2, 1});
}

// The shipped network's forward pass alone on a normalised random batch [B,3,input,input], in eval
// mode without gradients, prepared as the predictor prepares it: what PyTorch eager runs for the
// same call (bench/peer_pytorch.py).
void BM_ShippedClassifierForward(benchmark::State& state) {
  ms::init_torch_runtime();
  const int batch = static_cast<int>(state.range(0));
  at::set_num_threads(static_cast<int>(state.range(1)));
  ms::ClassifierModelInfo info;
  const std::string dir = ms::default_model_dir("classifier");
  auto net = ms::load_classifier_model(dir, info);
  const auto prepare = [&](auto& n) {
    auto p = ms::prepare_classifier_for_inference(*n, dir, info.version, true, ms::inference_precision());
    if (!p) throw ms::MarrowError(p.error());
    return *p;
  };
  if (!ms::bench::time_forward(state, net, batch, info.model.input_size, prepare)) return;
  state.counters["cells_per_s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(info.version);
}

}  // namespace

BENCHMARK(BM_ShippedClassifierForward)->ArgsProduct({{1, 32}, {1, 2}})->Unit(benchmark::kMillisecond)
    ->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_ClassifierSpeed)->Apply(Configs)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK_MAIN();
