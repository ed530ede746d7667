#pragma once
// What is in a dataset, for `marrowscope stats` and for checking a conversion lost nothing:
// images, distinct image sizes, boxes per class (annotated fields) or cells per class
// (folder-per-class trees).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/annotation.h"

namespace ms {

struct ImageSizeCount {
  int width = 0;  // pixels; 0x0 counts images whose size is unknown
  int height = 0;
  std::int64_t count = 0;
};

struct DatasetStats {
  std::string format;                            // "yolo", "voc", ..., as read
  std::string split;                             // the split read, "" for all
  std::int64_t images = 0;
  std::map<std::string, std::int64_t> images_per_split;  // "" for fields without a split
  std::vector<ImageSizeCount> image_sizes;       // distinct sizes, most frequent first
  std::vector<std::string> classes;              // class id -> name
  // Annotated fields (empty for cell datasets).
  std::int64_t boxes = 0;
  std::vector<std::int64_t> boxes_per_class;     // by class id
  std::int64_t images_without_boxes = 0;
  // Single-cell datasets (empty for field datasets).
  bool single_cells = false;                     // true when made by cell_stats()
  std::int64_t cells = 0;
  std::vector<std::int64_t> cells_per_class;     // by class id
};

// Counts from the model alone (sizes as stored in the fields). Box class ids outside the class
// list are a broken invariant of the dataset and throw.
DatasetStats field_stats(const FieldDataset& ds);
// Counts cells and reads each image's size from its header; unreadable images are errors
// naming the file.
Result<DatasetStats> cell_stats(const CellDataset& ds);

// Stable keys: format, split, images, images_per_split, image_sizes [{width, height, count}],
// classes, and boxes, boxes_per_class {name: n}, images_without_boxes (fields) or cells,
// cells_per_class {name: n} (cells).
Json stats_to_json(const DatasetStats& s);
// A short human-readable table.
std::string stats_to_text(const DatasetStats& s);

}  // namespace ms
