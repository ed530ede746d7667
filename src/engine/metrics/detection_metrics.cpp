#include "engine/metrics/detection_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "engine/metrics/metrics_format.h"

namespace ms {
namespace {

constexpr int kNumIou = 10;
constexpr int kNumRecall = 101;
constexpr double kPrecisionEps = 2.220446049250313e-16;  // np.spacing(1) = 2^-52, cocoeval.py
const char* const kAgnosticClass = "cell";

// IoU in double precision, the way pycocotools' bbIou computes it (no +1 on widths, 0 when the
// boxes do not overlap). d, g: xyxy pixels.
double box_iou(const Box& d, const Box& g) {
  const double w = std::min<double>(d.x2, g.x2) - std::max<double>(d.x1, g.x1);
  if (w <= 0) return 0.0;
  const double h = std::min<double>(d.y2, g.y2) - std::max<double>(d.y1, g.y1);
  if (h <= 0) return 0.0;
  const double inter = w * h;
  const double da = (double(d.x2) - d.x1) * (double(d.y2) - d.y1);
  const double ga = (double(g.x2) - g.x1) * (double(g.y2) - g.y1);
  return inter / (da + ga - inter);
}

Status check_boxes(const std::vector<BoxAnnotation>& boxes, size_t image, const char* what,
                   size_t num_classes, bool check_score) {
  for (size_t i = 0; i < boxes.size(); ++i) {
    const BoxAnnotation& a = boxes[i];
    const std::string where = fmt::format("images[{}].{}[{}]", image, what, i);
    if (a.class_id < 0 || size_t(a.class_id) >= num_classes)
      return fail(ErrorCode::kInvalidArgument, where,
                  fmt::format("class_id in [0, {})", num_classes), std::to_string(a.class_id));
    const Box& b = a.box;
    if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) ||
        !std::isfinite(b.y2) || b.x2 < b.x1 || b.y2 < b.y1)
      return fail(ErrorCode::kInvalidArgument, where,
                  "a finite xyxy box with x2 >= x1 and y2 >= y1",
                  fmt::format("[{}, {}, {}, {}]", b.x1, b.y1, b.x2, b.y2));
    if (check_score && !std::isfinite(a.score))
      return fail(ErrorCode::kInvalidArgument, where, "a finite score", fmt::format("{}", a.score));
  }
  return {};
}

Status check_inputs(const std::vector<FieldDetections>& images, const DetectionEvalOptions& o) {
  if (o.classes.empty())
    return fail(ErrorCode::kInvalidArgument, "detection evaluation classes",
                "at least one class name", "an empty list");
  std::set<std::string> names;
  for (const auto& c : o.classes)
    if (!names.insert(c).second)
      return fail(ErrorCode::kInvalidArgument, "detection evaluation classes", "unique names",
                  "\"" + c + "\" twice");
  if (o.max_detections < 1)
    return fail(ErrorCode::kInvalidArgument, "max_detections", "an integer >= 1",
                std::to_string(o.max_detections));
  if (!(o.confusion_iou > 0 && o.confusion_iou <= 1))
    return fail(ErrorCode::kInvalidArgument, "confusion_iou", "a value in (0, 1]",
                fmt::format("{}", o.confusion_iou));
  if (!std::isfinite(o.confusion_score_threshold))
    return fail(ErrorCode::kInvalidArgument, "confusion_score_threshold", "a finite number",
                fmt::format("{}", o.confusion_score_threshold));
  for (size_t i = 0; i < images.size(); ++i) {
    if (auto s = check_boxes(images[i].truth, i, "truth", o.classes.size(), false); !s) return s;
    if (auto s = check_boxes(images[i].detections, i, "detections", o.classes.size(), true); !s)
      return s;
  }
  return {};
}

// Indices of the boxes of class k, in input order.
std::vector<size_t> of_class(const std::vector<BoxAnnotation>& boxes, int k) {
  std::vector<size_t> out;
  for (size_t i = 0; i < boxes.size(); ++i)
    if (boxes[i].class_id == k) out.push_back(i);
  return out;
}

// Best F1 over score thresholds. A threshold can only sit between two different scores, so only
// the last detection of each run of equal scores is a candidate; on equal F1 the higher threshold
// (fewer detections) wins. tp/fp: cumulative counts in descending-score order.
OperatingPoint best_f1_point(const std::vector<double>& sorted_scores,
                             const std::vector<double>& tp, const std::vector<double>& fp,
                             int64_t num_truth) {
  OperatingPoint best;
  best.precision = best.recall = best.f1 = 0;
  best.false_negatives = num_truth;
  const size_t nd = sorted_scores.size();
  bool found = false;
  for (size_t i = 0; i < nd; ++i) {
    if (i + 1 < nd && sorted_scores[i + 1] == sorted_scores[i]) continue;
    const double precision = tp[i] / (tp[i] + fp[i]);
    const double recall = tp[i] / double(num_truth);
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    if (!found || f1 > best.f1) {
      found = true;
      best.score = sorted_scores[i];
      best.precision = precision;
      best.recall = recall;
      best.f1 = f1;
      best.true_positives = int64_t(tp[i]);
      best.false_positives = int64_t(fp[i]);
      best.false_negatives = num_truth - int64_t(tp[i]);
    }
  }
  return best;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? -1.0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

// Evaluates one class over all images (steps 1-4 of the header comment).
ClassDetectionMetrics evaluate_class(const std::vector<FieldDetections>& images, int k,
                                     const DetectionMetrics& m) {
  ClassDetectionMetrics c;
  const size_t num_t = m.iou_thresholds.size();
  std::vector<double> scores;                   // kept detections, image by image
  std::vector<std::vector<char>> matched(num_t);  // [T][kept detection]
  for (const FieldDetections& image : images) {
    const std::vector<size_t> gt = of_class(image.truth, k);
    std::vector<size_t> dt = of_class(image.detections, k);
    c.num_truth += int64_t(gt.size());
    std::stable_sort(dt.begin(), dt.end(), [&](size_t a, size_t b) {
      return image.detections[a].score > image.detections[b].score;
    });
    if (dt.size() > size_t(m.max_detections)) dt.resize(size_t(m.max_detections));
    std::vector<double> ious(dt.size() * gt.size());
    for (size_t d = 0; d < dt.size(); ++d)
      for (size_t g = 0; g < gt.size(); ++g)
        ious[d * gt.size() + g] = box_iou(image.detections[dt[d]].box, image.truth[gt[g]].box);
    for (size_t t = 0; t < num_t; ++t) {
      std::vector<char> gt_taken(gt.size(), 0);
      for (size_t d = 0; d < dt.size(); ++d) {
        double best = std::min(m.iou_thresholds[t], 1 - 1e-10);
        int match = -1;
        for (size_t g = 0; g < gt.size(); ++g) {
          if (gt_taken[g]) continue;
          if (ious[d * gt.size() + g] < best) continue;  // equal IoU: the later box wins
          best = ious[d * gt.size() + g];
          match = int(g);
        }
        if (match >= 0) gt_taken[size_t(match)] = 1;
        matched[t].push_back(match >= 0 ? 1 : 0);
      }
    }
    for (size_t d : dt) scores.push_back(image.detections[d].score);
  }
  const size_t nd = scores.size();
  c.num_detections = int64_t(nd);
  if (c.num_truth == 0) return c;  // no AP without ground truth (COCO: -1)

  std::vector<size_t> order(nd);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<double> sorted_scores(nd);
  for (size_t i = 0; i < nd; ++i) sorted_scores[i] = scores[order[i]];

  const double npig = double(c.num_truth);
  c.precision.assign(num_t, std::vector<double>(m.recall_thresholds.size(), 0.0));
  c.score.assign(num_t, std::vector<double>(m.recall_thresholds.size(), 0.0));
  c.recall.assign(num_t, 0.0);
  c.best_f1.resize(num_t);
  std::vector<double> tp(nd), fp(nd), rc(nd), pr(nd);
  for (size_t t = 0; t < num_t; ++t) {
    double tps = 0, fps = 0;
    for (size_t i = 0; i < nd; ++i) {
      if (matched[t][order[i]]) tps += 1; else fps += 1;
      tp[i] = tps;
      fp[i] = fps;
      rc[i] = tps / npig;
      pr[i] = tps / (fps + tps + kPrecisionEps);
    }
    c.recall[t] = nd ? rc[nd - 1] : 0.0;
    for (size_t i = nd; i-- > 1;)
      if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    // searchsorted(rc, r, side="left"): the first point with recall >= r.
    for (size_t r = 0; r < m.recall_thresholds.size(); ++r) {
      const size_t i = size_t(std::lower_bound(rc.begin(), rc.end(), m.recall_thresholds[r]) -
                              rc.begin());
      if (i >= nd) break;
      c.precision[t][r] = pr[i];
      c.score[t][r] = sorted_scores[i];
    }
    c.best_f1[t] = best_f1_point(sorted_scores, tp, fp, c.num_truth);
  }
  std::vector<double> all;
  for (const auto& row : c.precision) all.insert(all.end(), row.begin(), row.end());
  c.ap = mean(all);
  c.ap50 = mean(c.precision[m.iou_index(0.50)]);
  c.ap75 = mean(c.precision[m.iou_index(0.75)]);
  c.ap90 = mean(c.precision[m.iou_index(0.90)]);
  c.ar100 = mean(c.recall);
  return c;
}

}  // namespace

std::vector<double> linspace(double start, double stop, int num) {
  MS_CHECK(num >= 2, "linspace needs at least two points");
  const double step = (stop - start) / double(num - 1);
  std::vector<double> v(static_cast<size_t>(num));
  for (int i = 0; i < num; ++i) v[size_t(i)] = double(i) * step + start;
  v.back() = stop;
  return v;
}

size_t DetectionMetrics::iou_index(double iou) const {
  for (size_t t = 0; t < iou_thresholds.size(); ++t)
    if (std::abs(iou_thresholds[t] - iou) < 1e-9) return t;
  throw MarrowError(ErrorCode::kInvalidArgument,
                    fmt::format("IoU {} is not one of the evaluated thresholds 0.50:0.05:0.95", iou));
}

const OperatingPoint& DetectionMetrics::best_f1(size_t k, double iou) const {
  MS_CHECK(k < per_class.size(), fmt::format("class {} of {}", k, per_class.size()));
  static const OperatingPoint kUndefined;
  const auto& c = per_class[k];
  return c.best_f1.empty() ? kUndefined : c.best_f1[iou_index(iou)];
}

DetectionConfusion detection_confusion(const std::vector<FieldDetections>& images,
                                       const std::vector<std::string>& classes,
                                       double score_threshold, double iou) {
  const size_t K = classes.size();
  DetectionConfusion cm;
  cm.labels = classes;
  cm.labels.push_back("background");
  cm.counts.assign(K + 1, std::vector<int64_t>(K + 1, 0));
  cm.score_threshold = score_threshold;
  cm.iou = iou;
  struct Pair {
    double iou;
    double score;
    size_t d, g;
  };
  for (const FieldDetections& image : images) {
    for (const auto& b : image.truth) MS_CHECK(b.class_id >= 0 && size_t(b.class_id) < K, "truth class");
    for (const auto& b : image.detections)
      MS_CHECK(b.class_id >= 0 && size_t(b.class_id) < K, "detection class");
    std::vector<Pair> pairs;
    std::vector<char> kept(image.detections.size(), 0);
    for (size_t d = 0; d < image.detections.size(); ++d) {
      if (!(image.detections[d].score >= score_threshold)) continue;
      kept[d] = 1;
      for (size_t g = 0; g < image.truth.size(); ++g) {
        const double v = box_iou(image.detections[d].box, image.truth[g].box);
        if (v >= iou) pairs.push_back({v, image.detections[d].score, d, g});
      }
    }
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
      if (a.iou != b.iou) return a.iou > b.iou;
      if (a.score != b.score) return a.score > b.score;
      if (a.d != b.d) return a.d < b.d;
      return a.g < b.g;
    });
    std::vector<char> d_used(image.detections.size(), 0), g_used(image.truth.size(), 0);
    for (const Pair& p : pairs) {
      if (d_used[p.d] || g_used[p.g]) continue;
      d_used[p.d] = g_used[p.g] = 1;
      ++cm.counts[size_t(image.truth[p.g].class_id)][size_t(image.detections[p.d].class_id)];
    }
    for (size_t g = 0; g < image.truth.size(); ++g)
      if (!g_used[g]) ++cm.counts[size_t(image.truth[g].class_id)][K];
    for (size_t d = 0; d < image.detections.size(); ++d)
      if (kept[d] && !d_used[d]) ++cm.counts[K][size_t(image.detections[d].class_id)];
  }
  return cm;
}

Result<DetectionMetrics> evaluate_detections(const std::vector<FieldDetections>& images,
                                             const DetectionEvalOptions& options) {
  if (auto s = check_inputs(images, options); !s) return tl::unexpected(s.error());
  DetectionMetrics m;
  m.iou_thresholds = linspace(0.5, 0.95, kNumIou);
  m.recall_thresholds = linspace(0.0, 1.0, kNumRecall);
  m.num_images = int64_t(images.size());
  m.max_detections = options.max_detections;
  m.class_agnostic = options.class_agnostic;

  std::vector<std::string> classes = options.classes;
  const std::vector<FieldDetections>* evaluated = &images;
  std::vector<FieldDetections> merged;
  if (options.class_agnostic) {
    classes = {kAgnosticClass};
    merged = images;
    for (auto& image : merged) {
      for (auto& b : image.truth) b.class_id = 0;
      for (auto& b : image.detections) b.class_id = 0;
    }
    evaluated = &merged;
  }

  std::vector<double> ap, ap50, ap75, ap90, ar100;
  for (size_t k = 0; k < classes.size(); ++k) {
    ClassDetectionMetrics c = evaluate_class(*evaluated, int(k), m);
    c.name = classes[k];
    if (c.num_truth > 0) {
      ap.push_back(c.ap);
      ap50.push_back(c.ap50);
      ap75.push_back(c.ap75);
      ap90.push_back(c.ap90);
      ar100.push_back(c.ar100);
    }
    m.per_class.push_back(std::move(c));
  }
  m.ap = mean(ap);
  m.ap50 = mean(ap50);
  m.ap75 = mean(ap75);
  m.ap90 = mean(ap90);
  m.ar100 = mean(ar100);
  m.confusion = detection_confusion(*evaluated, classes, options.confusion_score_threshold,
                                    options.confusion_iou);
  return m;
}

Result<std::vector<FieldDetections>> pair_fields(const FieldDataset& truth,
                                                 const FieldDataset& predicted) {
  if (truth.classes != predicted.classes)
    return fail(ErrorCode::kInvalidArgument, "predicted dataset classes",
                fmt::format("the ground truth's {} classes in the same order", truth.classes.size()),
                fmt::format("{} classes that differ", predicted.classes.size()));
  std::unordered_map<std::string, size_t> index;
  std::vector<FieldDetections> out(truth.fields.size());
  for (size_t i = 0; i < truth.fields.size(); ++i) {
    if (!index.emplace(truth.fields[i].image_path, i).second)
      return fail(ErrorCode::kInvalidArgument, "ground-truth image " + truth.fields[i].image_path,
                  "one entry per image", "a duplicate");
    out[i].truth = truth.fields[i].boxes;
  }
  std::vector<char> seen(truth.fields.size(), 0);
  for (const Field& f : predicted.fields) {
    auto it = index.find(f.image_path);
    if (it == index.end())
      return fail(ErrorCode::kNotFound, "predicted image " + f.image_path,
                  "an image of the ground-truth dataset", "no such image");
    if (seen[it->second])
      return fail(ErrorCode::kInvalidArgument, "predicted image " + f.image_path,
                  "one entry per image", "a duplicate");
    seen[it->second] = 1;
    out[it->second].detections = f.boxes;
  }
  return out;
}

Json detection_metrics_json(const DetectionMetrics& m) {
  Json j = Json::object();
  j["AP"] = m.ap;
  j["AP50"] = m.ap50;
  j["AP75"] = m.ap75;
  j["AP90"] = m.ap90;
  j["AR100"] = m.ar100;
  j["num_images"] = m.num_images;
  j["max_detections"] = m.max_detections;
  j["class_agnostic"] = m.class_agnostic;
  Json classes = Json::array();
  Json per_class = Json::object();
  Json curves = Json::object();
  const size_t t50 = m.iou_index(0.50);
  for (size_t k = 0; k < m.per_class.size(); ++k) {
    const ClassDetectionMetrics& c = m.per_class[k];
    classes.push_back(c.name);
    const OperatingPoint& p50 = m.best_f1(k, 0.50);
    const OperatingPoint& p75 = m.best_f1(k, 0.75);
    per_class[c.name] = {
        {"AP", c.ap},           {"AP50", c.ap50},           {"AP75", c.ap75},
        {"AP90", c.ap90},       {"AR100", c.ar100},         {"precision50", p50.precision},
        {"recall50", p50.recall}, {"f1_50", p50.f1},        {"score50", p50.score},
        {"precision75", p75.precision}, {"recall75", p75.recall}, {"f1_75", p75.f1},
        {"score75", p75.score}, {"num_truth", c.num_truth}, {"num_detections", c.num_detections}};
    if (!c.precision.empty())
      curves[c.name] = {{"iou", m.iou_thresholds[t50]},
                        {"recall", m.recall_thresholds},
                        {"precision", c.precision[t50]},
                        {"score", c.score[t50]}};
  }
  j["classes"] = classes;
  j["per_class"] = per_class;
  j["confusion"] = {{"labels", m.confusion.labels},
                    {"counts", m.confusion.counts},
                    {"score_threshold", m.confusion.score_threshold},
                    {"iou", m.confusion.iou}};
  j["pr_curves"] = curves;
  return j;
}

std::string detection_metrics_csv(const DetectionMetrics& m) {
  std::string out =
      "class,AP,AP50,AP75,AP90,AR100,precision50,recall50,f1_50,score50,precision75,recall75,"
      "f1_75,score75,num_truth,num_detections\n";
  int64_t truth = 0, dets = 0;
  for (size_t k = 0; k < m.per_class.size(); ++k) {
    const ClassDetectionMetrics& c = m.per_class[k];
    const OperatingPoint& p50 = m.best_f1(k, 0.50);
    const OperatingPoint& p75 = m.best_f1(k, 0.75);
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(c.name),
                       c.ap, c.ap50, c.ap75, c.ap90, c.ar100, p50.precision, p50.recall, p50.f1,
                       p50.score, p75.precision, p75.recall, p75.f1, p75.score, c.num_truth,
                       c.num_detections);
    truth += c.num_truth;
    dets += c.num_detections;
  }
  out += fmt::format("mean,{},{},{},{},{},,,,,,,,,{},{}\n", m.ap, m.ap50, m.ap75, m.ap90, m.ar100,
                     truth, dets);
  return out;
}

}  // namespace ms
