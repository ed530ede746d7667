// The classifier's report.html files hold the run's numbers: per-epoch curves from metrics.jsonl,
// the best epoch's per-class table and confusion matrix, K-fold mean and spread; and the metrics
// JSON reads back into the struct it came from.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/classifier/classifier_report.h"
#include "unit/engine/classifier/classifier_test_support.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

using testing::slurp;

std::string fmt_pm(double mean, double sd) { return fmt::format("{:.4f} ± {:.4f}", mean, sd); }

// 3 classes, 8 samples: truth 0 0 0 1 1 2 2 2.
ClassificationMetrics sample_metrics(const std::vector<int>& predicted) {
  std::vector<float> scores;
  for (int p : predicted)
    for (int c = 0; c < 3; ++c) scores.push_back(c == p ? 0.8f : 0.1f);
  auto m = evaluate_classification({0, 0, 0, 1, 1, 2, 2, 2}, scores, {"blast", "lymphocyte", "monocyte"}, 5);
  EXPECT_TRUE(m);
  return *m;
}

TEST(ClassifierReport, MetricsJsonRoundTrips) {
  const auto m = sample_metrics({0, 0, 1, 1, 1, 2, 2, 0});
  auto back = classification_metrics_from_json(classification_metrics_json(m), "m.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->classes, m.classes);
  EXPECT_EQ(back->confusion, m.confusion);
  EXPECT_EQ(back->num_samples, 8);
  EXPECT_DOUBLE_EQ(back->accuracy, m.accuracy);
  EXPECT_DOUBLE_EQ(back->macro_f1, m.macro_f1);
  EXPECT_EQ(back->top_k, 5);
  EXPECT_DOUBLE_EQ(back->top_k_accuracy, m.top_k_accuracy);
  ASSERT_EQ(back->per_class.size(), 3u);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_DOUBLE_EQ(back->per_class[c].f1, m.per_class[c].f1);
    EXPECT_EQ(back->per_class[c].support, m.per_class[c].support);
    EXPECT_EQ(back->per_class[c].predicted, m.per_class[c].predicted);
  }
  Json broken = classification_metrics_json(m);
  broken["per_class"]["monocyte"].erase("recall");
  auto bad = classification_metrics_from_json(broken, "m.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("m.json:$.per_class.monocyte.recall"), std::string::npos)
      << bad.error().message;
}

TEST(ClassifierReport, RunReportHoldsCurvesTableAndConfusion) {
  const fs::path run = fs::temp_directory_path() / "ms_cls_report_run";
  fs::remove_all(run);
  fs::create_directories(run);
  {
    std::ofstream f(run / "metrics.jsonl");
    f << R"({"epoch":1,"lr":0.001,"train_loss":1.25,"train_ce":1.0,"train_contrastive":0.25,"train_accuracy":0.5,"val_accuracy":0.625,"val_macro_f1":0.6,"val_top5":1.0})" "\n";
    f << "{not json, a line cut by a crash\n";
    f << R"({"epoch":2,"lr":0.0005,"train_loss":0.75,"train_ce":0.6,"train_contrastive":0.15,"train_accuracy":0.8,"val_accuracy":0.875,"val_macro_f1":0.86,"val_top5":1.0})" "\n";
  }
  auto history = read_classifier_metrics((run / "metrics.jsonl").string());
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_DOUBLE_EQ((*history)[1].train_contrastive, 0.15);

  const auto best = sample_metrics({0, 0, 0, 1, 1, 2, 2, 0});  // 7/8 right
  ASSERT_TRUE(write_json_file((run / "best_metrics.json").string(), classification_metrics_json(best)));
  ASSERT_TRUE(write_classifier_run_report(run.string(), "Classifier training — tiny <run>",
                                          {{"config", "tiny"}, {"command", "marrowscope train-classifier"}}));
  const std::string html = slurp(run / "report.html");
  EXPECT_NE(html.find("tiny &lt;run&gt;"), std::string::npos);  // escaped title
  for (const char* s : {"Training loss per epoch", "Accuracy per epoch", "Learning rate per epoch",
                        "contrastive", "val accuracy", "Validation, best epoch (2)", "0.8750",
                        "Per class", "Confusion matrix", "monocyte", "<svg"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  // Per-class F1 of the best epoch is in the table (monocyte: P 1, R 2/3, F1 0.8).
  EXPECT_NE(html.find("0.8000"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);  // self-contained, nothing fetched

  auto missing = write_classifier_run_report((run / "nowhere").string(), "x", {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("metrics.jsonl"), std::string::npos);
}

TEST(ClassifierReport, CrossValidationHasMeanAndSpread) {
  // Fold accuracies 5/8, 6/8, 7/8: mean 0.75, sample sd 0.125.
  std::vector<FoldSummary> folds{{0, 3, sample_metrics({0, 0, 0, 1, 0, 2, 0, 0}), "/nonexistent/fold_0"},
                                 {1, 4, sample_metrics({0, 0, 0, 1, 1, 2, 0, 0}), "/nonexistent/fold_1"},
                                 {2, 2, sample_metrics({0, 0, 0, 1, 1, 2, 2, 0}), "/nonexistent/fold_2"}};
  EXPECT_DOUBLE_EQ(folds[0].best.accuracy, 0.625);
  const Json j = cross_validation_json(folds);
  EXPECT_DOUBLE_EQ(j["accuracy_mean"].get<double>(), 0.75);
  EXPECT_NEAR(j["accuracy_sd"].get<double>(), 0.125, 1e-12);
  EXPECT_EQ(j["folds"].size(), 3u);
  EXPECT_EQ(j["folds"][1]["best_epoch"], 4);
  const auto [f1m, f1sd] =
      mean_and_sd({folds[0].best.macro_f1, folds[1].best.macro_f1, folds[2].best.macro_f1});
  EXPECT_DOUBLE_EQ(j["macro_f1_mean"].get<double>(), f1m);
  EXPECT_DOUBLE_EQ(j["macro_f1_sd"].get<double>(), f1sd);
  EXPECT_DOUBLE_EQ(j["per_class"]["blast"]["recall_mean"].get<double>(), 1.0);

  const fs::path out = fs::temp_directory_path() / "ms_cls_report_cv.html";
  ASSERT_TRUE(write_cross_validation_report(out.string(), "CV", folds, {{"config", "tiny"}}));
  const std::string html = slurp(out);
  for (const char* s : {"3-fold cross-validation", "0.7500 ± 0.1250", "0.6250", "0.8750",
                        "Per fold", "Per class over the folds", "all folds pooled"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  EXPECT_NE(html.find(fmt_pm(f1m, f1sd)), std::string::npos);
}

TEST(ClassifierReport, EvaluationReportHoldsTheNumbers) {
  const auto m = sample_metrics({0, 0, 1, 1, 1, 2, 2, 2});
  const fs::path out = fs::temp_directory_path() / "ms_cls_eval_report.html";
  ASSERT_TRUE(write_classifier_eval_report(out.string(), "Classifier evaluation — v1", m,
                                           {{"model", "v1"}, {"data", "/data/pbc"}}));
  const std::string html = slurp(out);
  for (const char* s : {"Classifier evaluation — v1", "/data/pbc", "0.8750", "macro F1", "lymphocyte",
                        "Confusion matrix"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace ms
