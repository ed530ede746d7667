#include <gtest/gtest.h>

#include <cmath>

#include "engine/metrics/classification_metrics.h"

namespace ms {
namespace {

const std::vector<std::string> kClasses{"blast", "lymphocyte", "neutrophil"};

TEST(ClassificationMetrics, HandComputedCase) {
  // truth [0, 0, 1, 2], argmax [0, 1, 1, 0]:
  //   blast:      TP 1, predicted 2, support 2 -> P .5, R .5, F1 .5
  //   lymphocyte: TP 1, predicted 2, support 1 -> P .5, R 1, F1 2/3
  //   neutrophil: TP 0, predicted 0, support 1 -> 0, 0, 0
  // macro (all three occur in the truth) = (0.5 + 2/3) / 3; weighted = (2*.5 + 2/3) / 4.
  const std::vector<float> scores{0.7f, 0.2f, 0.1f,   // -> 0
                                  0.3f, 0.6f, 0.1f,   // -> 1
                                  0.1f, 0.8f, 0.1f,   // -> 1
                                  0.5f, 0.1f, 0.4f};  // -> 0, truth second
  auto r = evaluate_classification({0, 0, 1, 2}, scores, kClasses, 2);
  ASSERT_TRUE(r) << r.error().message;
  const ClassificationMetrics& m = *r;
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.top_k_accuracy, 1.0);  // every truth is in its row's top 2
  EXPECT_DOUBLE_EQ(m.per_class[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[1].recall, 1.0);
  EXPECT_NEAR(m.per_class[1].f1, 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.per_class[2].f1, 0.0);
  EXPECT_EQ(m.per_class[0].support, 2);
  EXPECT_EQ(m.per_class[1].predicted, 2);
  EXPECT_NEAR(m.macro_f1, (0.5 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_NEAR(m.weighted_f1, (2 * 0.5 + 2.0 / 3.0) / 4.0, 1e-12);
  EXPECT_EQ(m.confusion,
            (std::vector<std::vector<int64_t>>{{1, 1, 0}, {0, 1, 0}, {1, 0, 0}}));
}

TEST(ClassificationMetrics, TopKTiesGoToTheLowerIndex) {
  // Row [.5, .5, 0]: argmax is class 0, so truth 1 misses top-1 but makes top-2.
  const std::vector<float> scores{0.5f, 0.5f, 0.0f};
  auto top1 = evaluate_classification({1}, scores, kClasses, 1);
  auto top2 = evaluate_classification({1}, scores, kClasses, 2);
  ASSERT_TRUE(top1 && top2);
  EXPECT_DOUBLE_EQ(top1->accuracy, 0.0);
  EXPECT_DOUBLE_EQ(top1->top_k_accuracy, 0.0);
  EXPECT_DOUBLE_EQ(top2->top_k_accuracy, 1.0);
  // k beyond the class count: always a hit.
  auto top5 = evaluate_classification({2}, scores, kClasses);
  ASSERT_TRUE(top5);
  EXPECT_DOUBLE_EQ(top5->top_k_accuracy, 1.0);
}

TEST(ClassificationMetrics, MacroF1SkipsClassesAbsentFromTruthAndPredictions) {
  // neutrophil never occurs: macro over blast and lymphocyte only, both perfect.
  auto r = evaluate_predictions({0, 1, 1}, {0, 1, 1}, kClasses);
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->macro_f1, 1.0);
  EXPECT_DOUBLE_EQ(r->weighted_f1, 1.0);
  EXPECT_DOUBLE_EQ(r->top_k_accuracy, -1.0);
  // Predicted but never true: it joins the macro average with F1 0.
  r = evaluate_predictions({0, 1, 1}, {0, 1, 2}, kClasses);
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->macro_f1, (1.0 + 2.0 / 3.0 + 0.0) / 3.0, 1e-12);
}

TEST(ClassificationMetrics, BadInputNamesTheSample) {
  auto r = evaluate_predictions({0, 3}, {0, 1}, kClasses);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("truth[1]"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("[0, 3)"), std::string::npos);
  r = evaluate_predictions({0, 1}, {0}, kClasses);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("2 predictions"), std::string::npos);
  r = evaluate_classification({0}, {0.1f, 0.2f}, kClasses);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("1 x 3 = 3 values"), std::string::npos);
  r = evaluate_classification({0}, {0.1f, std::nanf(""), 0.2f}, kClasses);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("scores[0][1]"), std::string::npos);
  EXPECT_FALSE(evaluate_classification({}, {}, kClasses));
  EXPECT_FALSE(evaluate_classification({0}, {1, 0, 0}, kClasses, 0));
}

TEST(ClassificationMetrics, JsonAndCsvHaveTheStableKeys) {
  auto r = evaluate_classification({0, 1}, {0.9f, 0.1f, 0.0f, 0.2f, 0.7f, 0.1f}, kClasses);
  ASSERT_TRUE(r);
  const Json j = classification_metrics_json(*r);
  for (const char* k :
       {"accuracy", "top5", "macro_f1", "weighted_f1", "per_class", "classes", "confusion"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k : {"precision", "recall", "f1", "support"})
    EXPECT_TRUE(j["per_class"]["lymphocyte"].contains(k)) << k;
  EXPECT_EQ(j["per_class"]["blast"]["support"].get<int>(), 1);
  EXPECT_EQ(j["confusion"][1][1].get<int>(), 1);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 1.0);
  const std::string csv = classification_metrics_csv(*r);
  EXPECT_EQ(csv.rfind("class,precision,recall,f1,support\nblast,1,1,1,1\n", 0), 0u) << csv;
  EXPECT_NE(csv.find("\nneutrophil,0,0,0,0\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nmacro,,,1,2\n"), std::string::npos) << csv;
  auto labels_only = evaluate_predictions({0}, {0}, kClasses);
  ASSERT_TRUE(labels_only);
  EXPECT_TRUE(classification_metrics_json(*labels_only)["top5"].is_null());
}

}  // namespace
}  // namespace ms
