#pragma once
// Detection metrics with COCOeval semantics (Lin et al., "Microsoft COCO", ECCV 2014;
// pycocotools cocoeval.py), so numbers here compare with published RetinaNet / thesis tables.
//
// What is computed, per class and as the mean over classes that have ground truth:
//   AP      mean of the 101-point interpolated precision over IoU 0.50:0.05:0.95
//   AP50, AP75, AP90   the same at a single IoU threshold
//   AR100   recall with at most max_detections detections, averaged over the ten IoUs
// plus, per class and IoU, the precision / recall / F1 at the score threshold of best F1, the
// 101-point PR curve, and a class confusion matrix (thesis fig. 3.14).
//
// COCOeval algorithm, as implemented (evaluate_detections):
//  1. Per image and class: detections sorted by descending score (stable: equal scores keep input
//     order), cut to max_detections. IoU of every detection with every ground-truth box.
//  2. For each IoU threshold t, detections in that order take the not-yet-matched ground truth
//     with the highest IoU >= t (on equal IoU the later ground truth wins, as in cocoeval.py);
//     a detection without one is a false positive.
//  3. Per class: the detections of all images are merged and stably sorted by descending score
//     (equal scores: earlier image first); cumulative TP/FP give recall = TP / #GT and precision
//     = TP / (TP + FP + eps), eps = 2^-52 (np.spacing(1)).
//  4. Precision is made monotone (non-increasing in recall); for each recall threshold
//     r in 0:0.01:1 the precision at the first point with recall >= r is taken (0 past the last
//     point). AP at t is the mean of these 101 values.
// Thresholds are built like numpy.linspace (i * step + start, the last one exactly the stop),
// so boxes whose IoU lies exactly on a threshold match as they do in pycocotools.
//
// Deliberate simplifications (documented choices, not omissions): no area ranges (every box is
// "all"), no crowd or ignore flags, max_detections is applied per image and class exactly as
// cocoeval.py does (our detector emits at most 100 per image, so it is also per image). A class
// without ground truth has no AP (-1, COCO's convention) and is left out of the means, even when
// it has detections. Box format everywhere: xyxy, continuous pixel coordinates (core/box.h).
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/annotation.h"

namespace ms {

// Ground truth and detections of one field image.
struct FieldDetections {
  std::vector<BoxAnnotation> truth;       // box xyxy pixels, class_id; score ignored
  std::vector<BoxAnnotation> detections;  // box xyxy pixels, class_id, score (higher = surer)
};

struct DetectionEvalOptions {
  std::vector<std::string> classes;  // class id -> name (unique); every class_id must index it
  // Merge every class into one called "cell" (detector quality regardless of the label).
  bool class_agnostic = false;
  int max_detections = 100;  // COCOeval maxDets, per image and class
  // Confusion matrix: detections with score >= this are matched to ground truth at IoU >= iou.
  double confusion_score_threshold = 0.5;
  double confusion_iou = 0.5;
};

// A score threshold and what it gives. -1 marks "undefined" (class without ground truth; the
// score is also -1 when the class has no detections).
struct OperatingPoint {
  double score = -1;  // detections with score >= this are kept
  double precision = -1;
  double recall = -1;
  double f1 = -1;
  int64_t true_positives = 0;
  int64_t false_positives = 0;
  int64_t false_negatives = 0;
};

struct ClassDetectionMetrics {
  std::string name;
  int64_t num_truth = 0;
  int64_t num_detections = 0;  // after the max_detections cut
  double ap = -1, ap50 = -1, ap75 = -1, ap90 = -1, ar100 = -1;  // -1 without ground truth
  // [T][R]: interpolated precision and the score where it was reached (COCOeval "precision" and
  // "scores"); empty without ground truth. T = iou_thresholds, R = recall_thresholds.
  std::vector<std::vector<double>> precision;
  std::vector<std::vector<double>> score;
  std::vector<double> recall;           // [T] recall with every kept detection
  std::vector<OperatingPoint> best_f1;  // [T] best-F1 operating point at each IoU
};

// Rows = truth, columns = prediction; the last row and column are "background": a missed
// ground-truth box counts in (its class, background), a false positive in (background, class).
struct DetectionConfusion {
  std::vector<std::string> labels;          // class names, then "background"
  std::vector<std::vector<int64_t>> counts;  // [K+1][K+1]; counts[K][K] is always 0
  double score_threshold = 0.5;
  double iou = 0.5;
};

struct DetectionMetrics {
  std::vector<double> iou_thresholds;     // T = 10: 0.50, 0.55, ..., 0.95
  std::vector<double> recall_thresholds;  // R = 101: 0.00, 0.01, ..., 1.00
  int64_t num_images = 0;
  int max_detections = 100;
  bool class_agnostic = false;
  // Means over classes with ground truth; -1 when no class has any.
  double ap = -1, ap50 = -1, ap75 = -1, ap90 = -1, ar100 = -1;
  std::vector<ClassDetectionMetrics> per_class;
  DetectionConfusion confusion;

  // Index into iou_thresholds of `iou` (within 1e-9); throws MarrowError when it is not one.
  size_t iou_index(double iou) const;
  // The best-F1 operating point of class `k` at IoU `iou` (one of iou_thresholds).
  const OperatingPoint& best_f1(size_t k, double iou) const;
};

// numpy.linspace(start, stop, num) bit for bit (see the header comment).
std::vector<double> linspace(double start, double stop, int num);

// Evaluates detections against ground truth, one FieldDetections per image. Fails (naming the
// image and box) on a class id outside options.classes, a non-finite coordinate or score, a box
// with x2 < x1 or y2 < y1, duplicate class names, or max_detections < 1.
Result<DetectionMetrics> evaluate_detections(const std::vector<FieldDetections>& images,
                                             const DetectionEvalOptions& options);

// The confusion matrix alone (evaluate_detections fills DetectionMetrics::confusion with it).
// Per image, class-agnostic pairs (detection with score >= score_threshold, ground truth) with
// IoU >= iou are matched greedily in order of descending IoU (ties: higher score, then lower
// detection index, then lower ground-truth index), each box at most once, as in YOLOv5's
// ConfusionMatrix; the pair counts in (truth class, predicted class). Inputs must be valid
// (evaluate_detections checks them); throws MarrowError on a class id out of range.
DetectionConfusion detection_confusion(const std::vector<FieldDetections>& images,
                                       const std::vector<std::string>& classes,
                                       double score_threshold, double iou);

// Pairs a ground-truth dataset with a prediction dataset by image_path (predictions' boxes carry
// scores). Images missing from the predictions get no detections; a predicted image missing
// from the truth, or different class lists, is an error.
Result<std::vector<FieldDetections>> pair_fields(const FieldDataset& truth,
                                                 const FieldDataset& predicted);

// Stable JSON keys: AP, AP50, AP75, AP90, AR100, num_images, max_detections, class_agnostic,
// classes, per_class.<name>.{AP, AP50, AP75, AP90, AR100, precision50, recall50, f1_50, score50,
// precision75, recall75, f1_75, score75, num_truth, num_detections}, confusion.{labels, counts,
// score_threshold, iou}, pr_curves.<name>.{iou, recall, precision, score} (101 points, IoU 0.5).
Json detection_metrics_json(const DetectionMetrics& m);
// One row per class and a final "mean" row; header:
// class,AP,AP50,AP75,AP90,AR100,precision50,recall50,f1_50,score50,precision75,recall75,f1_75,
// score75,num_truth,num_detections
std::string detection_metrics_csv(const DetectionMetrics& m);

}  // namespace ms
