// Whole slides through the real lab server (SQLite, the shipped models, HTTP on loopback): the
// generated mosaic slide of bench_slide_region (txl-pbc val fields, their WBC boxes known in slide
// coordinates, optionally repeated K x K) is uploaded in 8 MiB chunks through the API, and then
//  - the first overview: the DZI descriptor plus the one tile that holds the whole slide, cold
//    (what the browser's viewer asks for first), from the client's side of the socket;
//  - deep-zoom tiles per second over HTTP, 4 keep-alive clients, random tiles of the three finest
//    levels, cold (rendered from the slide) and again warm (the server's tile cache);
//  - the suggested-areas survey;
//  - an area job (the first mosaic copy) run by the server's worker: cells/s and megapixels/s from
//    the job's own start and finish times;
//  - peak RSS of the process (server, models, clients together);
//  - recall of the known WBCs among the area's stored cells (IoU >= 0.5).
//
//   build/bench_slide_server [--data ../shared/data/txl-pbc] [--cols 18] [--rows 14] [--replicate 1]
//       [--tiles 800] [--work /tmp/ms_slide_server] [--json OUT.json]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/deep_zoom.h"
#include "core/image.h"
#include "core/paths.h"
#include "models/runtime.h"
#include "server/pipeline_runner.h"
#include "server_bench_client.h"

#ifndef MARROWSCOPE_SOURCE_DIR
#define MARROWSCOPE_SOURCE_DIR "."
#endif
#include "../tests/slide_fixture.h"

#include "bench_clock.h"

namespace {
namespace fs = std::filesystem;
using ms::bench::Clock;
using ms::bench::peak_rss_mib;
using ms::bench::since;
using Json = nlohmann::json;

Json must(const httplib::Result& r, int status, const char* what) {
  if (!r || r->status != status)
    throw std::runtime_error(std::string(what) + ": " + (r ? std::to_string(r->status) + " " + r->body : "no response"));
  return r->body.empty() || r->body[0] != '{' ? Json() : Json::parse(r->body);
}

int run(int argc, char** argv) {
  std::string data = "../shared/data/txl-pbc", work = "/tmp/ms_slide_server", json_out;
  int cols = 18, rows = 14, replicate = 1, tiles = 800;
  CLI::App app{"slide server bench"};
  app.add_option("--data", data);
  app.add_option("--cols", cols);
  app.add_option("--rows", rows);
  app.add_option("--replicate", replicate, "K: the slide is the mosaic repeated K x K times");
  app.add_option("--tiles", tiles, "deep-zoom tiles requested for the tiles/s figures");
  app.add_option("--work", work);
  app.add_option("--json", json_out);
  CLI11_PARSE(app, argc, argv);
  fs::create_directories(work);

  const auto mosaic = ms::testing::txl_pbc_mosaic(data, cols, rows);
  const std::string slide_path = work + "/slide.tif";
  if (const std::string err = ms::testing::write_replicated_slide(mosaic.image, work, replicate); !err.empty())
    throw std::runtime_error(err);
  const auto file_bytes = std::int64_t(fs::file_size(slide_path));

  const int threads = ms::init_torch_runtime();
  auto runner = ms::value_or_throw(
      ms::server::PipelineRunner::load(ms::default_model_dir("detector"), ms::default_model_dir("classifier")));
  ms::bench::BenchServer s(runner, 1);
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(600);
  const auto sample = s.make_sample(c, "BENCH-SLIDE");

  // The upload, in chunks read from the file one at a time.
  auto t = Clock::now();
  const Json up = must(c.Post(("/api/samples/" + std::to_string(sample) + "/slide-uploads").c_str(), s.headers(),
                              Json{{"filename", "slide.tif"}, {"bytes", file_bytes}}.dump(), "application/json"),
                       201, "start upload");
  const std::string up_url = "/api/slide-uploads/" + std::to_string(up["id"].get<std::int64_t>());
  const auto chunk = up["chunk_bytes"].get<std::int64_t>();
  std::ifstream in(slide_path, std::ios::binary);
  std::string buf(size_t(chunk), '\0');
  for (std::int64_t at = 0; at < file_bytes; at += chunk) {
    const auto n = std::min(chunk, file_bytes - at);
    in.read(buf.data(), n);
    must(c.Put((up_url + "?offset=" + std::to_string(at)).c_str(), s.headers(), buf.data(), size_t(n),
               "application/octet-stream"),
         200, "chunk");
  }
  const Json image = must(c.Post((up_url + "/finish").c_str(), s.headers(), "{}", "application/json"), 201, "finish");
  const double upload_s = since(t);
  const std::string base = "/api/images/" + std::to_string(image["id"].get<std::int64_t>());
  const std::int64_t width = image["width"], height = image["height"];

  // First overview, cold: the descriptor and the tile holding the whole slide.
  const ms::DeepZoomLayout layout{width, height, 254, 1};
  int overview = layout.max_level();
  while (overview > 0 && (layout.columns(overview) > 1 || layout.rows(overview) > 1)) --overview;
  t = Clock::now();
  must(c.Get((base + "/dzi").c_str(), s.headers()), 200, "descriptor");
  must(c.Get((base + "/dzi_files/" + std::to_string(overview) + "/0_0.jpeg").c_str(), s.headers()), 200, "overview");
  const double first_overview_s = since(t);

  // Tiles/s over HTTP, cold then warm, the same random list split over 4 clients.
  std::mt19937 rng(1);
  std::vector<std::string> urls;
  for (int i = 0; i < tiles; ++i) {
    const int level = layout.max_level() - int(rng() % 3);
    const auto col = std::int64_t(rng() % std::uint64_t(layout.columns(level)));
    const auto row = std::int64_t(rng() % std::uint64_t(layout.rows(level)));
    urls.push_back(base + "/dzi_files/" + std::to_string(level) + "/" + std::to_string(col) + "_" +
                   std::to_string(row) + ".jpeg");
  }
  auto fetch_all = [&] {
    std::atomic<size_t> next{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> clients;
    for (int k = 0; k < 4; ++k)
      clients.emplace_back([&] {
        httplib::Client cc("127.0.0.1", s.port());
        cc.set_keep_alive(true);
        for (size_t i = next++; i < urls.size(); i = next++) {
          auto r = cc.Get(urls[i].c_str(), s.headers());
          if (!r || r->status != 200) ++errors;
        }
      });
    for (auto& th : clients) th.join();
    if (errors) throw std::runtime_error(std::to_string(errors.load()) + " tile requests failed");
  };
  t = Clock::now();
  fetch_all();
  const double cold_tiles_per_s = double(urls.size()) / since(t);
  t = Clock::now();
  fetch_all();
  const double warm_tiles_per_s = double(urls.size()) / since(t);

  t = Clock::now();
  const Json survey = must(c.Get((base + "/suggested-areas").c_str(), s.headers()), 200, "suggested areas");
  const double survey_s = since(t);

  // The area: the first mosaic copy, one job run by the server's worker.
  const Json job = must(c.Post((base + "/areas").c_str(), s.headers(),
                               Json{{"x", 0}, {"y", 0}, {"w", mosaic.image.cols}, {"h", mosaic.image.rows}}.dump(),
                               "application/json"),
                        201, "area");
  s.wait_for_jobs(c, sample);
  const Json done = must(c.Get(("/api/jobs/" + std::to_string(job["id"].get<std::int64_t>())).c_str(), s.headers()),
                         200, "job");
  if (done["status"] != "done") throw std::runtime_error("area job: " + done.dump());
  const double area_s = double(done["finished_at"].get<std::int64_t>() - done["started_at"].get<std::int64_t>()) / 1000.0;
  std::vector<ms::Box> found;
  for (int offset = 0;; offset += 1000) {
    const Json page = must(c.Get((base + "/cells?limit=1000&offset=" + std::to_string(offset)).c_str(), s.headers()),
                           200, "cells");
    for (const auto& cell : page["items"])
      found.push_back({cell["x1"].get<float>(), cell["y1"].get<float>(), cell["x2"].get<float>(), cell["y2"].get<float>()});
    if (page["items"].size() < 1000) break;
  }
  std::vector<bool> used(found.size(), false);
  size_t hits = 0;
  for (const auto& truth : mosaic.white_cells) {
    float best = 0.5f;
    long at = -1;
    for (size_t i = 0; i < found.size(); ++i)
      if (!used[i] && ms::iou(truth, found[i]) >= best) best = ms::iou(truth, found[i]), at = long(i);
    if (at >= 0) used[size_t(at)] = true, ++hits;
  }
  const double mp = double(mosaic.image.cols) * double(mosaic.image.rows) / 1e6;
  const Json out = {
      {"slide", {{"width", width}, {"height", height}, {"gigapixels", double(width) * double(height) / 1e9},
                 {"file_mib", double(file_bytes) / double(1 << 20)}}},
      {"torch_threads", threads},
      {"upload_s", upload_s},
      {"upload_mib_per_s", double(file_bytes) / double(1 << 20) / upload_s},
      {"first_overview_s", first_overview_s},
      {"tiles_per_s_cold", cold_tiles_per_s},
      {"tiles_per_s_warm", warm_tiles_per_s},
      {"survey_s", survey_s},
      {"suggested_areas", survey["areas"].size()},
      {"area", {{"megapixels", mp}, {"seconds", area_s}, {"cells", found.size()},
                {"cells_per_s", double(found.size()) / area_s}, {"megapixels_per_s", mp / area_s}}},
      {"known_wbc", mosaic.white_cells.size()},
      {"recall", mosaic.white_cells.empty() ? 0.0 : double(hits) / double(mosaic.white_cells.size())},
      {"peak_rss_mib", peak_rss_mib()},
  };
  std::printf("%s\n", out.dump(2).c_str());
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_slide_server: %s\n", e.what());
    return 1;
  }
}
