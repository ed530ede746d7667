#pragma once
// Detector training data held in memory: every field decoded once and letterboxed to the network
// input size (uint8), so an epoch costs augmentation + the network, never JPEG decoding. At
// 384 px the 882 txl-pbc training fields take about 390 MB.
#include <cstdint>
#include <string>
#include <vector>

#include "core/box.h"
#include "core/error.h"
#include "data/annotation.h"
#include "data/augment.h"

namespace ms {

struct PreparedField {
  std::string image_path;
  cv::Mat image;                    // CV_8UC3 BGR, input_size x input_size, letterboxed
  Letterbox letterbox;              // original pixels <-> image pixels
  std::vector<Box> boxes;           // xyxy, pixels of `image`
  std::vector<int> labels;          // class ids, one per box
  std::vector<BoxAnnotation> truth; // the boxes in original pixels (for evaluation)
  std::vector<Box> ignore;          // ignore regions, pixels of `image` (Field::ignore)
  std::vector<Box> ignore_truth;    // the same in original pixels (for evaluation)
  std::vector<int> annotated_classes;  // Field::annotated_classes (empty = every class)
};

// The label sample() gives an ignore region: such boxes follow the objects' boxes and go through
// the same augmentation, so they stay over what they cover.
inline constexpr int kIgnoreBoxLabel = -2;

class DetectorDataset {
 public:
  // Decodes each field's image (by content; errors name the file), letterboxes it to
  // input_size x input_size and maps its boxes. Class ids must already index `ds.classes`.
  // max_fields > 0 keeps the first max_fields fields (in the dataset's order).
  static Result<DetectorDataset> prepare(const FieldDataset& ds, int input_size, int max_fields = 0);

  // Appends other's fields (same classes and input size), e.g. replayed original fields after a
  // lab's corrections; their indices follow this dataset's.
  Status append(DetectorDataset other);

  size_t size() const { return fields_.size(); }
  int input_size() const { return input_size_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const PreparedField& field(size_t i) const { return fields_.at(i); }

  // Sample i, augmented with `options` from a generator seeded by (seed, epoch, i) only, so the
  // result does not depend on which thread asks or in what order (exact resume).
  // augment = false returns the prepared image and boxes unchanged. Ignore regions come back as
  // boxes labelled kIgnoreBoxLabel.
  AugmentSample sample(size_t i, const AugmentOptions& options, uint64_t seed, int epoch,
                       bool augment) const;

 private:
  std::vector<std::string> classes_;
  std::vector<PreparedField> fields_;
  int input_size_ = 0;
};

}  // namespace ms
