// `marrowscope train-detector`: trains a RetinaNet-family cell detector on annotated fields.
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/app.h"
#include "core/config.h"
#include "engine/detector/detector_model_file.h"
#include "engine/detector/detector_trainer.h"
#include "engine/detector/field_source.h"
#include "models/runtime.h"

namespace ms::cli {

void register_train_detector(CLI::App& app) {
  struct Args {
    std::string config, data, out, device = "cpu", init;
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
  cmd->add_option("--init", args->init,
                  "fine-tune: start from this detector folder's weights, with its architecture, classes and "
                  "input size (e.g. on a training export, configs/detector/finetune_corrections.json)");
  cmd->callback([args] {
    init_torch_runtime();
    std::string config_path = args->config;
    // A resumed run continues under the config it started with unless one is named.
    if (args->resume && config_path.empty())
      config_path = (std::filesystem::path(args->out) / "config.json").string();
    auto cfg = load_config<DetectorTrainConfig>(config_path, args->sets);
    if (!cfg) throw MarrowError(cfg.error());
    if (!args->init.empty()) {
      // A fine-tune keeps the network it starts from: the architecture is the folder's.
      auto info = read_detector_model_info(args->init);
      if (!info) throw MarrowError(info.error());
      cfg->model = info->model;
      cfg->init_from = args->init;
    }
    const auto& d = cfg->data;
    auto train = read_detection_fields({args->data, d.format, d.train_split, d.class_map}, cfg->model.classes);
    if (!train) throw MarrowError(train.error());
    FieldDataset val, replay;
    val.classes = replay.classes = cfg->model.classes;
    const auto& r = d.replay;
    if (!d.val_split.empty()) {
      auto v = read_detection_fields({args->data, d.format, d.val_split, d.class_map}, cfg->model.classes);
      if (!v) throw MarrowError(v.error());
      val = std::move(*v);
    } else if (!r.path.empty() && !r.val_split.empty()) {
      auto v = read_detection_fields({r.path, r.format, r.val_split, r.class_map}, cfg->model.classes);
      if (!v) throw MarrowError(v.error());
      val = std::move(*v);
    }
    if (!r.path.empty()) {
      auto rp = read_detection_fields({r.path, r.format, r.split, r.class_map}, cfg->model.classes);
      if (!rp) throw MarrowError(rp.error());
      replay = std::move(*rp);
    }
    std::ostringstream cmdline;
    cmdline << "marrowscope train-detector";
    if (!args->config.empty()) cmdline << " --config " << args->config;
    cmdline << " --data " << args->data << " --out " << args->out;
    for (const auto& s : args->sets) cmdline << " --set " << s;
    if (!args->init.empty()) cmdline << " --init " << args->init;
    if (args->resume) cmdline << " --resume";
    DetectorRunOptions run;
    run.out_dir = args->out;
    run.resume = args->resume;
    run.device = args->device;
    run.command = cmdline.str();
    run.data = args->data + " (" + d.format + ", train split '" + d.train_split + "', val split '" + d.val_split + "')";
    if (!r.path.empty()) run.data += "; replay " + r.path + " (" + r.format + ", split '" + r.split + "')";
    auto res = train_detector(*cfg, *train, val, replay, run, std::cout);
    if (!res) throw MarrowError(res.error());
    std::cout << "done: " << res->epochs_done << " epochs, best " << cfg->best_metric << " " << res->best_metric
              << " at epoch " << res->best_epoch << "; model in " << (std::filesystem::path(args->out) / "model").string()
              << "\n";
  });
}

}  // namespace ms::cli
