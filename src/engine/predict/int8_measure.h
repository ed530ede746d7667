#pragma once
// Measuring a model folder's int8 calibration (engine/int8_calibration.h) on its own training
// cells or fields, and writing it beside the weights. Used by `marrowscope calibrate-int8` and by
// `adapt` (an adapted classifier is calibrated on the cells it was tuned on, so it keeps the int8
// speed of the model it came from). The model is loaded in float32 whatever MARROWSCOPE_PRECISION
// says: the ranges are float32's, and a stale int8.json in the folder must not stop its own
// replacement.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "engine/int8_calibration.h"

namespace ms {

struct Int8MeasureRequest {
  std::string model_dir;                 // written into (int8.json)
  std::vector<std::string> image_paths;  // cells (a classifier) or fields (a detector), in a stable order
  size_t max_items = 512;                // at most this many, spread evenly (a class-sorted list gives
                                         // every class its share)
  // minmax: everything seen; mse: the clip with least expected 8-bit error (mse_clip_range),
  // from a second pass that histograms each point's values.
  std::string method = "minmax";
  Json provenance = Json::object();      // added to the file's provenance (with date, method, and
                                         // measured_cells or measured_fields: how many were measured)
  std::function<void(const std::string&)> progress;  // "ranges: 64 of 512" lines (default: none)
};

// Fails, writing nothing, on an unreadable image, a model without an int8 path, no images or an
// unknown method.
Result<Int8Calibration> calibrate_classifier_int8(const Int8MeasureRequest& request);
Result<Int8Calibration> calibrate_detector_int8(const Int8MeasureRequest& request);

// The rule a base model's calibration was measured by, so that a model derived from it (adapted,
// fine-tuned) is measured the same way; `fallback` for a file that predates recording it.
// kNotFound when the base has no calibration; kInvalidArgument when it is malformed or belongs to
// other weights than `base_version`.
Result<std::string> base_int8_method(const std::string& base_dir, const std::string& base_version,
                                     const std::string& fallback);

}  // namespace ms
