// `marrowscope train-detector`: trains a RetinaNet-family cell detector on annotated fields.
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/app.h"
#include "core/config.h"
#include "engine/detector/detector_trainer.h"
#include "engine/detector/field_source.h"
#include "models/runtime.h"

namespace ms::cli {

void register_train_detector(CLI::App& app) {
  struct Args {
    std::string config, data, out, device = "cpu";
    std::vector<std::string> sets;
    bool resume = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train-detector", "Train a RetinaNet cell detector on annotated fields");
  cmd->add_option("--config", args->config, "configs/detector/NAME.json (with --resume: default <out>/config.json)");
  cmd->add_option("--data", args->data, "dataset folder (COCO: the JSON file); format and splits from the config")
      ->required();
  cmd->add_option("--out", args->out, "run folder (checkpoints, metrics.jsonl, report.html, model/)")->required();
  cmd->add_flag("--resume", args->resume, "continue from the newest epoch checkpoint in --out");
  cmd->add_option("--set", args->sets, "override a config key: optim.epochs=12 (repeatable)");
  cmd->add_option("--device", args->device, "cpu | cuda[:N]");
  cmd->callback([args] {
    init_torch_runtime();
    std::string config_path = args->config;
    // A resumed run continues under the config it started with unless one is named.
    if (args->resume && config_path.empty())
      config_path = (std::filesystem::path(args->out) / "config.json").string();
    auto cfg = load_config<DetectorTrainConfig>(config_path, args->sets);
    if (!cfg) throw MarrowError(cfg.error());
    const auto& d = cfg->data;
    auto train = read_detection_fields({args->data, d.format, d.train_split, d.class_map}, cfg->model.classes);
    if (!train) throw MarrowError(train.error());
    FieldDataset val;
    val.classes = cfg->model.classes;
    if (!d.val_split.empty()) {
      auto v = read_detection_fields({args->data, d.format, d.val_split, d.class_map}, cfg->model.classes);
      if (!v) throw MarrowError(v.error());
      val = std::move(*v);
    }
    std::ostringstream cmdline;
    cmdline << "marrowscope train-detector";
    if (!args->config.empty()) cmdline << " --config " << args->config;
    cmdline << " --data " << args->data << " --out " << args->out;
    for (const auto& s : args->sets) cmdline << " --set " << s;
    if (args->resume) cmdline << " --resume";
    DetectorRunOptions run;
    run.out_dir = args->out;
    run.resume = args->resume;
    run.device = args->device;
    run.command = cmdline.str();
    run.data = args->data + " (" + d.format + ", train split '" + d.train_split + "', val split '" + d.val_split + "')";
    auto r = train_detector(*cfg, *train, val, run, std::cout);
    if (!r) throw MarrowError(r.error());
    std::cout << "done: " << r->epochs_done << " epochs, best " << cfg->best_metric << " " << r->best_metric
              << " at epoch " << r->best_epoch << "; model in " << (std::filesystem::path(args->out) / "model").string()
              << "\n";
  });
}

}  // namespace ms::cli
