#pragma once
// Self-contained report.html files for the classifier (requirement: "each run and each
// evaluation writes a self-contained report.html with the curves, the per-class table and the
// confusion matrix"), built with the shared writer engine/report/report_html.h.
//
//   training run   <run>/report.html: loss / accuracy / learning-rate curves per epoch read from
//                  <run>/metrics.jsonl, then the per-class table and confusion matrix of the best
//                  epoch (<run>/best_metrics.json). Rebuilt from those files after every epoch,
//                  so a resumed run's report covers all of its sessions.
//   K-fold run     <run>/report.html: mean and sample standard deviation over the folds of
//                  accuracy, macro-F1, top-5 and every class's F1, a per-fold table and every
//                  fold's validation accuracy curve (each fold_k/ has its own run report too).
//   evaluation     eval-classifier --report PATH: summary, per-class table, confusion matrix.
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "engine/metrics/classification_metrics.h"

namespace ms {

// Inverse of classification_metrics_json (engine/metrics): reads accuracy, top<k>, macro_f1,
// weighted_f1, num_samples, classes, per_class.<name>.{precision,recall,f1,support} and
// confusion. Errors name `source` and the offending key.
Result<ClassificationMetrics> classification_metrics_from_json(const Json& j, const std::string& source);

// One line of <run>/metrics.jsonl as the classifier trainer writes it.
struct ClassifierEpochRecord {
  int epoch = 0;
  double lr = 0;
  double train_loss = 0, train_ce = 0, train_contrastive = 0, train_accuracy = 0;
  double val_accuracy = 0, val_macro_f1 = 0, val_top5 = -1;
};

// Reads <run>/metrics.jsonl (lines that do not parse are skipped: a line cut by a crash must not
// hide the rest). A missing file is an error naming it.
Result<std::vector<ClassifierEpochRecord>> read_classifier_metrics(const std::string& path);

// Writes <run_dir>/report.html from <run_dir>/metrics.jsonl and, when present,
// <run_dir>/best_metrics.json. `run` rows (config, data, command, ...) open the report.
Status write_classifier_run_report(const std::string& run_dir, const std::string& title,
                                   const std::vector<std::pair<std::string, std::string>>& run);

// One fold of a cross-validation, as the trainer summarises it.
struct FoldSummary {
  int fold = 0;
  int best_epoch = -1;
  ClassificationMetrics best;  // validation metrics of the fold's best epoch
  std::string run_dir;         // <run>/fold_k (its metrics.jsonl feeds the curve)
};

// Mean and sample standard deviation (n - 1; 0 for one value).
std::pair<double, double> mean_and_sd(const std::vector<double>& values);

// JSON summary of K folds: folds[] {fold, accuracy, macro_f1, top5, best_epoch}, accuracy_mean,
// accuracy_sd, macro_f1_mean, macro_f1_sd, top5_mean, top5_sd, per_class.<name>.{f1_mean, f1_sd,
// precision_mean, recall_mean}. Folds must share the class list (a caller bug otherwise: throws).
Json cross_validation_json(const std::vector<FoldSummary>& folds);

// Writes the K-fold report (see the top of this file) to `path`.
Status write_cross_validation_report(const std::string& path, const std::string& title,
                                     const std::vector<FoldSummary>& folds,
                                     const std::vector<std::pair<std::string, std::string>>& run);

// The evaluation report of eval-classifier.
Status write_classifier_eval_report(const std::string& path, const std::string& title,
                                    const ClassificationMetrics& m,
                                    const std::vector<std::pair<std::string, std::string>>& run);

}  // namespace ms
