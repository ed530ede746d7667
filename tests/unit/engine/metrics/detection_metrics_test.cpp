// Hand-computed detection cases. Each comment derives the expected numbers with COCOeval's
// rules (engine/metrics/detection_metrics.h): R = 101 recall thresholds 0, 0.01, ..., 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/metrics/detection_metrics.h"

namespace ms {
namespace {

BoxAnnotation gt(float x1, float y1, float x2, float y2, int cls = 0) {
  return {{x1, y1, x2, y2}, cls, 1.f};
}
BoxAnnotation det(float x1, float y1, float x2, float y2, float score, int cls = 0) {
  return {{x1, y1, x2, y2}, cls, score};
}

DetectionEvalOptions one_class() {
  DetectionEvalOptions o;
  o.classes = {"blast"};
  return o;
}

DetectionMetrics eval(const std::vector<FieldDetections>& images, const DetectionEvalOptions& o) {
  auto r = evaluate_detections(images, o);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : DetectionMetrics{};
}

TEST(DetectionMetrics, ThresholdsAreCocoGrids) {
  const auto m = eval({}, one_class());
  ASSERT_EQ(m.iou_thresholds.size(), 10u);
  ASSERT_EQ(m.recall_thresholds.size(), 101u);
  EXPECT_EQ(m.iou_thresholds.front(), 0.5);
  EXPECT_EQ(m.iou_thresholds[5], 0.75);
  EXPECT_EQ(m.iou_thresholds.back(), 0.95);
  EXPECT_EQ(m.recall_thresholds[50], 0.5);
  EXPECT_EQ(m.recall_thresholds.back(), 1.0);
  EXPECT_EQ(m.iou_index(0.9), 8u);
  EXPECT_THROW(m.iou_index(0.52), MarrowError);
}

TEST(DetectionMetrics, PerfectDetectionScoresOne) {
  const auto m = eval({{{gt(10, 10, 30, 30)}, {det(10, 10, 30, 30, 0.7f)}}}, one_class());
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  EXPECT_DOUBLE_EQ(m.ap50, 1.0);
  EXPECT_DOUBLE_EQ(m.ap90, 1.0);
  EXPECT_DOUBLE_EQ(m.ar100, 1.0);
  const OperatingPoint& p = m.best_f1(0, 0.5);
  EXPECT_DOUBLE_EQ(p.f1, 1.0);
  EXPECT_FLOAT_EQ(float(p.score), 0.7f);
  EXPECT_EQ(p.true_positives, 1);
  EXPECT_EQ(p.false_positives, 0);
}

TEST(DetectionMetrics, EqualScoresAcrossImagesKeepImageOrder) {
  // Image 0: a false positive; image 1: a true positive; both score 0.8. COCOeval's stable sort
  // keeps image 0 first: TP = [0, 1], FP = [1, 1] -> recall [0, .5], precision [0, .5] -> made
  // monotone [.5, .5]. Recall thresholds 0..0.50 (51 of 101) get 0.5, the rest 0: AP = 25.5/101.
  const FieldDetections fp_image{{gt(0, 0, 10, 10)}, {det(50, 50, 60, 60, 0.8f)}};
  const FieldDetections tp_image{{gt(0, 0, 10, 10)}, {det(0, 0, 10, 10, 0.8f)}};
  const auto m = eval({fp_image, tp_image}, one_class());
  EXPECT_NEAR(m.ap50, 25.5 / 101, 1e-12);
  EXPECT_NEAR(m.ap, 25.5 / 101, 1e-12);
  EXPECT_DOUBLE_EQ(m.ar100, 0.5);
  // Swapped: TP first -> precision [1, .5] -> 51 thresholds at 1: AP = 51/101.
  const auto swapped = eval({tp_image, fp_image}, one_class());
  EXPECT_NEAR(swapped.ap50, 51.0 / 101, 1e-12);
  // The best-F1 threshold cannot split the tie: the only candidate keeps both (P = R = .5).
  const OperatingPoint& p = m.best_f1(0, 0.5);
  EXPECT_DOUBLE_EQ(p.precision, 0.5);
  EXPECT_DOUBLE_EQ(p.recall, 0.5);
  EXPECT_DOUBLE_EQ(p.f1, 0.5);
  EXPECT_FLOAT_EQ(float(p.score), 0.8f);
}

TEST(DetectionMetrics, EqualScoresInOneImageKeepInputOrder) {
  // Two detections of one box with equal scores: the first listed (IoU 0.6) matches at IoU 0.5,
  // the second (IoU 1) is the duplicate. At IoU 0.75 the first fails and the second matches.
  // Either way one TP and one FP: at 0.5 the TP comes first (AP 1), at 0.75 second (AP .5).
  const FieldDetections image{{gt(0, 0, 10, 10)},
                              {det(0, 0, 10, 6, 0.5f), det(0, 0, 10, 10, 0.5f)}};
  const auto m = eval({image}, one_class());
  EXPECT_NEAR(m.ap50, 1.0, 1e-12);
  EXPECT_NEAR(m.ap75, 0.5, 1e-12);  // precision [0, .5] -> [.5, .5]; recall reaches 1 at index 1
}

TEST(DetectionMetrics, EmptyImageChangesNothing) {
  const FieldDetections one{{gt(0, 0, 20, 20)}, {det(1, 1, 20, 20, 0.9f)}};
  const auto a = eval({one}, one_class());
  const auto b = eval({FieldDetections{}, one, FieldDetections{}}, one_class());
  EXPECT_DOUBLE_EQ(a.ap, b.ap);
  EXPECT_DOUBLE_EQ(a.ar100, b.ar100);
  EXPECT_EQ(b.num_images, 3);
}

TEST(DetectionMetrics, ImageWithoutTruthAddsFalsePositives) {
  // Image 1 has no ground truth and a 0.95 detection: order [FP .95, TP .9] -> precision
  // [0, .5] -> [.5, .5], recall [0, 1]: AP = .5 at every IoU, AR = 1.
  const FieldDetections a{{gt(0, 0, 10, 10)}, {det(0, 0, 10, 10, 0.9f)}};
  const FieldDetections b{{}, {det(30, 30, 40, 40, 0.95f)}};
  const auto m = eval({a, b}, one_class());
  EXPECT_NEAR(m.ap, 0.5, 1e-12);
  EXPECT_NEAR(m.ar100, 1.0, 1e-12);
  // Candidates: score .95 (P 0, R 0, F1 0) and .9 (P .5, R 1, F1 2/3).
  const OperatingPoint& p = m.best_f1(0, 0.5);
  EXPECT_NEAR(p.f1, 2.0 / 3.0, 1e-12);
  EXPECT_FLOAT_EQ(float(p.score), 0.9f);
  EXPECT_EQ(p.false_positives, 1);
  EXPECT_EQ(p.false_negatives, 0);
}

TEST(DetectionMetrics, DuplicateDetectionIsAFalsePositive) {
  // One cell detected twice: [TP .9, FP .8]; the TP alone reaches recall 1 -> AP 1, but the
  // best-F1 point drops the duplicate (threshold .9) and the confusion matrix counts it.
  DetectionEvalOptions o = one_class();
  o.confusion_score_threshold = 0.5;
  const auto m =
      eval({{{gt(0, 0, 10, 10)}, {det(0, 0, 10, 10, 0.9f), det(0, 0, 10, 10, 0.8f)}}}, o);
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  const OperatingPoint& p = m.best_f1(0, 0.5);
  EXPECT_FLOAT_EQ(float(p.score), 0.9f);
  EXPECT_DOUBLE_EQ(p.precision, 1.0);
  EXPECT_EQ(m.confusion.counts[0][0], 1);  // matched
  EXPECT_EQ(m.confusion.counts[1][0], 1);  // the duplicate: background row
  EXPECT_EQ(m.confusion.counts[0][1], 0);
}

TEST(DetectionMetrics, NoDetectionsAtAll) {
  const auto m = eval({{{gt(0, 0, 10, 10), gt(20, 20, 30, 30)}, {}}}, one_class());
  EXPECT_DOUBLE_EQ(m.ap, 0.0);
  EXPECT_DOUBLE_EQ(m.ar100, 0.0);
  const OperatingPoint& p = m.best_f1(0, 0.5);
  EXPECT_DOUBLE_EQ(p.f1, 0.0);
  EXPECT_DOUBLE_EQ(p.score, -1.0);
  EXPECT_EQ(p.false_negatives, 2);
  EXPECT_EQ(m.confusion.counts[0][1], 2);  // both missed
}

TEST(DetectionMetrics, ClassWithTruthButNoDetectionsCountsZeroInTheMean) {
  DetectionEvalOptions o;
  o.classes = {"blast", "lymphocyte", "plasma cell"};
  // blast: perfect; lymphocyte: truth only; plasma cell: a detection but no truth (no AP).
  const auto m = eval({{{gt(0, 0, 10, 10, 0), gt(20, 0, 30, 10, 1)},
                        {det(0, 0, 10, 10, 0.9f, 0), det(50, 50, 60, 60, 0.4f, 2)}}},
                      o);
  EXPECT_DOUBLE_EQ(m.per_class[0].ap, 1.0);
  EXPECT_DOUBLE_EQ(m.per_class[1].ap, 0.0);
  EXPECT_DOUBLE_EQ(m.per_class[2].ap, -1.0);
  EXPECT_DOUBLE_EQ(m.per_class[2].ar100, -1.0);
  EXPECT_EQ(m.per_class[2].num_detections, 1);
  EXPECT_DOUBLE_EQ(m.ap, 0.5);  // mean over the two classes with truth
  EXPECT_DOUBLE_EQ(m.ar100, 0.5);
}

TEST(DetectionMetrics, NoTruthAnywhereIsUndefined) {
  const auto m = eval({{{}, {det(0, 0, 10, 10, 0.9f)}}}, one_class());
  EXPECT_DOUBLE_EQ(m.ap, -1.0);
  EXPECT_DOUBLE_EQ(m.ar100, -1.0);
  EXPECT_TRUE(m.per_class[0].precision.empty());
}

TEST(DetectionMetrics, IouExactlyOnAThresholdMatches) {
  // [0,0,10,5] vs [0,0,10,10]: IoU exactly 0.5 -> TP at 0.50 only: AP = 1/10, AP50 = 1.
  // [0,0,10,7.5]: IoU exactly 0.75 -> TP at 0.50..0.75 (6 of 10): AP = 0.6, AP75 = 1, AP90 = 0.
  auto m = eval({{{gt(0, 0, 10, 10)}, {det(0, 0, 10, 5, 0.9f)}}}, one_class());
  EXPECT_DOUBLE_EQ(m.ap50, 1.0);
  EXPECT_DOUBLE_EQ(m.per_class[0].precision[1][0], 0.0);
  EXPECT_NEAR(m.ap, 0.1, 1e-12);
  EXPECT_NEAR(m.ar100, 0.1, 1e-12);
  m = eval({{{gt(0, 0, 10, 10)}, {det(0, 0, 10, 7.5f, 0.9f)}}}, one_class());
  EXPECT_NEAR(m.ap, 0.6, 1e-12);
  EXPECT_DOUBLE_EQ(m.ap75, 1.0);
  EXPECT_DOUBLE_EQ(m.ap90, 0.0);
}

TEST(DetectionMetrics, EachTruthIsMatchedOnce) {
  // g0 = [0,10], g1 = [5,15] (x; y 0..10). d0 = [4,14] (.9): IoU .43 with g0, .82 with g1 -> g1.
  // d1 = [6,16] (.8): IoU .82 with g1 (taken), .25 with g0 -> FP. TP, FP over 2 truths:
  // precision [1, .5], recall [.5, .5] -> AP50 = 51/101.
  const auto m = eval({{{gt(0, 0, 10, 10), gt(5, 0, 15, 10)},
                        {det(4, 0, 14, 10, 0.9f), det(6, 0, 16, 10, 0.8f)}}},
                      one_class());
  EXPECT_NEAR(m.ap50, 51.0 / 101, 1e-12);
  EXPECT_DOUBLE_EQ(m.per_class[0].recall[0], 0.5);
}

TEST(DetectionMetrics, MaxDetectionsCutsLowScores) {
  // Two confident false positives, then the true positive.
  const FieldDetections image{{gt(0, 0, 10, 10)},
                              {det(0, 0, 10, 10, 0.2f), det(40, 40, 50, 50, 0.9f),
                               det(60, 60, 70, 70, 0.8f)}};
  DetectionEvalOptions o = one_class();
  o.max_detections = 2;
  auto m = eval({image}, o);
  EXPECT_DOUBLE_EQ(m.ap, 0.0);
  EXPECT_DOUBLE_EQ(m.ar100, 0.0);
  EXPECT_EQ(m.per_class[0].num_detections, 2);
  o.max_detections = 3;  // [FP, FP, TP]: precision [0, 0, 1/3] -> all 1/3
  m = eval({image}, o);
  EXPECT_NEAR(m.ap, 1.0 / 3.0, 1e-12);
}

TEST(DetectionMetrics, ConfusionMatrixCountsClassMixUpsMissesAndFalsePositives) {
  DetectionEvalOptions o;
  o.classes = {"neutrophil", "eosinophil"};
  o.confusion_score_threshold = 0.5;
  const FieldDetections image{
      {gt(0, 0, 10, 10, 0), gt(20, 0, 30, 10, 1), gt(40, 0, 50, 10, 0)},
      {det(0, 0, 10, 10, 0.9f, 1),    // neutrophil called eosinophil
       det(20, 0, 30, 10, 0.3f, 0),   // below the threshold: the eosinophil is missed
       det(40, 0, 50, 10, 0.7f, 0),   // right
       det(80, 80, 90, 90, 0.6f, 1)}  // nothing there
  };
  const auto m = eval({image}, o);
  const auto& c = m.confusion.counts;
  ASSERT_EQ(m.confusion.labels, (std::vector<std::string>{"neutrophil", "eosinophil", "background"}));
  EXPECT_EQ(c, (std::vector<std::vector<int64_t>>{{1, 1, 0}, {0, 0, 1}, {0, 1, 0}}));
}

TEST(DetectionMetrics, ConfusionPrefersTheHigherIou) {
  // One truth, two detections above the threshold: the better-overlapping (lower-score) one is
  // the match, so its class (eosinophil) is the prediction; the other is a false positive.
  const FieldDetections image{{gt(0, 0, 10, 10, 0)},
                              {det(0, 0, 10, 8, 0.9f, 0), det(0, 0, 10, 10, 0.6f, 1)}};
  const DetectionConfusion c = detection_confusion({image}, {"neutrophil", "eosinophil"}, 0.5, 0.5);
  EXPECT_EQ(c.counts, (std::vector<std::vector<int64_t>>{{0, 1, 0}, {0, 0, 0}, {1, 0, 0}}));
}

TEST(DetectionMetrics, ClassAgnosticIgnoresLabels) {
  DetectionEvalOptions o;
  o.classes = {"neutrophil", "eosinophil"};
  const std::vector<FieldDetections> images{{{gt(0, 0, 10, 10, 0)}, {det(0, 0, 10, 10, 0.9f, 1)}}};
  auto m = eval(images, o);
  EXPECT_DOUBLE_EQ(m.per_class[0].ap, 0.0);
  o.class_agnostic = true;
  m = eval(images, o);
  ASSERT_EQ(m.per_class.size(), 1u);
  EXPECT_EQ(m.per_class[0].name, "cell");
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  EXPECT_TRUE(m.class_agnostic);
}

TEST(DetectionMetrics, BadInputNamesTheBox) {
  DetectionEvalOptions o;
  o.classes = {"a", "b"};
  auto r = evaluate_detections({{{gt(0, 0, 1, 1)}, {}}, {{}, {det(0, 0, 1, 1, 0.5f, 2)}}}, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("images[1].detections[0]"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("class_id in [0, 2)"), std::string::npos);
  r = evaluate_detections({{{gt(5, 0, 1, 1)}, {}}}, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("images[0].truth[0]"), std::string::npos);
  EXPECT_NE(r.error().message.find("x2 >= x1"), std::string::npos);
  r = evaluate_detections({{{}, {det(0, 0, 1, 1, std::nanf(""))}}}, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("finite score"), std::string::npos);
  o.classes = {"a", "a"};
  r = evaluate_detections({}, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("\"a\" twice"), std::string::npos);
  o.classes = {"a"};
  o.max_detections = 0;
  EXPECT_FALSE(evaluate_detections({}, o));
}

TEST(DetectionMetrics, JsonHasTheStableKeys) {
  DetectionEvalOptions o;
  o.classes = {"blast", "promyelocyte"};
  const auto m = eval({{{gt(0, 0, 10, 10, 0)}, {det(0, 0, 10, 10, 0.9f, 0)}}}, o);
  const Json j = detection_metrics_json(m);
  for (const char* k : {"AP", "AP50", "AP75", "AP90", "AR100", "per_class", "classes", "confusion"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k : {"AP", "AP50", "AP75", "AP90", "AR100", "precision50", "recall50", "f1_50",
                        "score50", "precision75", "recall75", "f1_75", "score75"}) {
    EXPECT_TRUE(j["per_class"]["blast"].contains(k)) << k;
    EXPECT_TRUE(j["per_class"]["promyelocyte"].contains(k)) << k;
  }
  EXPECT_DOUBLE_EQ(j["per_class"]["blast"]["AP"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["per_class"]["promyelocyte"]["AP"].get<double>(), -1.0);
  EXPECT_EQ(j["pr_curves"]["blast"]["precision"].size(), 101u);
  EXPECT_FALSE(j["pr_curves"].contains("promyelocyte"));
  EXPECT_EQ(j["confusion"]["counts"][0][0].get<int>(), 1);
}

TEST(DetectionMetrics, CsvHasOneRowPerClassAndAMean) {
  DetectionEvalOptions o;
  o.classes = {"blast", "band, segmented"};
  const auto m = eval({{{gt(0, 0, 10, 10, 0)}, {det(0, 0, 10, 10, 0.75f, 0)}}}, o);
  const std::string csv = detection_metrics_csv(m);
  EXPECT_EQ(csv.rfind("class,AP,AP50,AP75,AP90,AR100,precision50,", 0), 0u);
  // blast row: AP is 1 up to COCO's eps in the precision denominator; score50 is column 10.
  const size_t row = csv.find("\nblast,");
  ASSERT_NE(row, std::string::npos) << csv;
  std::vector<std::string> cells;
  std::stringstream line(csv.substr(row + 1, csv.find('\n', row + 1) - row - 1));
  for (std::string cell; std::getline(line, cell, ',');) cells.push_back(cell);
  ASSERT_EQ(cells.size(), 16u);
  EXPECT_NEAR(std::stod(cells[1]), 1.0, 1e-12);
  EXPECT_EQ(cells[9], "0.75");
  EXPECT_EQ(cells[14], "1");
  EXPECT_NE(csv.find("\n\"band, segmented\",-1,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nmean,"), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
}

TEST(DetectionMetrics, PairFieldsMatchesByImagePath) {
  FieldDataset truth, predicted;
  truth.classes = predicted.classes = {"blast"};
  truth.fields = {{"a.png", "val", 0, 0, {gt(0, 0, 10, 10)}, {}, {}}, {"b.png", "val", 0, 0, {}, {}, {}}};
  predicted.fields = {{"b.png", "", 0, 0, {det(1, 1, 5, 5, 0.3f)}, {}, {}}};
  auto r = pair_fields(truth, predicted);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].truth.size(), 1u);
  EXPECT_TRUE((*r)[0].detections.empty());
  EXPECT_EQ((*r)[1].detections.size(), 1u);
  predicted.fields.push_back({"c.png", "", 0, 0, {}, {}, {}});
  r = pair_fields(truth, predicted);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("c.png"), std::string::npos);
  predicted.classes = {"lymphocyte"};
  EXPECT_FALSE(pair_fields(truth, predicted));
}

}  // namespace
}  // namespace ms
