// `marrowscope classify` and `marrowscope eval-classifier`: inference with a classifier folder.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/app.h"
#include "core/config.h"
#include "core/image.h"
#include "core/paths.h"
#include "data/formats/formats.h"
#include "engine/classifier/cell_cache.h"
#include "engine/classifier/classifier_evaluator.h"
#include "engine/classifier/classifier_report.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/classifier_predictor_impl.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"
#include "pipeline/pipeline.h"

namespace ms::cli {

namespace fs = std::filesystem;

std::string default_classifier_dir() { return default_model_dir("classifier"); }

namespace {

std::unique_ptr<ClassifierPredictor> load_predictor(const std::string& dir, const std::string& device) {
  auto p = ClassifierPredictor::load(dir.empty() ? default_classifier_dir() : dir, device);
  if (!p) throw MarrowError(p.error());
  return std::move(*p);
}

// --views: dihedral test-time views (models/classifier/test_time_views.h); 0 keeps model.json's.
void add_views_option(CLI::App* cmd, int& views) {
  cmd->add_option("--views", views,
                  "test-time views averaged per cell: 1, 2, 4 or 8 (default: the model's test_time_views)")
      ->check(CLI::IsMember({1, 2, 4, 8}));
}

void register_classify_cmd(CLI::App& app) {
  struct Args {
    std::vector<std::string> images;
    std::string model, detector, device = "cpu";
    bool json = false, red_cell_scale = false;
    double um_per_px = 0;
    int top = 3;
    int views = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("classify", "Classify single-cell images");
  cmd->add_flag("--red-cell-scale", a->red_cell_scale,
                "frame each image like the field pipeline's crops, measuring the red cells it shows (runs the detector)");
  cmd->add_option("--um-per-px", a->um_per_px,
                  "the images' microns per pixel: frames them like the field pipeline's crops (after --red-cell-scale "
                  "when an image shows too few red cells)")
      ->check(CLI::Range(0.001, 100.0));
  cmd->add_option("--detector", a->detector, "detector folder for --red-cell-scale (default: the shipped one)");
  cmd->add_option("images", a->images, "image files (any format, decoded by content)")->required();
  cmd->add_option("--model", a->model, "classifier folder (default: the shipped one)");
  cmd->add_flag("--json", a->json, "one JSON array on stdout");
  cmd->add_option("--top", a->top, "classes listed per image")->check(CLI::PositiveNumber);
  add_views_option(cmd, a->views);
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->callback([a] {
    init_torch_runtime();
    std::shared_ptr<ClassifierPredictor> pred = load_predictor(a->model, a->device);
    if (a->views) pred->set_test_time_views(a->views);
    const auto& classes = pred->classes();
    // Framing by scale goes through the pipeline (its red-cell ruler and crop rule).
    std::unique_ptr<Pipeline> pipeline;
    CellImageScale scale;
    scale.from_red_cells = a->red_cell_scale;
    scale.um_per_px = a->um_per_px;
    if (a->red_cell_scale || a->um_per_px > 0) {
      auto det = DetectorPredictor::load(a->detector.empty() ? default_model_dir("detector") : a->detector, a->device);
      if (!det) throw MarrowError(det.error());
      pipeline = std::make_unique<Pipeline>(std::shared_ptr<DetectorPredictor>(std::move(*det)), pred);
    }
    Json out = Json::array();
    for (const auto& path : a->images) {
      Json item = {{"image", path}};
      auto img = read_image(path);
      if (!img) {
        item["error"] = img.error().message;  // the rest go on
      } else {
        cv::Mat input = *img;
        if (pipeline) {
          const FramedCell f = pipeline->frame_cell_images({*img}, scale).front();
          item["framing"] = {{"source", f.source}, {"rbc_side_px", f.rbc_side_px}, {"crop_side", f.crop.cols},
                             {"cell_found", f.cell_found}};
          input = f.crop;
        }
        auto p = pred->classify({input}).front();
        std::vector<int> order(p.probs.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return p.probs[x] > p.probs[y]; });
        item["class"] = classes[p.class_id];
        item["probability"] = p.probability;
        if (p.atypical >= 0) item["atypical"] = p.atypical;
        Json top = Json::array();
        for (int k = 0; k < std::min<int>(a->top, static_cast<int>(order.size())); ++k)
          top.push_back({{"class", classes[order[k]]}, {"probability", p.probs[order[k]]}});
        item["top"] = top;
      }
      if (!a->json) {
        if (item.contains("error"))
          std::cout << path << "\terror: " << item["error"].get<std::string>() << "\n";
        else
          std::cout << path << "\t" << item["class"].get<std::string>() << "\t"
                    << item["probability"].get<float>() << "\n";
      }
      out.push_back(item);
    }
    if (a->json) std::cout << out.dump(2) << "\n";
  });
}

void register_eval_cmd(CLI::App& app) {
  struct Args {
    std::string model, data, json, report, embeddings, device = "cpu";
    bool ignore_unknown = false;
    int batch = 64;
    int views = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval-classifier", "Evaluate a classifier on a folder-per-class tree");
  cmd->add_option("--model", a->model, "classifier folder (default: the shipped one)");
  cmd->add_option("--data", a->data, "folder-per-class tree (folder names = class names)")->required();
  cmd->add_option("--json", a->json, "write metrics JSON here")->required();
  cmd->add_flag("--ignore-unknown", a->ignore_unknown, "skip folders naming classes the model lacks");
  cmd->add_option("--report", a->report,
                  "write a self-contained HTML report here (default: report.html beside --json)");
  cmd->add_option("--embeddings", a->embeddings,
                  "write per-image features (ViT class token / CNN pooled) with label and prediction as CSV");
  cmd->add_option("--batch", a->batch, "batch size")->check(CLI::PositiveNumber);
  add_views_option(cmd, a->views);
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->callback([a] {
    init_torch_runtime();
    auto pred = load_predictor(a->model, a->device);
    if (a->views) pred->set_test_time_views(a->views);
    auto& impl = pred->impl();
    auto ds = read_folder_tree(a->data);
    if (!ds) throw MarrowError(ds.error());
    // Map the folder classes onto the model's classes.
    const auto& classes = pred->classes();
    CellDataset mapped;
    mapped.classes = classes;
    std::vector<std::string> unknown;
    for (const auto& cell : ds->cells) {
      const std::string& name = ds->classes[cell.class_id];
      const auto it = std::find(classes.begin(), classes.end(), name);
      if (it == classes.end()) {
        if (std::find(unknown.begin(), unknown.end(), name) == unknown.end()) unknown.push_back(name);
        continue;
      }
      mapped.cells.push_back({cell.image_path, static_cast<int>(it - classes.begin())});
    }
    if (!unknown.empty() && !a->ignore_unknown) {
      std::string list;
      for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
      throw MarrowError(ErrorCode::kInvalidArgument,
                        a->data + ": expected class folders the model knows, found " + list +
                            " (use --ignore-unknown to skip them)");
    }
    auto cache = build_cell_cache(mapped, impl.cache_side);
    if (!cache) throw MarrowError(cache.error());
    for (const auto& s : cache->skipped) std::cerr << "skipped " << s << "\n";
    std::vector<int> idx(cache->images.size());
    std::iota(idx.begin(), idx.end(), 0);
    auto preds = predict_cells(*impl.net, *cache, idx, impl.info.model.input_size,
                               impl.info.normalization, a->batch, impl.device, !a->embeddings.empty(),
                               pred->test_time_views());
    auto m = score_predictions(preds, classes);
    if (!m) throw MarrowError(m.error());
    // Exactly the documented keys scripts rely on; skipped folders go to stderr and the report.
    const Json j = evaluation_json(*m, preds);
    if (auto s = write_json_file(a->json, j); !s) throw MarrowError(s.error());
    std::string ignored;
    for (const auto& u : unknown) ignored += (ignored.empty() ? "" : ", ") + u;
    if (!unknown.empty()) std::cerr << "ignored class folders the model lacks: " << ignored << "\n";
    const std::string report =
        a->report.empty() ? (fs::path(a->json).parent_path() / "report.html").string() : a->report;
    if (auto s = write_classifier_eval_report(
            report, "Classifier evaluation — " + pred->version(), *m,
            {{"model", pred->version()},
             {"model folder", a->model.empty() ? default_classifier_dir() : a->model},
             {"data", a->data},
             {"cells", std::to_string(m->num_samples)},
             {"precision", pred->precision()},
             {"test-time views", std::to_string(pred->test_time_views()) +
                                     (a->views ? " (--views)" : " (model.json)")},
             {"skipped files", std::to_string(cache->skipped.size())},
             {"ignored class folders", ignored.empty() ? "none" : ignored},
             {"cells per second", fmt::format("{:.1f} (batch {}, {})", j["cells_per_second"].get<double>(),
                                              a->batch, a->device)}});
        !s)
      throw MarrowError(s.error());
    if (!a->embeddings.empty()) {
      if (auto s = write_embeddings_csv(a->embeddings, preds, cache->paths, classes); !s)
        throw MarrowError(s.error());
    }
    std::cout << "accuracy " << m->accuracy << " macro-F1 " << m->macro_f1 << " on "
              << m->num_samples << " cells, " << j["cells_per_second"].get<double>()
              << " cells/s -> " << a->json << ", " << report << "\n";
  });
}

}  // namespace

void register_classify(CLI::App& app) {
  register_classify_cmd(app);
  register_eval_cmd(app);
}

}  // namespace ms::cli
