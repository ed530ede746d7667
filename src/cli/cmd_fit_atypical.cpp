// `marrowscope fit-atypical`: writes a classifier folder's atypical reference (atypical.json) from
// cells of the classes it was trained on: class means and shared covariance on the fitting cells,
// the distance scale on held-out cells (engine/classifier/atypical.h).
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/app.h"
#include "core/image.h"
#include "engine/classifier/atypical.h"
#include "engine/classifier/cell_list.h"
#include "engine/predict/classifier_predictor.h"
#include "models/runtime.h"

namespace ms::cli {

namespace {

// Embeddings of the listed cells, decoded and embedded a few hundred at a time (bounded memory).
void embed_cells(ClassifierPredictor& pred, const CellDataset& ds, std::vector<std::vector<float>>& emb,
                 std::vector<int>& labels) {
  constexpr size_t kChunk = 256;
  const auto& cells = ds.cells;
  for (size_t b = 0; b < cells.size(); b += kChunk) {
    std::vector<cv::Mat> crops;
    for (size_t i = b; i < std::min(cells.size(), b + kChunk); ++i) {
      auto img = read_image(cells[i].image_path);
      if (!img) throw MarrowError(img.error().code, cells[i].image_path + ": " + img.error().message);
      crops.push_back(std::move(*img));
      labels.push_back(cells[i].class_id);
    }
    for (auto& e : pred.embed(crops)) emb.push_back(std::move(e));
    std::cerr << "embedded " << emb.size() << " cells\r" << std::flush;
  }
  std::cerr << "\n";
}

}  // namespace

void register_fit_atypical(CLI::App& app) {
  struct Args {
    std::string model, data, fit, calibration, device = "cpu";
    double shrinkage = 0.05;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "fit-atypical", "Write a classifier folder's atypical reference (atypical.json) from cells of its classes");
  cmd->add_option("--model", a->model, "classifier folder (written into)")->required();
  cmd->add_option("--data", a->data, "folder that relative paths in the lists start at")->required();
  cmd->add_option("--fit", a->fit, "cells the class means and covariance come from (class<TAB>path lines: "
                                   "the model's training cells)")->required();
  cmd->add_option("--calibration", a->calibration,
                  "held-out cells of the same lab that set the score's scale (class<TAB>path lines)")->required();
  cmd->add_option("--shrinkage", a->shrinkage, "covariance shrinkage toward its mean variance, [0, 1)")
      ->check(CLI::Range(0.0, 0.999));
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->callback([a] {
    init_torch_runtime();
    auto loaded = ClassifierPredictor::load(a->model, a->device);
    if (!loaded) throw MarrowError(loaded.error());
    auto& pred = **loaded;
    auto fit_cells = read_cell_list(a->fit, a->data, pred.classes());
    if (!fit_cells) throw MarrowError(fit_cells.error());
    auto cal_cells = read_cell_list(a->calibration, a->data, pred.classes());
    if (!cal_cells) throw MarrowError(cal_cells.error());
    std::vector<std::vector<float>> fit_emb, cal_emb;
    std::vector<int> fit_labels, cal_labels;
    embed_cells(pred, *fit_cells, fit_emb, fit_labels);
    embed_cells(pred, *cal_cells, cal_emb, cal_labels);
    auto ref = fit_atypical(fit_emb, fit_labels, pred.classes(), cal_emb, a->shrinkage);
    if (!ref) throw MarrowError(ref.error());
    ref->provenance = {{"model_version", pred.version()},
                       {"fit", a->fit},
                       {"calibration", a->calibration},
                       {"data", a->data},
                       {"fit_cells", fit_emb.size()},
                       {"calibration_cells", cal_emb.size()},
                       {"test_time_views", pred.test_time_views()}};
    if (auto s = write_atypical(a->model, *ref); !s) throw MarrowError(s.error());
    const auto& c = ref->calibration;
    std::cout << fmt::format("{}/{}: {} classes, {} fitting cells, {} calibration cells; distance median {:.1f}, "
                             "95th percentile {:.1f}\n",
                             a->model, kAtypicalFile, ref->classes.size(), fit_emb.size(), c.size(),
                             c[c.size() / 2], c[std::min(c.size() - 1, c.size() * 95 / 100)]);
  });
}

}  // namespace ms::cli
