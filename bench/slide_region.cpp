// Whole-slide numbers on a generated slide: a mosaic of txl-pbc val fields (their WBC boxes known
// in slide coordinates) written as a JPEG-compressed tiled pyramidal TIFF with libvips, optionally
// replicated K x K times to reach gigapixel size. Measures time to the first overview tile, deep-
// zoom tiles rendered per second (in process: slide read + scale + JPEG encode), region analysis of
// the first mosaic copy in cells/s and megapixels/s, peak RSS, and WBC recall (IoU >= 0.5) of the
// region analysis against the same fields analysed one by one.
//
//   build/bench_slide_region [--data ../shared/data/txl-pbc] [--cols 18] [--rows 14]
//       [--replicate 1] [--tiles 400] [--work /tmp/ms_slide_bench] [--json OUT.json] [--no-fields]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/config.h"
#include "core/deep_zoom.h"
#include "core/image.h"
#include "core/paths.h"
#include "models/runtime.h"
#include "pipeline/pipeline.h"
#include "pipeline/slide_analysis.h"

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

// Known WBCs matched by a found cell with IoU >= 0.5, one cell per WBC.
size_t matched(const std::vector<ms::Box>& truth, const std::vector<ms::CellResult>& cells) {
  std::vector<bool> used(cells.size(), false);
  size_t hits = 0;
  for (const auto& t : truth) {
    float best = 0.5f;
    long at = -1;
    for (size_t i = 0; i < cells.size(); ++i)
      if (!used[i] && ms::iou(t, cells[i].box) >= best) best = ms::iou(t, cells[i].box), at = long(i);
    if (at >= 0) used[size_t(at)] = true, ++hits;
  }
  return hits;
}

int run(int argc, char** argv) {
  std::string data = "../shared/data/txl-pbc", work = "/tmp/ms_slide_bench", json_out;
  int cols = 18, rows = 14, replicate = 1, tiles = 400;
  bool no_fields = false;
  CLI::App app{"slide bench"};
  app.add_option("--data", data);
  app.add_option("--cols", cols);
  app.add_option("--rows", rows);
  app.add_option("--replicate", replicate, "K: the slide is the mosaic repeated K x K times");
  app.add_option("--tiles", tiles, "deep-zoom tiles to render for the tiles/s figure");
  app.add_option("--work", work);
  app.add_option("--json", json_out);
  app.add_flag("--no-fields", no_fields, "skip analysing the fields one by one");
  CLI11_PARSE(app, argc, argv);
  fs::create_directories(work);

  const auto mosaic = ms::testing::txl_pbc_mosaic(data, cols, rows);
  const std::string slide_path = work + "/slide.tif";
  auto t = Clock::now();
  if (const std::string err = ms::testing::write_replicated_slide(mosaic.image, work, replicate); !err.empty())
    throw std::runtime_error(err);
  const double write_s = since(t);

  // Time to the first overview tile: open the slide and render the level that fits in one tile.
  t = Clock::now();
  auto slide = ms::value_or_throw(ms::SlideReader::open(slide_path));
  const ms::DeepZoomLayout layout{slide->width(), slide->height(), 254, 1};
  int overview = layout.max_level();
  while (overview > 0 && (layout.columns(overview) > 1 || layout.rows(overview) > 1)) --overview;
  auto first = ms::value_or_throw(ms::render_deep_zoom_tile(*slide, layout, overview, 0, 0));
  ms::value_or_throw(ms::encode_image(first, ".jpg"));
  const double first_tile_s = since(t);

  // Tiles per second: random tiles of the three finest levels (what a reviewer panning asks for).
  std::mt19937 rng(1);
  t = Clock::now();
  for (int i = 0; i < tiles; ++i) {
    const int level = layout.max_level() - int(rng() % 3);
    const auto c = std::int64_t(rng() % uint64_t(layout.columns(level)));
    const auto r = std::int64_t(rng() % uint64_t(layout.rows(level)));
    ms::value_or_throw(ms::encode_image(ms::value_or_throw(ms::render_deep_zoom_tile(*slide, layout, level, c, r)), ".jpg"));
  }
  const double tiles_per_s = tiles / since(t);

  ms::init_torch_runtime();
  auto pipeline = ms::value_or_throw(
      ms::Pipeline::load(ms::default_model_dir("detector"), ms::default_model_dir("classifier")));
  const ms::SlideRegion area{0, 0, mosaic.image.cols, mosaic.image.rows};
  const double mp = double(area.w) * double(area.h) / 1e6;
  t = Clock::now();
  const auto region = ms::value_or_throw(ms::analyze_slide_region(*pipeline, *slide, area));
  const double region_s = since(t);
  const double region_rss = peak_rss_mib();
  const size_t region_hits = matched(mosaic.white_cells, region.cells);

  size_t field_hits = 0, field_cells = 0;
  double fields_s = 0;
  if (!no_fields) {
    t = Clock::now();
    std::vector<ms::CellResult> shifted;
    for (size_t i = 0; i < mosaic.fields.size(); ++i) {
      const float ox = float(int(i % size_t(cols)) * mosaic.cell_w), oy = float(int(i / size_t(cols)) * mosaic.cell_h);
      auto r = pipeline->analyze(ms::value_or_throw(ms::read_image(mosaic.fields[i])), mosaic.fields[i]);
      for (auto c : r.cells) {
        c.box = {c.box.x1 + ox, c.box.y1 + oy, c.box.x2 + ox, c.box.y2 + oy};
        shifted.push_back(c);
      }
    }
    fields_s = since(t);
    field_cells = shifted.size();
    field_hits = matched(mosaic.white_cells, shifted);
  }
  const size_t truth = mosaic.white_cells.size();
  const ms::Json out = {
      {"slide", {{"width", slide->width()}, {"height", slide->height()}, {"levels", slide->levels().size()},
                 {"gigapixels", double(slide->width()) * double(slide->height()) / 1e9}, {"write_s", write_s}}},
      {"first_overview_tile_s", first_tile_s},
      {"tiles_per_s", tiles_per_s},
      {"area", {{"megapixels", mp}, {"seconds", region_s}, {"cells", region.cells.size()},
                {"cells_per_s", double(region.cells.size()) / region_s}, {"megapixels_per_s", mp / region_s},
                {"largest_read_pixels", slide->largest_read_pixels()}, {"peak_rss_mib", region_rss}}},
      {"known_wbc", truth},
      {"recall_region", truth ? double(region_hits) / double(truth) : 0.0},
      {"recall_fields", truth && !no_fields ? double(field_hits) / double(truth) : 0.0},
      {"fields", {{"count", mosaic.fields.size()}, {"cells", field_cells}, {"seconds", fields_s}}},
      {"peak_rss_mib", peak_rss_mib()}};
  std::printf("%s\n", out.dump(2).c_str());
  if (!json_out.empty()) ms::value_or_throw(ms::write_json_file(json_out, out));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_slide_region: %s\n", e.what());
    return 1;
  }
}
