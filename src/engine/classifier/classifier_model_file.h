#pragma once
// A self-describing classifier folder: model.pt (parameters + buffers) and model.json (the
// architecture config, class names, input size, crop fraction, normalisation and provenance),
// so the predictor rebuilds exactly the trained network without any other file.
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "engine/train/image_tensor.h"
#include "models/classifier/classifier_factory.h"

namespace ms {

struct ClassifierModelInfo {
  std::string format = "marrowscope-classifier/1";
  std::string version;                 // e.g. "vit-pbc-20261125-e42"
  ClassifierModelOptions model;        // architecture (arch, input_size, vit/cnn options)
  std::vector<std::string> classes;    // class id -> name
  double crop_fraction = 0.875;        // input = center crop of this fraction of the resized cell
  Normalization normalization;         // RGB mean/std on [0,1]
  Json provenance = Json::object();    // data, command, seed, date, epochs, training time
  Json metrics = Json::object();       // validation metrics of these weights
  int test_time_views = 1;             // dihedral views averaged at inference: 1, 2, 4 or 8
                                       // (models/classifier/test_time_views.h)
  // The training cells' stain (engine/train/stain_standardise.h stain_reference), what a sample's
  // stain is compared with (server/domain_stain.h). A model that standardises its input carries
  // the same reference in normalization.stain_standardisation; either serves.
  std::optional<StainStandardisation> training_stain;
  template <class V>
  void visit(V& v) {
    v("format", format); v("version", version); v("model", model); v("classes", classes);
    v("crop_fraction", crop_fraction); v("normalization", normalization);
    v("provenance", provenance); v("metrics", metrics); v("test_time_views", test_time_views);
    v("training_stain", training_stain);
  }
  // training_stain, else the standardisation's reference; nullopt when the model has neither.
  std::optional<StainStandardisation> stain_reference() const {
    return training_stain ? training_stain : normalization.stain;
  }
};

// Writes dir/model.pt and dir/model.json (creating dir).
Status write_classifier_model(const std::string& dir, ClassifierNetImpl& net,
                              const ClassifierModelInfo& info);
// Reads and validates dir/model.json; the error names the file and the bad key.
Result<ClassifierModelInfo> read_classifier_model_info(const std::string& dir);
// Builds the network from model.json and loads model.pt (CPU).
Result<std::shared_ptr<ClassifierNetImpl>> load_classifier_model(const std::string& dir,
                                                                 ClassifierModelInfo& info);

}  // namespace ms
