#pragma once
// Adapting a shipped classifier to a lab: fine-tune it on the lab's reviewed cells (the app's
// training export, a folder-per-class tree) mixed with replayed cells of its original training
// set, so that it learns the lab's stain and camera without forgetting the classes the lab has
// few or no cells of. Part of the lab's cells is held back per class: it picks the epoch (early
// stopping on its likelihood) and gives the before/after accuracy an admin sees before
// activating the new version.
// The base folder is never changed; the result is a new folder with its own version name.
#include <cstdint>
#include <functional>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "data/augment.h"

namespace ms {

struct AdaptOptions {
  double holdout_fraction = 0.3;  // of each class's lab cells (at least one when it has >= 2)
  int max_epochs = 15;
  int patience = 4;               // epochs without a better held-back likelihood before stopping
  double lr = 0.01;               // SGD (Nesterov), cosine to 1% over max_epochs
  double weight_decay = 5e-4;
  int batch_size = 32;
  // A lab may have a few dozen cells: an epoch is at least this many steps (the cells are drawn
  // again in a new order), so that early stopping judges a real amount of training.
  int min_steps_per_epoch = 20;
  double label_smoothing = 0.1;
  double replay_ratio = 1.0;      // replayed original cells per lab training cell...
  int min_replay = 200;           // ...but at least this many (tiny lab sets need the anchor most)
  int max_replay = 3000;
  // Cells are decoded into memory (about 64 KB each at the shipped size): a larger export is
  // sampled down to this many, evenly at random, so memory stays bounded whatever its size.
  int max_lab_cells = 20000;
  uint64_t seed = 1;
  AugmentOptions augment = default_augment();
  static AugmentOptions default_augment() {
    AugmentOptions a;  // dihedral flips and turns, a little rotation, scale and colour
    a.rotate_prob = 0.5f;
    a.rotate_degrees = 30.f;
    a.scale_prob = 0.5f;
    a.scale_min = 0.85f;
    a.scale_max = 1.15f;
    a.brightness = 0.1f;
    a.contrast = 0.15f;
    a.saturation = 0.15f;
    a.hue_degrees = 5.f;
    return a;
  }
  template <class V>
  void visit(V& v) {
    v("holdout_fraction", holdout_fraction); v("max_epochs", max_epochs); v("patience", patience);
    v("lr", lr); v("weight_decay", weight_decay); v("batch_size", batch_size);
    v("min_steps_per_epoch", min_steps_per_epoch); v("label_smoothing", label_smoothing); v("replay_ratio", replay_ratio);
    v("min_replay", min_replay); v("max_replay", max_replay); v("max_lab_cells", max_lab_cells);
    v("seed", seed); v("augment", augment);
  }
};
Status validate(const AdaptOptions& o, const std::string& source);

struct AdaptRequest {
  std::string base_model;   // classifier folder to start from (unchanged)
  std::string lab_cells;    // folder-per-class tree of the lab's reviewed cells
  std::string replay_data;  // folder the replay list's relative paths start at
  std::string replay_list;  // "class<TAB>path" lines: the base model's training cells ("" = none)
  std::string out;          // new model folder (must not exist)
  std::string version;      // its version name ("" = <base version>-adapted-<UTC date>)
  std::string command;      // for provenance
  AdaptOptions options;
  std::function<void(const std::string&)> log;  // progress lines (default: none)
  // Asked between training steps: true ends the run with kConflict, writing nothing (a server
  // that stops does not wait minutes for an adaptation to finish).
  std::function<bool()> should_stop;
};

struct AdaptResult {
  std::string model_dir, version;
  int lab_train = 0, held_back = 0, replay = 0;
  int epochs_run = 0, best_epoch = 0;      // best_epoch 0: no epoch beat the base on the held-back cells
  double before_accuracy = 0, after_accuracy = 0;  // on the held-back lab cells, the model's views
  Json summary = Json::object();           // all of the above, per-class counts, per-epoch scores
};

// Lab class folders must name classes of the base model (the error lists the others); a class of
// the model the lab has no cells of is kept through replay. Fails, writing nothing, on too few
// cells (fewer than 2 in all, or no held-back cell), an existing `out`, or unreadable inputs.
Result<AdaptResult> adapt_classifier(const AdaptRequest& request);

}  // namespace ms
