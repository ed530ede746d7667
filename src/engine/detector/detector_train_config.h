#pragma once
// Everything one detector training run needs, loaded from configs/detector/<name>.json with
// `--set key=value` overrides, and written back (merged) as <run>/config.json:
//   {"model": RetinaNetOptions, "assigner": AssignerOptions, "data": ..., "optim": ...,
//    "augment": AugmentOptions, "seed": 1, ...}
#include <cstdint>
#include <string>
#include <vector>

#include "data/augment.h"
#include "engine/train/lr_schedule.h"
#include "models/assign/assigner.h"
#include "models/detector/retina_net.h"

namespace ms {

// The original training fields mixed into a fine-tuning run (e.g. on a lab's corrections), so
// the detector learns the new fields without forgetting the old ones.
struct DetectorReplayOptions {
  std::string path;                // dataset folder (COCO: the JSON file); "" = no replay
  std::string format = "yolo";
  std::string split = "train";
  std::string class_map;
  int fields_per_epoch = 0;        // replayed fields drawn anew each epoch beside every main field; 0 = all
  std::string val_split;           // validation fields from here when data.val_split is ""
  template <class V>
  void visit(V& v) {
    v("path", path);
    v("format", format);
    v("split", split);
    v("class_map", class_map);
    v("fields_per_epoch", fields_per_epoch);
    v("val_split", val_split);
  }
};

struct DetectorDataOptions {
  std::string format = "yolo";       // yolo | voc | coco | labelme (src/data/formats)
  std::string train_split = "train";
  std::string val_split = "val";     // "" = no validation
  std::string class_map;             // "A=B,C=" (see engine/detector/class_mapping.h)
  int max_train_fields = 0;          // 0 = all (a smaller number makes quick ablations)
  int max_val_fields = 0;
  // Model classes the main data annotates completely; [] = all. A reviewers' export marks white
  // cells only: ["WBC"] keeps the other classes' logits out of the loss on its fields.
  std::vector<std::string> annotated_classes;
  DetectorReplayOptions replay;
  template <class V>
  void visit(V& v) {
    v("format", format);
    v("train_split", train_split);
    v("val_split", val_split);
    v("class_map", class_map);
    v("max_train_fields", max_train_fields);
    v("max_val_fields", max_val_fields);
    v("annotated_classes", annotated_classes);
    v("replay", replay);
  }
};

struct DetectorOptimOptions {
  int epochs = 24;
  int batch_size = 8;
  double lr = 0.01;             // SGD base rate for batch_size (thesis: SGD momentum 0.9, wd 5e-4)
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double clip_grad_norm = 10.0;  // 0 = off; early RetinaNet steps can spike (focal loss on 1e4 anchors)
  LrScheduleOptions schedule;
  template <class V>
  void visit(V& v) {
    v("epochs", epochs);
    v("batch_size", batch_size);
    v("lr", lr);
    v("momentum", momentum);
    v("weight_decay", weight_decay);
    v("clip_grad_norm", clip_grad_norm);
    v("schedule", schedule);
  }
};

struct DetectorTrainConfig {
  RetinaNetOptions model;
  AssignerOptions assigner;
  DetectorDataOptions data;
  DetectorOptimOptions optim;
  AugmentOptions augment;
  uint64_t seed = 1;
  // A detector folder whose weights start the run (fine-tuning); its architecture must be
  // `model` (train-detector --init copies it from the folder). "" = random initialisation.
  std::string init_from;
  // Validation metric that selects the "best" checkpoint: AP | AP50 | AP75 | AP90 | AR100, of
  // best_metric_class ("" = mean over classes).
  std::string best_metric = "AP";
  std::string best_metric_class;
  int keep_checkpoints = 3;   // epoch checkpoints kept besides best/
  int log_every = 10;         // steps between progress lines
  template <class V>
  void visit(V& v) {
    v("model", model);
    v("assigner", assigner);
    v("data", data);
    v("optim", optim);
    v("augment", augment);
    v("seed", seed);
    v("init_from", init_from);
    v("best_metric", best_metric);
    v("best_metric_class", best_metric_class);
    v("keep_checkpoints", keep_checkpoints);
    v("log_every", log_every);
  }
};

}  // namespace ms
