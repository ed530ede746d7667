#pragma once
// A self-describing detector folder: model.pt (parameters + buffers) and model.json (the
// RetinaNet architecture config -- which carries the class names, input size and normalisation --
// plus provenance and validation metrics), so eval and the predictor need only the folder.
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "models/detector/retina_net.h"

namespace ms {

struct DetectorModelInfo {
  std::string format = "marrowscope-detector/1";
  std::string version;               // e.g. "retinanet-r18w05-txlpbc-20261125-e12"
  RetinaNetOptions model;            // architecture, classes, input_size, pixel_mean/std (RGB)
  Json provenance = Json::object();  // data, command, seed, date, epochs, training time
  Json metrics = Json::object();     // validation metrics of these weights
  template <class V>
  void visit(V& v) {
    v("format", format);
    v("version", version);
    v("model", model);
    v("provenance", provenance);
    v("metrics", metrics);
  }
};

// Writes dir/model.pt and dir/model.json (creating dir).
Status write_detector_model(const std::string& dir, RetinaNetImpl& net, const DetectorModelInfo& info);
// Reads and validates dir/model.json; the error names the file and the bad key.
Result<DetectorModelInfo> read_detector_model_info(const std::string& dir);
// Builds the network from model.json and loads model.pt (CPU, eval mode).
Result<RetinaNet> load_detector_model(const std::string& dir, DetectorModelInfo& info);

}  // namespace ms
