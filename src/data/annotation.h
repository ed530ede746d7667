#pragma once
// One in-memory model of annotated data, whatever format it came from (YOLO, VOC, COCO,
// labelme, folder-per-class). QuPath's distinction: a Field holds many boxes; a CellImage is a
// single-cell crop with one label.
#include <string>
#include <vector>

#include "core/box.h"

namespace ms {

// A labelled box in a field. box: xyxy, pixels of the field image.
struct BoxAnnotation {
  Box box;
  int class_id = 0;      // index into the dataset's class list
  float score = 1.f;     // 1 for ground truth; the detector's score for predictions
};

// One annotated field image.
struct Field {
  std::string image_path;  // as found on disk (absolute or relative to the dataset root)
  std::string split;       // "train", "val", "test" or "" when the format has none
  int width = 0;           // pixels; 0 when unknown (read lazily from the image)
  int height = 0;
  std::vector<BoxAnnotation> boxes;
  // Regions a detector learns nothing from, neither object nor background: boxes nobody decided
  // (a training export's undecided cells, class map rule 1c). xyxy, pixels of the field image.
  std::vector<Box> ignore;
  // The classes (ids) this field's boxes annotate completely; empty = every class. A reviewers'
  // export marks white cells only: its red cells and platelets are there, unlabelled, and must
  // not be learned as background.
  std::vector<int> annotated_classes;
};

struct FieldDataset {
  std::vector<std::string> classes;  // class id -> name
  std::vector<Field> fields;
  int class_index(const std::string& name) const;  // -1 when absent
};

// One single-cell image with its class (folder-per-class trees, exported crops).
struct CellImage {
  std::string image_path;
  int class_id = 0;
};

struct CellDataset {
  std::vector<std::string> classes;  // sorted folder names unless given
  std::vector<CellImage> cells;
  int class_index(const std::string& name) const;
};

}  // namespace ms
