// `marrowscope classify` and `marrowscope eval-classifier`: inference with a classifier folder.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>

#include <CLI/CLI.hpp>

#include "cli/app.h"
#include "core/config.h"
#include "core/image.h"
#include "data/formats/formats.h"
#include "engine/classifier/cell_cache.h"
#include "engine/classifier/classifier_evaluator.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/classifier_predictor_impl.h"
#include "models/runtime.h"

namespace ms::cli {

namespace fs = std::filesystem;

// MARROWSCOPE_MODELS/classifier, else <dir of the binary>/../models/classifier.
std::string default_classifier_dir() {
  if (const char* env = std::getenv("MARROWSCOPE_MODELS"); env && *env)
    return (fs::path(env) / "classifier").string();
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "models/classifier";
  return (exe.parent_path().parent_path() / "models" / "classifier").string();
}

namespace {

std::unique_ptr<ClassifierPredictor> load_predictor(const std::string& dir, const std::string& device) {
  auto p = ClassifierPredictor::load(dir.empty() ? default_classifier_dir() : dir, device);
  if (!p) throw MarrowError(p.error());
  return std::move(*p);
}

void register_classify_cmd(CLI::App& app) {
  struct Args {
    std::vector<std::string> images;
    std::string model, device = "cpu";
    bool json = false;
    int top = 3;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("classify", "Classify single-cell images");
  cmd->add_option("images", a->images, "image files (any format, decoded by content)")->required();
  cmd->add_option("--model", a->model, "classifier folder (default: the shipped one)");
  cmd->add_flag("--json", a->json, "one JSON array on stdout");
  cmd->add_option("--top", a->top, "classes listed per image")->check(CLI::PositiveNumber);
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->callback([a] {
    init_torch_runtime();
    auto pred = load_predictor(a->model, a->device);
    const auto& classes = pred->classes();
    Json out = Json::array();
    for (const auto& path : a->images) {
      Json item = {{"image", path}};
      auto img = read_image(path);
      if (!img) {
        item["error"] = img.error().message;  // the rest go on
      } else {
        auto p = pred->classify({*img}).front();
        std::vector<int> order(p.probs.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return p.probs[x] > p.probs[y]; });
        item["class"] = classes[p.class_id];
        item["probability"] = p.probability;
        item["entropy"] = p.entropy;
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
    std::string model, data, json, embeddings, device = "cpu";
    bool ignore_unknown = false;
    int batch = 64;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval-classifier", "Evaluate a classifier on a folder-per-class tree");
  cmd->add_option("--model", a->model, "classifier folder (default: the shipped one)");
  cmd->add_option("--data", a->data, "folder-per-class tree (folder names = class names)")->required();
  cmd->add_option("--json", a->json, "write metrics JSON here")->required();
  cmd->add_flag("--ignore-unknown", a->ignore_unknown, "skip folders naming classes the model lacks");
  cmd->add_option("--embeddings", a->embeddings, "write embedding features + labels as CSV");
  cmd->add_option("--batch", a->batch, "batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->callback([a] {
    init_torch_runtime();
    auto pred = load_predictor(a->model, a->device);
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
                               impl.info.normalization, a->batch, impl.device, !a->embeddings.empty());
    auto m = score_predictions(preds, classes);
    if (!m) throw MarrowError(m.error());
    Json j = evaluation_json(*m, preds);
    j["model"] = pred->version();
    j["ignored_classes"] = unknown;
    if (auto s = write_json_file(a->json, j); !s) throw MarrowError(s.error());
    if (!a->embeddings.empty()) {
      std::ofstream f(a->embeddings);
      if (!f) throw MarrowError(ErrorCode::kIo, a->embeddings + ": cannot write file");
      const size_t d = preds.embeddings.empty() ? 0 : preds.embeddings[0].size();
      f << "image,label";
      for (size_t k = 0; k < d; ++k) f << ",f" << k;
      f << "\n";
      for (size_t i = 0; i < preds.embeddings.size(); ++i) {
        f << '"' << cache->paths[preds.indices[i]] << "\"," << classes[preds.truth[i]];
        for (float v : preds.embeddings[i]) f << "," << v;
        f << "\n";
      }
    }
    std::cout << "accuracy " << m->accuracy << " macro-F1 " << m->macro_f1 << " on "
              << m->num_samples << " cells, " << j["cells_per_second"].get<double>()
              << " cells/s -> " << a->json << "\n";
  });
}

}  // namespace

void register_classify(CLI::App& app) {
  register_classify_cmd(app);
  register_eval_cmd(app);
}

}  // namespace ms::cli
