// `marrowscope calibrate-int8`: measures a model's activation ranges in float32 on its own training
// data and writes them beside the weights (int8.json), so that MARROWSCOPE_PRECISION=int8 can run
// its ResNet on 8-bit integers (engine/int8_calibration.h). A CNN classifier is measured on cells
// (--cells, a class<TAB>path list), a detector on fields (--fields, a folder of images).
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/app.h"
#include "engine/classifier/cell_list.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/predict/int8_measure.h"
#include "models/runtime.h"

namespace ms::cli {

namespace fs = std::filesystem;

void register_calibrate_int8(CLI::App& app) {
  struct Args {
    std::string model, data, cells, fields, method = "auto";
    int max_items = 512;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "calibrate-int8", "Write a model folder's int8 calibration (int8.json) from its own training cells or fields");
  cmd->add_option("--model", a->model, "classifier or detector folder (written into)")->required();
  auto* cells = cmd->add_option("--cells", a->cells,
                                "classifier: cells to measure on (class<TAB>path lines: the model's training cells, "
                                "never the ones it is scored on)");
  cmd->add_option("--data", a->data, "classifier: folder that relative paths in --cells start at")->needs(cells);
  auto* fields = cmd->add_option("--fields", a->fields,
                                 "detector: folder of training field images (never the ones it is scored on)");
  cells->excludes(fields);
  cmd->add_option("--max-items", a->max_items, "at most this many cells or fields, spread evenly")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--method", a->method,
                  "each point's range: minmax (everything seen), mse (the clip with least expected 8-bit "
                  "error, from a histogram), or auto: minmax for a classifier, mse for a detector")
      ->check(CLI::IsMember({"auto", "mse", "minmax"}));
  cmd->callback([a] {
    init_torch_runtime();
    if (a->cells.empty() == a->fields.empty())
      throw MarrowError(ErrorCode::kInvalidArgument, "calibrate-int8: give --cells (a classifier) or --fields (a detector)");
    Int8MeasureRequest r;
    r.model_dir = a->model;
    r.max_items = static_cast<size_t>(a->max_items);
    // A classifier keeps every extreme its training cells reach: its atypical score lives on the
    // features of unusual cells, and clipping them to the typical range hid some (another lab's
    // cells flagged 64.0% with mse, 69.7% with minmax, 68.7% in bf16; docs/RESULTS.md). A
    // detector's boxes are tighter with mse (val WBC AP90 0.476 against 0.458 with minmax).
    r.method = a->method != "auto" ? a->method : a->cells.empty() ? "mse" : "minmax";
    r.progress = [](const std::string& line) { std::cerr << line << "\r" << std::flush; };
    Result<Int8Calibration> c;
    if (!a->cells.empty()) {
      if (a->data.empty()) throw MarrowError(ErrorCode::kInvalidArgument, "calibrate-int8: --cells needs --data");
      auto model = read_classifier_model_info(a->model);
      if (!model) throw MarrowError(model.error());
      auto list = read_cell_list(a->cells, a->data, model->classes);
      if (!list) throw MarrowError(list.error());
      for (const auto& cell : list->cells) r.image_paths.push_back(cell.image_path);
      if (r.image_paths.empty()) throw MarrowError(ErrorCode::kInvalidArgument, a->cells + ": no cells");
      r.provenance = {{"cells", a->cells}, {"data", a->data}};
      c = calibrate_classifier_int8(r);
    } else {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(a->fields, ec))
        if (e.is_regular_file() && has_image_extension(e.path().string()))
          r.image_paths.push_back(e.path().string());
      if (ec) throw MarrowError(ErrorCode::kNotFound, a->fields + ": " + ec.message());
      if (r.image_paths.empty()) throw MarrowError(ErrorCode::kInvalidArgument, a->fields + ": no images");
      std::sort(r.image_paths.begin(), r.image_paths.end());
      r.provenance = {{"fields", a->fields}};
      c = calibrate_detector_int8(r);
    }
    std::cerr << "\n";
    if (!c) throw MarrowError(c.error());
    const bool cells = !a->cells.empty();
    std::cout << fmt::format("{}/{}: {} activation ranges from {} {}\n", a->model, kInt8File, c->ranges.size(),
                             c->provenance.at(cells ? "measured_cells" : "measured_fields").get<size_t>(),
                             cells ? "cells" : "fields");
  });
}

}  // namespace ms::cli
