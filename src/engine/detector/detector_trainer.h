#pragma once
// The detector training loop (thesis ch. 4; Lin et al. 2017 sec. 4): SGD with momentum and weight
// decay, linear warm-up then step or cosine decay (engine/train/lr_schedule.h), per-image label
// assignment (models/assign), the RetinaNet loss (models/loss/detection_loss.h), gradient-norm
// clipping, validation AP after every epoch, checkpoints every epoch and at the best validation
// metric, exact resume, and a run folder:
//   <out>/config.json        merged config
//   <out>/metrics.jsonl      one JSON line per epoch (loss parts, lr, img/s, validation metrics)
//   <out>/report.html        loss and metric curves, PR curves, confusion matrix (latest epoch)
//   <out>/checkpoints/epoch_NNNN/, best/   (engine/train/checkpoint.h)
//   <out>/model/             the best weights as a shippable detector folder (model.pt + model.json)
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/annotation.h"
#include "engine/detector/detector_train_config.h"
#include "models/assign/assign_result.h"
#include "models/detector/retina_net.h"

namespace ms {

struct DetectorRunOptions {
  std::string out_dir;
  bool resume = false;         // continue from the newest epoch checkpoint in out_dir
  std::string device = "cpu";  // "cpu" or "cuda[:N]"
  std::string command;         // the command line, recorded in provenance
  std::string data;            // a description of the data (path, split), recorded in provenance
  int max_epochs_this_call = 0;  // > 0: stop after this many epochs (tests; resume continues)
};

struct DetectorTrainResult {
  int epochs_done = 0;       // completed epochs, over all sessions
  int64_t steps_done = 0;
  double best_metric = -1;
  int best_epoch = -1;
  Json last_validation;      // detection_metrics_json of the last epoch (empty without val)
  double train_seconds = 0;
};

// train: fields with class ids indexing config.model.classes (remap first); val may be empty.
Result<DetectorTrainResult> train_detector(const DetectorTrainConfig& config, const FieldDataset& train,
                                           const FieldDataset& val, const DetectorRunOptions& run,
                                           std::ostream& log);
// The same with replayed fields (config.data.replay): every epoch trains on all of `train` and
// replay.fields_per_epoch of `replay` (all when 0), drawn from (seed, epoch) only.
Result<DetectorTrainResult> train_detector(const DetectorTrainConfig& config, const FieldDataset& train,
                                           const FieldDataset& val, const FieldDataset& replay,
                                           const DetectorRunOptions& run, std::ostream& log);

// The indices one epoch trains on: 0..main_fields-1, then `per_epoch` of the replay indices
// main_fields..main_fields+replay_fields-1 (all when per_epoch is 0 or larger), drawn without
// replacement from a generator seeded by (seed, epoch) only.
std::vector<size_t> epoch_field_indices(size_t main_fields, size_t replay_fields, int per_epoch, uint64_t seed,
                                        int epoch);

struct DetectorBatch;
class Assigner;
struct DetectionTargets;
struct RetinaNetOutput;

// Per-image assignment on one forward pass -> loss targets (labels [B,N], boxes [B,N,4]).
// Exposed for tests.
DetectionTargets build_detection_targets(const RetinaNetOutput& out, const DetectorBatch& batch,
                                         const Assigner& assigner, const BoxCoder& coder);

}  // namespace ms
