// `marrowscope adapt`: fine-tunes a classifier folder on a lab's reviewed cells with replay of its
// original training cells, and writes a new model folder (engine/classifier/classifier_adapt.h).
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/app.h"
#include "core/config.h"
#include "engine/classifier/classifier_adapt.h"
#include "models/runtime.h"

namespace ms::cli {

void register_adapt(CLI::App& app) {
  struct Args {
    std::string model, cells, replay_list, replay_data, out, version, options_file;
    int epochs = 0;
    int seed = -1;
    std::vector<std::string> command;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "adapt", "Fine-tune a classifier on a lab's reviewed cells (with replay) into a new model folder");
  cmd->add_option("--model", a->model, "classifier folder to start from (default: the shipped one; not changed)");
  cmd->add_option("--cells", a->cells,
                  "the lab's reviewed cells: a folder-per-class tree (the app's training export, format folder)")
      ->required();
  cmd->add_option("--replay-list", a->replay_list,
                  "the base model's training cells (class<TAB>path lines, e.g. models/classifier/split/train.txt)");
  cmd->add_option("--replay-data", a->replay_data, "folder the replay list's relative paths start at");
  cmd->add_option("--out", a->out, "new model folder (must not exist)")->required();
  cmd->add_option("--version", a->version, "version name of the new model (default: <base>-adapted-<UTC time>)");
  cmd->add_option("--options", a->options_file, "JSON file of adaptation options (classifier_adapt.h AdaptOptions)");
  cmd->add_option("--epochs", a->epochs, "at most this many epochs (overrides the options)")
      ->check(CLI::Range(1, 200));
  cmd->add_option("--seed", a->seed, "seed of the split, replay draw and augmentation")->check(CLI::NonNegativeNumber);
  cmd->callback([a] {
    init_torch_runtime();
    AdaptRequest req;
    req.base_model = a->model.empty() ? default_classifier_dir() : a->model;
    req.lab_cells = a->cells;
    req.replay_list = a->replay_list;
    req.replay_data = a->replay_data;
    req.out = a->out;
    req.version = a->version;
    req.command = fmt::format("marrowscope adapt --cells {} --out {}", a->cells, a->out);
    if (!a->options_file.empty()) {
      auto j = read_json_file(a->options_file);
      if (!j) throw MarrowError(j.error());
      auto o = parse_config<AdaptOptions>(*j, a->options_file);
      if (!o) throw MarrowError(o.error());
      req.options = *o;
    }
    if (a->epochs > 0) req.options.max_epochs = a->epochs;
    if (a->seed >= 0) req.options.seed = static_cast<uint64_t>(a->seed);
    req.log = [](const std::string& s) { std::cout << s << std::endl; };
    auto r = adapt_classifier(req);
    if (!r) throw MarrowError(r.error());
    std::cout << fmt::format("adapted {} -> {} ({}): held-back accuracy {:.4f} -> {:.4f} on {} cells\n",
                             req.base_model, r->model_dir, r->version, r->before_accuracy, r->after_accuracy,
                             r->held_back);
  });
}

}  // namespace ms::cli
