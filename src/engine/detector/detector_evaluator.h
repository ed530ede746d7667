#pragma once
// Validation of a detector: run it over fields, pair its detections with the ground truth in each
// field's original pixels, and score them with engine/metrics (COCOeval semantics).
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "engine/detector/detector_dataset.h"
#include "engine/metrics/detection_metrics.h"
#include "models/detector/retina_net.h"

namespace ms {

// The detections that are scored on a field: none over an ignore region (IoU >= 0.5; a cell
// nobody decided is neither a hit nor a false box, as COCO's crowd regions) and none of a class
// the field does not annotate (a white-cell export has unlabelled red cells).
std::vector<BoxAnnotation> scored_detections(std::vector<BoxAnnotation> detections, const std::vector<Box>& ignore,
                                             const std::vector<int>& annotated_classes);

// Runs net (eval mode, no gradients; restores its mode) over the prepared (already letterboxed)
// fields in batches; boxes come back in each field's original pixels, paired with its truth.
std::vector<FieldDetections> detect_prepared_fields(RetinaNetImpl& net, const DetectorDataset& ds,
                                                    int batch_size);

// A batched detector over original BGR images: the predictor or a network's detect().
using FieldDetector = std::function<std::vector<std::vector<Detection>>(const std::vector<cv::Mat>&)>;

struct FieldEvaluation {
  DetectionMetrics metrics;
  int64_t images = 0;
  double seconds = 0;            // detector time only (decoding excluded)
  double images_per_second = 0;
};

// Reads every field image (errors name the file), detects in batches of batch_size and evaluates
// against the fields' boxes. ds.classes must be the detector's classes (remap first).
Result<FieldEvaluation> evaluate_fields(const FieldDetector& detect, const FieldDataset& ds,
                                        int batch_size, const DetectionEvalOptions& options);

// The value of a summary metric (AP | AP50 | AP75 | AP90 | AR100) of one class (by name) or of the
// mean ("" class). -1 when undefined; throws MarrowError on an unknown metric or class name.
double select_metric(const DetectionMetrics& m, const std::string& metric, const std::string& class_name);

}  // namespace ms
