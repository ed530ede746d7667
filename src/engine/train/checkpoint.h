#pragma once
// Run-folder checkpoints shared by the detector and classifier trainers.
//
// A checkpoint is a folder <run>/checkpoints/<name>/ holding
//   model.pt      parameters and buffers (torch::serialize archive)
//   optimizer.pt  optimiser state (moments, step counts)
//   state.json    TrainerState (epoch, step, seed, best metric)
//   config.json   the merged run config
// written into <name>.tmp first and renamed into place, so a crash (or the session ending)
// mid-write never leaves a half checkpoint that --resume would pick up.
#include <cstdint>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/error.h"

namespace torch {
namespace nn {
class Module;
}
namespace optim {
class Optimizer;
}
}  // namespace torch

namespace ms {

struct TrainerState {
  int epoch = 0;            // completed epochs
  int64_t step = 0;         // completed optimiser steps
  uint64_t seed = 0;        // run seed; every epoch's shuffling, augmentation and dropout derive
                            // from (seed, epoch), so resuming at an epoch boundary is exact
  double best_metric = -1;  // best validation metric so far (higher is better)
  int best_epoch = -1;
  double train_seconds = 0; // wall time spent training so far, over all sessions
  template <class V>
  void visit(V& v) {
    v("epoch", epoch); v("step", step); v("seed", seed); v("best_metric", best_metric);
    v("best_epoch", best_epoch); v("train_seconds", train_seconds);
  }
};

// Saves parameters and buffers of `model` to one file (atomically: tmp then rename).
Status save_module(const std::string& path, torch::nn::Module& model);
// Loads into an already-built module of the same architecture; the error names the file.
Status load_module(const std::string& path, torch::nn::Module& model);

// Writes dir (a folder path, replaced atomically). optimizer may be null (weights-only export).
Status save_checkpoint(const std::string& dir, torch::nn::Module& model,
                       torch::optim::Optimizer* optimizer, const TrainerState& state,
                       const Json& config);
// Reads a folder written by save_checkpoint into an already-built model/optimizer.
Status load_checkpoint(const std::string& dir, torch::nn::Module& model,
                       torch::optim::Optimizer* optimizer, TrainerState& state);

// The newest complete "epoch_NNNN" checkpoint under <run>/checkpoints, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// "<run>/checkpoints/epoch_0007"
std::string epoch_checkpoint_dir(const std::string& run_dir, int epoch);
// Deletes epoch checkpoints older than the newest `keep` (best/ is never deleted).
void prune_checkpoints(const std::string& run_dir, int keep);

}  // namespace ms
