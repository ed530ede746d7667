#pragma once
// Reads annotated fields for a detector in any supported format and maps their classes onto the
// model's (engine/detector/class_mapping.h), the one path train-detector and eval-detector share.
#include <string>
#include <vector>

#include "core/error.h"
#include "data/annotation.h"

namespace ms {

struct FieldSource {
  std::string path;          // dataset folder (COCO: the JSON file)
  std::string format = "yolo";  // yolo | voc | coco | labelme
  std::string split;         // "" = every field
  std::string class_map;     // "A=B,C=" (dataset class -> model class; empty target ignores)
};

// Fields whose class ids index model_classes; boxes of ignored classes are dropped. Errors name
// the path, the format or the unmatched dataset classes.
Result<FieldDataset> read_detection_fields(const FieldSource& source, const std::vector<std::string>& model_classes);

}  // namespace ms
