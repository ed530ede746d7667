#include "engine/classifier/classifier_report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <fmt/format.h>

#include "engine/report/report_html.h"

namespace ms {

namespace fs = std::filesystem;

namespace {

tl::unexpected<Error> bad_key(const std::string& source, const std::string& key, const std::string& expected,
               const Json& found) {
  return fail(ErrorCode::kInvalidArgument, source + ":$." + key, expected,
              found.is_null() ? std::string("nothing") : json_type_name(found));
}

std::string num4(double v) { return fmt::format("{:.4f}", v); }
std::string pm(double mean, double sd) { return fmt::format("{:.4f} ± {:.4f}", mean, sd); }

double finite_or_nan(double v) { return std::isfinite(v) ? v : std::nan(""); }

}  // namespace

Result<ClassificationMetrics> classification_metrics_from_json(const Json& j, const std::string& source) {
  if (!j.is_object()) return bad_key(source, "", "an object", j);
  ClassificationMetrics m;
  auto number = [&](const char* key, double& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return bad_key(source, key, "a number", it == j.end() ? Json() : *it);
    out = it->get<double>();
    return {};
  };
  for (auto [key, out] : {std::pair<const char*, double*>{"accuracy", &m.accuracy},
                          {"macro_f1", &m.macro_f1},
                          {"weighted_f1", &m.weighted_f1}})
    if (auto s = number(key, *out); !s) return tl::unexpected(s.error());
  auto classes = j.find("classes");
  if (classes == j.end() || !classes->is_array())
    return bad_key(source, "classes", "an array of names", classes == j.end() ? Json() : *classes);
  for (const auto& c : *classes) {
    if (!c.is_string()) return bad_key(source, "classes[]", "a string", c);
    m.classes.push_back(c.get<std::string>());
  }
  const size_t n = m.classes.size();
  // top-k: the single key "top<k>" the writer names after k.
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key.size() > 3 && key.compare(0, 3, "top") == 0 &&
        key.find_first_not_of("0123456789", 3) == std::string::npos) {
      m.top_k = std::stoi(key.substr(3));
      m.top_k_accuracy = it->is_number() ? it->get<double>() : -1;
    }
  }
  auto confusion = j.find("confusion");
  if (confusion == j.end() || !confusion->is_array() || confusion->size() != n)
    return bad_key(source, "confusion", fmt::format("{} rows", n),
                                  confusion == j.end() ? Json() : *confusion);
  for (const auto& row : *confusion) {
    if (!row.is_array() || row.size() != n)
      return bad_key(source, "confusion[]", fmt::format("a row of {} counts", n), row);
    std::vector<int64_t> r;
    for (const auto& v : row) {
      if (!v.is_number_integer()) return bad_key(source, "confusion[][]", "an integer", v);
      r.push_back(v.get<int64_t>());
    }
    m.confusion.push_back(std::move(r));
  }
  auto per_class = j.find("per_class");
  if (per_class == j.end() || !per_class->is_object())
    return bad_key(source, "per_class", "an object", per_class == j.end() ? Json() : *per_class);
  for (const auto& name : m.classes) {
    auto c = per_class->find(name);
    if (c == per_class->end() || !c->is_object())
      return bad_key(source, "per_class." + name, "an object", Json());
    ClassClassificationMetrics cm;
    cm.name = name;
    for (auto [key, out] : {std::pair<const char*, double*>{"precision", &cm.precision},
                            {"recall", &cm.recall},
                            {"f1", &cm.f1}}) {
      auto v = c->find(key);
      if (v == c->end() || !v->is_number())
        return bad_key(source, "per_class." + name + "." + key, "a number", v == c->end() ? Json() : *v);
      *out = v->get<double>();
    }
    auto s = c->find("support");
    if (s == c->end() || !s->is_number_integer())
      return bad_key(source, "per_class." + name + ".support", "an integer", s == c->end() ? Json() : *s);
    cm.support = s->get<int64_t>();
    m.per_class.push_back(cm);
  }
  for (size_t t = 0; t < n; ++t)
    for (size_t p = 0; p < n; ++p) {
      m.num_samples += m.confusion[t][p];
      m.per_class[p].predicted += m.confusion[t][p];
    }
  return m;
}

Result<std::vector<ClassifierEpochRecord>> read_classifier_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kNotFound, path, "a metrics.jsonl file", "no readable file");
  std::vector<ClassifierEpochRecord> out;
  std::string line;
  while (std::getline(in, line)) {
    auto j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer())
      continue;
    ClassifierEpochRecord r;
    r.epoch = j["epoch"].get<int>();
    auto get = [&](const char* key, double fallback) {
      auto it = j.find(key);
      return it != j.end() && it->is_number() ? it->get<double>() : fallback;
    };
    r.lr = get("lr", 0);
    r.train_loss = get("train_loss", std::nan(""));
    r.train_ce = get("train_ce", std::nan(""));
    r.train_contrastive = get("train_contrastive", std::nan(""));
    r.train_accuracy = get("train_accuracy", std::nan(""));
    r.val_accuracy = get("val_accuracy", std::nan(""));
    r.val_macro_f1 = get("val_macro_f1", std::nan(""));
    r.val_top5 = get("val_top5", -1);
    out.push_back(r);
  }
  return out;
}

Status write_classifier_run_report(const std::string& run_dir, const std::string& title,
                                   const std::vector<std::pair<std::string, std::string>>& run) {
  auto history = read_classifier_metrics((fs::path(run_dir) / "metrics.jsonl").string());
  if (!history) return tl::unexpected(history.error());
  HtmlReport r(title);
  r.key_values("Run", run);
  std::vector<double> x, loss, ce, con, tacc, vacc, vf1, vtop5, lr;
  bool any_contrastive = false;
  for (const auto& h : *history) {
    x.push_back(h.epoch);
    loss.push_back(finite_or_nan(h.train_loss));
    ce.push_back(finite_or_nan(h.train_ce));
    con.push_back(finite_or_nan(h.train_contrastive));
    any_contrastive = any_contrastive || (std::isfinite(h.train_contrastive) && h.train_contrastive != 0);
    tacc.push_back(finite_or_nan(h.train_accuracy));
    vacc.push_back(finite_or_nan(h.val_accuracy));
    vf1.push_back(finite_or_nan(h.val_macro_f1));
    vtop5.push_back(h.val_top5 >= 0 ? h.val_top5 : std::nan(""));
    lr.push_back(h.lr);
  }
  std::vector<ChartSeries> losses{{"total", x, loss}, {"cross-entropy", x, ce}};
  if (any_contrastive) losses.push_back({"contrastive", x, con});
  r.line_chart({"Training loss per epoch", "epoch", "loss", losses});
  LineChartSpec acc{"Accuracy per epoch", "epoch", "value",
                    {{"train accuracy", x, tacc},
                     {"val accuracy", x, vacc},
                     {"val macro-F1", x, vf1},
                     {"val top-5", x, vtop5}}};
  acc.y_min = 0;
  acc.y_max = 1;
  r.line_chart(acc);
  LineChartSpec lrs{"Learning rate per epoch (last step of the epoch)", "epoch", "lr", {{"lr", x, lr}}};
  lrs.y_min = 0;
  r.line_chart(lrs);
  const std::string best_path = (fs::path(run_dir) / "best_metrics.json").string();
  if (fs::exists(best_path)) {
    auto j = read_json_file(best_path);
    if (!j) return tl::unexpected(j.error());
    auto m = classification_metrics_from_json(*j, best_path);
    if (!m) return tl::unexpected(m.error());
    int best_epoch = -1;
    double best_acc = -1;
    for (const auto& h : *history)
      if (h.val_accuracy > best_acc) best_acc = h.val_accuracy, best_epoch = h.epoch;
    r.heading(best_epoch > 0 ? fmt::format("Validation, best epoch ({})", best_epoch)
                             : std::string("Validation, best epoch"));
    r.classification_metrics(*m);
  } else {
    r.paragraph("No validated epoch yet.");
  }
  return r.write((fs::path(run_dir) / "report.html").string());
}

std::pair<double, double> mean_and_sd(const std::vector<double>& v) {
  if (v.empty()) return {0.0, 0.0};
  const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0};
}

Json cross_validation_json(const std::vector<FoldSummary>& folds) {
  MS_CHECK(!folds.empty(), "cross-validation summary needs at least one fold");
  const auto& classes = folds.front().best.classes;
  std::vector<double> acc, f1, top5;
  Json list = Json::array();
  for (const auto& f : folds) {
    MS_CHECK(f.best.classes == classes, "cross-validation folds must share one class list");
    acc.push_back(f.best.accuracy);
    f1.push_back(f.best.macro_f1);
    top5.push_back(f.best.top_k_accuracy);
    list.push_back({{"fold", f.fold},
                    {"accuracy", f.best.accuracy},
                    {"macro_f1", f.best.macro_f1},
                    {"top5", f.best.top_k_accuracy},
                    {"best_epoch", f.best_epoch}});
  }
  const auto [am, as] = mean_and_sd(acc);
  const auto [fm, fsd] = mean_and_sd(f1);
  const auto [tm, tsd] = mean_and_sd(top5);
  Json per_class = Json::object();
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<double> cf1, cp, cr;
    for (const auto& f : folds) {
      cf1.push_back(f.best.per_class[c].f1);
      cp.push_back(f.best.per_class[c].precision);
      cr.push_back(f.best.per_class[c].recall);
    }
    const auto [m, sd] = mean_and_sd(cf1);
    per_class[classes[c]] = {{"f1_mean", m},
                             {"f1_sd", sd},
                             {"precision_mean", mean_and_sd(cp).first},
                             {"recall_mean", mean_and_sd(cr).first}};
  }
  return {{"folds", list},         {"accuracy_mean", am}, {"accuracy_sd", as},
          {"macro_f1_mean", fm},   {"macro_f1_sd", fsd},  {"top5_mean", tm},
          {"top5_sd", tsd},        {"classes", classes},  {"per_class", per_class}};
}

Status write_cross_validation_report(const std::string& path, const std::string& title,
                                     const std::vector<FoldSummary>& folds,
                                     const std::vector<std::pair<std::string, std::string>>& run) {
  const Json s = cross_validation_json(folds);
  HtmlReport r(title);
  r.key_values("Run", run);
  r.key_values(fmt::format("{}-fold cross-validation (mean ± sample standard deviation)", folds.size()),
               {{"accuracy", pm(s["accuracy_mean"], s["accuracy_sd"])},
                {"macro F1", pm(s["macro_f1_mean"], s["macro_f1_sd"])},
                {"top-5 accuracy", pm(s["top5_mean"], s["top5_sd"])}});
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : folds)
    rows.push_back({std::to_string(f.fold), std::to_string(f.best_epoch), num4(f.best.accuracy),
                    num4(f.best.macro_f1), num4(f.best.top_k_accuracy),
                    std::to_string(f.best.num_samples)});
  r.table("Per fold (best epoch of each)", {"fold", "best epoch", "accuracy", "macro F1", "top-5", "val cells"},
          rows);
  std::vector<std::vector<std::string>> class_rows;
  for (const auto& name : s["classes"]) {
    const Json& c = s["per_class"][name.get<std::string>()];
    class_rows.push_back({name.get<std::string>(), pm(c["f1_mean"], c["f1_sd"]), num4(c["precision_mean"]),
                          num4(c["recall_mean"])});
  }
  r.table("Per class over the folds", {"class", "F1", "precision (mean)", "recall (mean)"}, class_rows);
  std::vector<ChartSeries> curves;
  for (const auto& f : folds) {
    auto h = read_classifier_metrics((fs::path(f.run_dir) / "metrics.jsonl").string());
    if (!h) continue;  // the table above already holds the fold's numbers
    ChartSeries cs{fmt::format("fold {}", f.fold), {}, {}};
    for (const auto& e : *h) {
      cs.x.push_back(e.epoch);
      cs.y.push_back(finite_or_nan(e.val_accuracy));
    }
    curves.push_back(std::move(cs));
  }
  LineChartSpec chart{"Validation accuracy per epoch, each fold", "epoch", "accuracy", curves};
  chart.y_min = 0;
  chart.y_max = 1;
  r.line_chart(chart);
  // The confusion matrices summed over the folds: every cell is validated exactly once.
  ClassificationMetrics pooled = folds.front().best;
  for (size_t k = 1; k < folds.size(); ++k)
    for (size_t t = 0; t < pooled.confusion.size(); ++t)
      for (size_t p = 0; p < pooled.confusion.size(); ++p) pooled.confusion[t][p] += folds[k].best.confusion[t][p];
  HeatmapSpec h;
  h.title = "Confusion matrix, all folds pooled";
  h.row_labels = h.col_labels = pooled.classes;
  h.counts = pooled.confusion;
  r.heatmap(h);
  return r.write(path);
}

Status write_classifier_eval_report(const std::string& path, const std::string& title,
                                    const ClassificationMetrics& m,
                                    const std::vector<std::pair<std::string, std::string>>& run) {
  HtmlReport r(title);
  r.key_values("Evaluation", run);
  r.classification_metrics(m);
  return r.write(path);
}

}  // namespace ms
