#pragma once
// Trains a cell classifier (ViT or CNN) on a folder-per-class tree: stratified hold-out split
// (or K folds), in-memory cache, augmentation, SGD or AdamW with warm-up and a schedule, CE
// (+ label smoothing) + contrastive loss, per-epoch validation, checkpoints every epoch and for
// the best epoch, exact resume, metrics.jsonl, and the best weights exported as a model folder.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/augment.h"
#include "data/sampler.h"
#include "engine/train/lr_schedule.h"
#include "models/classifier/classifier_factory.h"

namespace ms {

enum class OptimizerKind { kSgd, kAdamW };
inline const std::vector<std::pair<OptimizerKind, std::string>>& enum_names(OptimizerKind) {
  static const std::vector<std::pair<OptimizerKind, std::string>> n{{OptimizerKind::kSgd, "sgd"},
                                                                     {OptimizerKind::kAdamW, "adamw"}};
  return n;
}

// How a training epoch draws its cells.
//   shuffle   every training cell once, in a seeded random order;
//   balanced  data/sampler.h's ClassBalancedSampler (thesis ch. 5): classes above `balance.cap`
//             are capped, classes below `balance.target` are topped up with extra copies that get
//             a random flip or rotation (dihedral_augment) before the usual augmentation.
// "shuffle" is the default so that configs and run folders written before the option existed
// (the shipped model's run among them) resume unchanged.
enum class SamplingKind { kShuffle, kBalanced };
inline const std::vector<std::pair<SamplingKind, std::string>>& enum_names(SamplingKind) {
  static const std::vector<std::pair<SamplingKind, std::string>> n{{SamplingKind::kShuffle, "shuffle"},
                                                                    {SamplingKind::kBalanced, "balanced"}};
  return n;
}

struct ClassifierDataOptions {
  double crop_fraction = 0.875;  // the input is this fraction of the cached (resized) cell
  double val_fraction = 0.2;     // stratified hold-out when not running folds
  uint64_t split_seed = 42;
  AugmentOptions augment;
  SamplingKind sampling = SamplingKind::kShuffle;
  BalancedSamplerOptions balance;  // used when sampling = balanced (thesis: cap = target = 1000)
  // Standardise every input's stain onto the training cells' own (engine/train/stain_standardise.h);
  // the reference is measured on the training cells and written into the model's normalisation.
  bool stain_standardise = false;
  template <class V>
  void visit(V& v) {
    v("crop_fraction", crop_fraction); v("val_fraction", val_fraction);
    v("split_seed", split_seed); v("augment", augment); v("sampling", sampling);
    v("balance", balance); v("stain_standardise", stain_standardise);
  }
};

struct ClassifierOptimOptions {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double lr = 1e-3;
  double weight_decay = 0.05;
  double momentum = 0.9;             // SGD (Nesterov)
  int batch_size = 64;
  int epochs = 60;
  LrScheduleOptions schedule;
  double label_smoothing = 0.1;      // Szegedy et al. 2016
  double contrastive_weight = 1.0;   // 0 disables the contrastive term
  double contrastive_margin = 0.4;
  double grad_clip = 1.0;            // max global L2 norm; 0 disables
  template <class V>
  void visit(V& v) {
    v("kind", kind); v("lr", lr); v("weight_decay", weight_decay); v("momentum", momentum);
    v("batch_size", batch_size); v("epochs", epochs); v("schedule", schedule);
    v("label_smoothing", label_smoothing); v("contrastive_weight", contrastive_weight);
    v("contrastive_margin", contrastive_margin); v("grad_clip", grad_clip);
  }
};

struct ClassifierTrainConfig {
  std::string name = "classifier";
  ClassifierModelOptions model;
  ClassifierDataOptions data;
  ClassifierOptimOptions optim;
  uint64_t seed = 1;
  int keep_checkpoints = 2;   // newest epoch checkpoints kept (best/ is kept apart)
  int log_every = 20;         // steps between progress lines
  int eval_batch = 128;
  int max_steps_per_epoch = 0;  // > 0: cut epochs short (smoke runs, tests)
  template <class V>
  void visit(V& v) {
    v("name", name); v("model", model); v("data", data); v("optim", optim); v("seed", seed);
    v("keep_checkpoints", keep_checkpoints); v("log_every", log_every);
    v("eval_batch", eval_batch); v("max_steps_per_epoch", max_steps_per_epoch);
  }
};

// Checks ranges the types cannot (fractions, positive sizes, augmentation ranges).
Status validate(const ClassifierTrainConfig& c, const std::string& source);

struct ClassifierTrainRequest {
  ClassifierTrainConfig config;
  std::string data_dir;      // folder-per-class tree
  std::string out_dir;       // run folder
  std::string device = "cpu";
  std::string command;       // the command line, for provenance
  bool resume = false;       // continue from the newest checkpoint in out_dir (its config wins)
  int folds = 0;             // > 1: K-fold cross-validation, one sub-run per fold
  // Called with each progress line (default: stdout).
  std::function<void(const std::string&)> log;
};

struct ClassifierTrainResult {
  int folds = 0;              // K of a cross-validation (best_* are then means over the folds)
  double accuracy_sd = 0;     // K folds: sample standard deviations over the folds
  double macro_f1_sd = 0;
  int epochs_done = 0;
  int best_epoch = -1;
  double best_accuracy = 0;
  double best_macro_f1 = 0;
  std::string model_dir;      // exported best model (model.pt + model.json); empty for K folds
  std::string report;         // <out>/report.html
  // Hold-out: the best epoch's validation metrics (eval-classifier keys). K folds: folds.json,
  // i.e. classifier_report.h's cross_validation_json.
  Json summary = Json::object();
};

Result<ClassifierTrainResult> train_classifier(const ClassifierTrainRequest& request);

}  // namespace ms
