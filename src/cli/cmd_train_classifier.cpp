// `marrowscope train-classifier`: trains a ViT or CNN cell classifier on a folder-per-class tree.
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/app.h"
#include "core/config.h"
#include "engine/classifier/classifier_trainer.h"
#include "models/runtime.h"

namespace ms::cli {

void register_train_classifier(CLI::App& app) {
  struct Args {
    std::string config, data, out, device = "cpu";
    std::vector<std::string> sets;
    bool resume = false;
    int folds = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train-classifier",
                                 "Train a cell classifier (ViT or CNN) on a folder-per-class tree");
  cmd->add_option("--config", args->config, "configs/classifier/NAME.json (defaults when omitted)");
  cmd->add_option("--data", args->data, "folder-per-class tree (folder names = classes)")->required();
  cmd->add_option("--out", args->out, "run folder (checkpoints, metrics.jsonl, model/)")->required();
  cmd->add_flag("--resume", args->resume, "continue from the newest checkpoint in --out");
  cmd->add_option("--folds", args->folds, "K-fold cross-validation (K >= 2)");
  cmd->add_option("--set", args->sets, "override a config key: optim.lr=0.001 (repeatable)");
  cmd->add_option("--device", args->device, "cpu | cuda");
  cmd->callback([args] {
    init_torch_runtime();
    auto cfg = load_config<ClassifierTrainConfig>(args->config, args->sets);
    if (!cfg) throw MarrowError(cfg.error());
    ClassifierTrainRequest req;
    req.config = *cfg;
    req.data_dir = args->data;
    req.out_dir = args->out;
    req.device = args->device;
    req.resume = args->resume;
    req.folds = args->folds;
    std::ostringstream cmdline;
    cmdline << "marrowscope train-classifier";
    if (!args->config.empty()) cmdline << " --config " << args->config;
    cmdline << " --data " << args->data << " --out " << args->out;
    for (const auto& s : args->sets) cmdline << " --set " << s;
    if (args->folds) cmdline << " --folds " << args->folds;
    if (args->resume) cmdline << " --resume";
    req.command = cmdline.str();
    auto r = train_classifier(req);
    if (!r) throw MarrowError(r.error());
    if (r->folds > 1)
      std::cout << "done: " << r->folds << "-fold accuracy " << r->best_accuracy << " +- "
                << r->accuracy_sd << ", macro-F1 " << r->best_macro_f1 << " +- " << r->macro_f1_sd;
    else
      std::cout << "done: best val accuracy " << r->best_accuracy << " (epoch " << r->best_epoch
                << "), macro-F1 " << r->best_macro_f1;
    if (!r->model_dir.empty()) std::cout << "; model in " << r->model_dir;
    if (!r->report.empty()) std::cout << "; report " << r->report;
    std::cout << "\n";
  });
}

}  // namespace ms::cli
