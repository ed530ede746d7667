// End-to-end throughput of the analysis pipeline (the product's speed bar: >= 5 fields/s on the
// txl-pbc val fields, 2-core CPU, shipped models), with the time split by stage and peak memory,
// against the naive order: one field at a time, one crop per classifier call, no decode prefetch.
//
//   build/bench_pipeline_throughput [--fields ../shared/data/txl-pbc/images/val]
//       [--detector models/detector] [--classifier models/classifier] [--limit N]
//       [--set pipeline.key=value ...] [--no-naive] [--json OUT.json]
//
// Model loading is timed separately; the fields' bytes are read once before timing so both orders
// see a warm page cache. Whole-process numbers (process start included) come from timing the
// real CLI: /usr/bin/time -v build/marrowscope analyze DIR --json /tmp/x.json (docs/RESULTS.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/image.h"
#include "core/paths.h"
#include "core/threads.h"
#include "models/runtime.h"
#include "pipeline/pipeline.h"

#include "bench_clock.h"

namespace {

namespace fs = std::filesystem;
using ms::bench::Clock;
using ms::bench::peak_rss_mib;
using ms::bench::since;

double load_average() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

struct RunResult {
  std::string order;
  double seconds = 0;
  size_t fields = 0, failed = 0, cells = 0;
  ms::PipelineTimings t;
  double peak_rss_mib = 0;
  ms::Json json() const {
    const double s = std::max(seconds, 1e-9);
    return {{"order", order},
            {"seconds", seconds},
            {"fields", fields},
            {"failed", failed},
            {"cells", cells},
            {"fields_per_second", fields / s},
            {"cells_per_hour", cells / s * 3600.0},
            {"stage_seconds",
             {{"decode", t.decode_s}, {"detect", t.detect_s}, {"crop", t.crop_s}, {"classify", t.classify_s}}},
            {"detector_calls", t.detector_calls},
            {"classifier_calls", t.classifier_calls},
            {"peak_rss_mib", peak_rss_mib}};
  }
  void print() const {
    const double s = std::max(seconds, 1e-9);
    std::printf("%-10s %4zu fields %4zu cells %7.2f s  %6.2f fields/s  %8.0f cells/h  | decode %.2f  detect %.2f "
                "(%zu calls)  crop %.3f  classify %.2f (%zu calls)  | peak RSS %.0f MiB\n",
                order.c_str(), fields, cells, seconds, fields / s, cells / s * 3600.0, t.decode_s, t.detect_s,
                t.detector_calls, t.crop_s, t.classify_s, t.classifier_calls, peak_rss_mib);
  }
};

std::vector<std::string> list_fields(const std::string& dir, size_t limit) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) paths.push_back(it->path().string());
  std::sort(paths.begin(), paths.end());
  if (limit > 0 && paths.size() > limit) paths.resize(limit);
  return paths;
}

// The pipeline as `analyze` runs it: decode prefetch on a second thread, fields batched for the
// detector, all their crops batched for the classifier.
RunResult run_pipelined(ms::Pipeline& p, const std::vector<std::string>& paths) {
  RunResult r;
  r.order = "pipelined";
  p.reset_timings();
  const auto t0 = Clock::now();
  p.analyze_files(paths, [&](ms::FieldResult&& f) {
    if (f.ok()) {
      ++r.fields;
      r.cells += f.cells.size();
    } else {
      ++r.failed;
    }
  });
  r.seconds = since(t0);
  r.t = p.timings();
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

// The naive order: decode, detect one field, classify its crops one by one, next field.
RunResult run_naive(ms::Pipeline& p, const std::vector<std::string>& paths) {
  RunResult r;
  r.order = "naive";
  p.reset_timings();
  const auto t0 = Clock::now();
  double decode = 0;
  for (const auto& path : paths) {
    const auto td = Clock::now();
    auto img = ms::read_image(path);
    decode += since(td);
    if (!img) {
      ++r.failed;
      continue;
    }
    const auto f = p.analyze(*img, path);
    ++r.fields;
    r.cells += f.cells.size();
  }
  r.seconds = since(t0);
  r.t = p.timings();
  r.t.decode_s = decode;
  r.peak_rss_mib = peak_rss_mib();
  return r;
}

int usage(const char* msg) {
  std::fprintf(stderr, "bench_pipeline_throughput: %s\n", msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string fields_dir = "../shared/data/txl-pbc/images/val", detector, classifier, json_out;
  size_t limit = 0;
  bool naive = true;
  ms::Json overrides = ms::Json::object();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (a == "--fields") fields_dir = value();
    else if (a == "--detector") detector = value();
    else if (a == "--classifier") classifier = value();
    else if (a == "--json") json_out = value();
    else if (a == "--limit") limit = std::stoul(value());
    else if (a == "--no-naive") naive = false;
    else if (a == "--set") {
      if (auto s = ms::apply_override(overrides, value()); !s) return usage(s.error().message.c_str());
    } else return usage(("unknown argument " + a).c_str());
  }
  try {
    const int threads = ms::init_torch_runtime();
    const ms::PipelineOptions options = ms::config_from_json<ms::PipelineOptions>(
        overrides.contains("pipeline") ? overrides["pipeline"] : ms::Json::object(), "--set pipeline");
    const auto paths = list_fields(fields_dir, limit);
    if (paths.empty()) return usage(("no files in " + fields_dir).c_str());
    for (const auto& p : paths) (void)ms::read_file_bytes(p);  // warm the page cache for both orders

    const auto t_load = Clock::now();
    auto pipeline = ms::value_or_throw(ms::Pipeline::load(
        detector.empty() ? ms::default_model_dir("detector") : detector,
        classifier.empty() ? ms::default_model_dir("classifier") : classifier, options));
    const double load_s = since(t_load);
    const auto v = pipeline->versions();
    std::printf("%zu fields from %s; detector %s, classifier %s; %d torch threads; model load %.2f s; "
                "load average %.2f\n",
                paths.size(), fields_dir.c_str(), v.detector.c_str(), v.classifier.c_str(), threads, load_s,
                load_average());
    const RunResult fast = run_pipelined(*pipeline, paths);
    fast.print();
    ms::Json out = {{"fields_dir", fields_dir},
                    {"models", {{"detector", v.detector}, {"classifier", v.classifier}}},
                    {"threads", threads},
                    {"model_load_seconds", load_s},
                    {"options", ms::config_to_json(pipeline->options())},
                    {"pipelined", fast.json()}};
    if (naive) {
      ms::PipelineOptions one = pipeline->options();
      one.detect_batch = 1;
      one.classify_batch = 1;
      auto slow_pipeline = ms::value_or_throw(ms::Pipeline::load(
          detector.empty() ? ms::default_model_dir("detector") : detector,
          classifier.empty() ? ms::default_model_dir("classifier") : classifier, one));
      const RunResult slow = run_naive(*slow_pipeline, paths);
      slow.print();
      std::printf("speed-up of the pipelined order over the naive one: %.2fx\n", slow.seconds / fast.seconds);
      out["naive"] = slow.json();
      out["speedup"] = slow.seconds / fast.seconds;
    }
    out["load_average_end"] = load_average();
    if (!json_out.empty()) ms::value_or_throw(ms::write_json_file(json_out, out));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
