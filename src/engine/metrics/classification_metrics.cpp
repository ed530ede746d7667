#include "engine/metrics/classification_metrics.h"

#include <cmath>

#include <fmt/format.h>

#include "engine/metrics/metrics_format.h"

namespace ms {
namespace {

Status check_labels(const std::vector<int>& ids, const char* what, size_t num_classes) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || size_t(ids[i]) >= num_classes)
      return fail(ErrorCode::kInvalidArgument, fmt::format("{}[{}]", what, i),
                  fmt::format("a class id in [0, {})", num_classes), std::to_string(ids[i]));
  return {};
}

Status check_common(const std::vector<int>& truth, const std::vector<std::string>& classes) {
  if (classes.empty())
    return fail(ErrorCode::kInvalidArgument, "classification classes", "at least one class",
                "an empty list");
  if (truth.empty())
    return fail(ErrorCode::kInvalidArgument, "classification truth", "at least one sample",
                "none");
  return check_labels(truth, "truth", classes.size());
}

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

// Everything except top-k, from truth and top-1 predictions.
ClassificationMetrics from_predictions(const std::vector<int>& truth,
                                       const std::vector<int>& predicted,
                                       const std::vector<std::string>& classes) {
  const size_t C = classes.size();
  ClassificationMetrics m;
  m.classes = classes;
  m.num_samples = int64_t(truth.size());
  m.confusion.assign(C, std::vector<int64_t>(C, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    ++m.confusion[size_t(truth[i])][size_t(predicted[i])];
    correct += truth[i] == predicted[i];
  }
  m.accuracy = double(correct) / double(truth.size());
  double macro_sum = 0, weighted_sum = 0;
  int64_t macro_count = 0;
  for (size_t k = 0; k < C; ++k) {
    ClassClassificationMetrics c;
    c.name = classes[k];
    const int64_t tp = m.confusion[k][k];
    for (size_t j = 0; j < C; ++j) {
      c.support += m.confusion[k][j];
      c.predicted += m.confusion[j][k];
    }
    c.precision = ratio(double(tp), double(c.predicted));
    c.recall = ratio(double(tp), double(c.support));
    c.f1 = ratio(2 * c.precision * c.recall, c.precision + c.recall);
    if (c.support > 0 || c.predicted > 0) {
      macro_sum += c.f1;
      ++macro_count;
    }
    weighted_sum += c.f1 * double(c.support);
    m.per_class.push_back(std::move(c));
  }
  m.macro_f1 = ratio(macro_sum, double(macro_count));
  m.weighted_f1 = weighted_sum / double(truth.size());
  return m;
}

}  // namespace

Result<ClassificationMetrics> evaluate_predictions(const std::vector<int>& truth,
                                                   const std::vector<int>& predicted,
                                                   const std::vector<std::string>& classes) {
  if (auto s = check_common(truth, classes); !s) return tl::unexpected(s.error());
  if (predicted.size() != truth.size())
    return fail(ErrorCode::kInvalidArgument, "classification predictions",
                fmt::format("{} predictions (one per truth label)", truth.size()),
                std::to_string(predicted.size()));
  if (auto s = check_labels(predicted, "predicted", classes.size()); !s)
    return tl::unexpected(s.error());
  return from_predictions(truth, predicted, classes);
}

Result<ClassificationMetrics> evaluate_classification(const std::vector<int>& truth,
                                                      const std::vector<float>& scores,
                                                      const std::vector<std::string>& classes,
                                                      int top_k) {
  if (auto s = check_common(truth, classes); !s) return tl::unexpected(s.error());
  const size_t C = classes.size(), N = truth.size();
  if (scores.size() != N * C)
    return fail(ErrorCode::kInvalidArgument, "classification scores",
                fmt::format("{} x {} = {} values", N, C, N * C), std::to_string(scores.size()));
  if (top_k < 1)
    return fail(ErrorCode::kInvalidArgument, "top_k", "an integer >= 1", std::to_string(top_k));
  std::vector<int> predicted(N);
  int64_t hits = 0;
  for (size_t i = 0; i < N; ++i) {
    const float* row = scores.data() + i * C;
    size_t best = 0;
    for (size_t j = 0; j < C; ++j) {
      if (!std::isfinite(row[j]))
        return fail(ErrorCode::kInvalidArgument, fmt::format("scores[{}][{}]", i, j),
                    "a finite score", fmt::format("{}", row[j]));
      if (row[j] > row[best]) best = j;
    }
    predicted[i] = int(best);
    // Rank of the truth: classes scored higher, or equal with a lower index, come before it.
    const size_t t = size_t(truth[i]);
    size_t rank = 0;
    for (size_t j = 0; j < C; ++j)
      if (row[j] > row[t] || (row[j] == row[t] && j < t)) ++rank;
    hits += rank < size_t(top_k);
  }
  ClassificationMetrics m = from_predictions(truth, predicted, classes);
  m.top_k = top_k;
  m.top_k_accuracy = double(hits) / double(N);
  return m;
}

Json classification_metrics_json(const ClassificationMetrics& m) {
  Json j = Json::object();
  j["accuracy"] = m.accuracy;
  j[fmt::format("top{}", m.top_k)] =
      m.top_k_accuracy >= 0 ? Json(m.top_k_accuracy) : Json(nullptr);
  j["macro_f1"] = m.macro_f1;
  j["weighted_f1"] = m.weighted_f1;
  j["num_samples"] = m.num_samples;
  j["classes"] = m.classes;
  Json per_class = Json::object();
  for (const auto& c : m.per_class)
    per_class[c.name] = {{"precision", c.precision},
                         {"recall", c.recall},
                         {"f1", c.f1},
                         {"support", c.support}};
  j["per_class"] = per_class;
  j["confusion"] = m.confusion;
  return j;
}

std::string classification_metrics_csv(const ClassificationMetrics& m) {
  std::string out = "class,precision,recall,f1,support\n";
  for (const auto& c : m.per_class)
    out += fmt::format("{},{},{},{},{}\n", csv_field(c.name), c.precision, c.recall, c.f1,
                       c.support);
  out += fmt::format("macro,,,{},{}\n", m.macro_f1, m.num_samples);
  out += fmt::format("weighted,,,{},{}\n", m.weighted_f1, m.num_samples);
  return out;
}

}  // namespace ms
