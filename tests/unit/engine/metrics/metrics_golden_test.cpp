// Agreement with independent references on generated cases (tools/gen_metrics_golden.py):
// a numpy re-implementation of pycocotools' COCOeval for detection, scikit-learn for
// classification. Tolerance 1e-6; the threshold grids must match bit for bit.
#include <gtest/gtest.h>

#include <string>

#include "core/config.h"
#include "engine/metrics/classification_metrics.h"
#include "engine/metrics/detection_metrics.h"

namespace ms {
namespace {

constexpr double kTol = 1e-6;

Json golden(const std::string& name) {
  return value_or_throw(
      read_json_file(std::string(MARROWSCOPE_SOURCE_DIR) + "/tests/golden/metrics/" + name));
}

std::vector<FieldDetections> images_from(const Json& images) {
  std::vector<FieldDetections> out;
  for (const Json& im : images) {
    FieldDetections f;
    for (const Json& g : im["gt"])
      f.truth.push_back({{g[0].get<float>(), g[1].get<float>(), g[2].get<float>(),
                          g[3].get<float>()},
                         g[4].get<int>(), 1.f});
    for (const Json& d : im["dt"])
      f.detections.push_back({{d[0].get<float>(), d[1].get<float>(), d[2].get<float>(),
                               d[3].get<float>()},
                              d[4].get<int>(), float(d[5].get<double>())});
    out.push_back(std::move(f));
  }
  return out;
}

TEST(MetricsGolden, ThresholdGridsMatchNumpyLinspace) {
  const Json g = golden("detection_cases.json");
  const std::vector<double> iou = g["iou_thresholds"].get<std::vector<double>>();
  const std::vector<double> rec = g["recall_thresholds"].get<std::vector<double>>();
  EXPECT_EQ(linspace(0.5, 0.95, 10), iou);  // exact: IoUs on a threshold must match alike
  EXPECT_EQ(linspace(0.0, 1.0, 101), rec);
}

TEST(MetricsGolden, DetectionAgreesWithCocoEvalReference) {
  const Json g = golden("detection_cases.json");
  ASSERT_GE(g["cases"].size(), 5u);
  for (const Json& c : g["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    DetectionEvalOptions o;
    for (int k = 0; k < c["num_classes"].get<int>(); ++k) o.classes.push_back("c" + std::to_string(k));
    o.max_detections = c["max_detections"].get<int>();
    o.class_agnostic = c["class_agnostic"].get<bool>();
    o.confusion_score_threshold = c["confusion_score_threshold"].get<double>();
    auto r = evaluate_detections(images_from(c["images"]), o);
    ASSERT_TRUE(r) << r.error().message;
    const DetectionMetrics& m = *r;
    const Json& e = c["expected"];
    EXPECT_NEAR(m.ap, e["AP"].get<double>(), kTol);
    EXPECT_NEAR(m.ap50, e["AP50"].get<double>(), kTol);
    EXPECT_NEAR(m.ap75, e["AP75"].get<double>(), kTol);
    EXPECT_NEAR(m.ap90, e["AP90"].get<double>(), kTol);
    EXPECT_NEAR(m.ar100, e["AR100"].get<double>(), kTol);
    ASSERT_EQ(m.per_class.size(), e["per_class"].size());
    for (size_t k = 0; k < m.per_class.size(); ++k) {
      SCOPED_TRACE("class " + std::to_string(k));
      const Json& ec = e["per_class"][k];
      const ClassDetectionMetrics& pc = m.per_class[k];
      EXPECT_NEAR(pc.ap, ec["AP"].get<double>(), kTol);
      EXPECT_NEAR(pc.ap50, ec["AP50"].get<double>(), kTol);
      EXPECT_NEAR(pc.ap75, ec["AP75"].get<double>(), kTol);
      EXPECT_NEAR(pc.ap90, ec["AP90"].get<double>(), kTol);
      EXPECT_NEAR(pc.ar100, ec["AR100"].get<double>(), kTol);
      for (const auto& [iou, tag] : {std::pair{0.5, "50"}, std::pair{0.75, "75"}}) {
        const OperatingPoint& p = m.best_f1(k, iou);
        const std::string t = tag;
        EXPECT_NEAR(p.precision, ec["precision" + t].get<double>(), kTol) << t;
        EXPECT_NEAR(p.recall, ec["recall" + t].get<double>(), kTol) << t;
        EXPECT_NEAR(p.f1, ec["f1_" + t].get<double>(), kTol) << t;
        EXPECT_NEAR(p.score, ec["score" + t].get<double>(), kTol) << t;
      }
    }
    const auto curve = e["precision50_class0"].get<std::vector<double>>();
    ASSERT_EQ(curve.size(), 101u);
    ASSERT_FALSE(m.per_class[0].precision.empty());
    for (size_t i = 0; i < curve.size(); ++i)
      EXPECT_NEAR(m.per_class[0].precision[0][i], curve[i], kTol) << "recall point " << i;
    EXPECT_EQ(m.confusion.counts, e["confusion"].get<std::vector<std::vector<int64_t>>>());
  }
}

TEST(MetricsGolden, ClassificationAgreesWithSklearn) {
  const Json g = golden("classification_cases.json");
  ASSERT_GE(g["cases"].size(), 2u);
  for (const Json& c : g["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int C = c["num_classes"].get<int>();
    std::vector<std::string> classes;
    for (int k = 0; k < C; ++k) classes.push_back("k" + std::to_string(k));
    std::vector<float> scores;
    for (const Json& row : c["scores"])
      for (const Json& v : row) scores.push_back(float(v.get<double>()));
    auto r = evaluate_classification(c["truth"].get<std::vector<int>>(), scores, classes, 5);
    ASSERT_TRUE(r) << r.error().message;
    const Json& e = c["expected"];
    EXPECT_NEAR(r->accuracy, e["accuracy"].get<double>(), kTol);
    EXPECT_NEAR(r->top_k_accuracy, e["top5"].get<double>(), kTol);
    EXPECT_NEAR(r->macro_f1, e["macro_f1"].get<double>(), kTol);
    EXPECT_NEAR(r->weighted_f1, e["weighted_f1"].get<double>(), kTol);
    for (int k = 0; k < C; ++k) {
      const ClassClassificationMetrics& pc = r->per_class[size_t(k)];
      EXPECT_NEAR(pc.precision, e["precision"][k].get<double>(), kTol) << k;
      EXPECT_NEAR(pc.recall, e["recall"][k].get<double>(), kTol) << k;
      EXPECT_NEAR(pc.f1, e["f1"][k].get<double>(), kTol) << k;
      EXPECT_EQ(pc.support, e["support"][k].get<int64_t>()) << k;
    }
    EXPECT_EQ(r->confusion, e["confusion"].get<std::vector<std::vector<int64_t>>>());
  }
}

}  // namespace
}  // namespace ms
