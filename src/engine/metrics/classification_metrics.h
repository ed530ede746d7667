#pragma once
// Single-cell classification metrics, defined as scikit-learn 1.2 defines them (the reference
// the tests compare with, tools/gen_metrics_golden.py):
//   accuracy      fraction of samples whose top-1 class is the truth
//   top-k         fraction whose truth is among the k highest scores (k >= classes: 1)
//   per class     precision = TP / (TP + FP), recall = TP / support, F1 = 2PR / (P + R);
//                 a 0/0 is 0 (sklearn's zero_division behaviour, without the warning)
//   macro F1      mean F1 over the classes that occur in the truth or the predictions (sklearn's
//                 default label set: a class absent from both says nothing about the model)
//   weighted F1   F1 weighted by support
//   confusion     counts[truth][predicted]
// Ties in the scores: the top-1 class is the lowest index among the maxima (numpy argmax), and a
// class ranks before an equal-scored class with a higher index, so top-1 = top-k at k = 1.
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace ms {

struct ClassClassificationMetrics {
  std::string name;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t support = 0;    // samples whose truth is this class
  int64_t predicted = 0;  // samples predicted as this class
};

struct ClassificationMetrics {
  std::vector<std::string> classes;
  int64_t num_samples = 0;
  double accuracy = 0;
  int top_k = 5;
  double top_k_accuracy = -1;  // -1 when only labels (no scores) were given
  double macro_f1 = 0;
  double weighted_f1 = 0;
  std::vector<ClassClassificationMetrics> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [truth][predicted], C x C
};

// truth: [N] class ids; scores: [N, C] row-major (probabilities or logits; only the order within
// a row matters), C = classes.size(). Fails, naming the offending sample, on N = 0, a size
// mismatch, a class id outside [0, C), a non-finite score, or top_k < 1.
Result<ClassificationMetrics> evaluate_classification(const std::vector<int>& truth,
                                                      const std::vector<float>& scores,
                                                      const std::vector<std::string>& classes,
                                                      int top_k = 5);

// The same from hard predictions ([N] class ids); top_k_accuracy stays -1.
Result<ClassificationMetrics> evaluate_predictions(const std::vector<int>& truth,
                                                   const std::vector<int>& predicted,
                                                   const std::vector<std::string>& classes);

// Stable JSON keys: accuracy, top5 (top-k accuracy; the key names k: "top5" for k = 5, or null
// without scores), macro_f1, weighted_f1, num_samples, per_class.<name>.{precision, recall, f1,
// support}, classes, confusion ([truth][predicted] counts).
Json classification_metrics_json(const ClassificationMetrics& m);
// One row per class, then "macro" and "weighted" rows; header: class,precision,recall,f1,support
std::string classification_metrics_csv(const ClassificationMetrics& m);

}  // namespace ms
