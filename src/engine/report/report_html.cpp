#include "engine/report/report_html.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include <fmt/format.h>

namespace ms {
namespace {

// Tableau 10: distinguishable, and still readable printed in grey.
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kPaletteSize = int(sizeof(kPalette) / sizeof(kPalette[0]));

constexpr const char* kStyle =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;"
    "max-width:1100px;color:#222;padding:0 1em}"
    "h1{font-size:1.6em;border-bottom:2px solid #1f77b4;padding-bottom:.3em}"
    "h2{font-size:1.25em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.8em 0}"
    "caption{text-align:left;font-weight:600;padding:.3em 0}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;font-variant-numeric:"
    "tabular-nums}"
    "th{background:#f3f5f8}td:first-child,th:first-child{text-align:left}"
    "figure{margin:1em 0}svg{font-family:inherit;font-size:12px;max-width:100%;height:auto}";

std::string num(double v) { return fmt::format("{:.4f}", v); }
// Metrics use -1 for "undefined" (COCO's convention); show that as a dash, not a number.
std::string metric(double v) { return v < 0 ? "–" : num(v); }

// A "nice" tick step (1, 2, 2.5 or 5 times a power of ten) giving about `target` intervals.
double tick_step(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double f : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= f * mag * (1 + 1e-9)) return f * mag;
  return 10 * mag;
}

struct Range {
  double lo, hi;
};

// Data range over finite values, widened when flat, rounded out to the tick grid unless fixed.
Range axis_range(const std::vector<const std::vector<double>*>& values, std::optional<double> lo,
                 std::optional<double> hi) {
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  for (const auto* v : values)
    for (double x : *v)
      if (std::isfinite(x)) {
        mn = std::min(mn, x);
        mx = std::max(mx, x);
      }
  if (!std::isfinite(mn)) mn = 0, mx = 1;
  if (lo) mn = *lo;
  if (hi) mx = *hi;
  if (mx <= mn) {
    const double pad = mn == 0 ? 0.5 : std::abs(mn) * 0.1;
    if (!lo) mn -= pad;
    if (!hi || mx <= mn) mx = mn + 2 * pad;
  }
  const double step = tick_step(mx - mn, 5);
  if (!lo) mn = std::floor(mn / step + 1e-9) * step;
  if (!hi) mx = std::ceil(mx / step - 1e-9) * step;
  return {mn, mx};
}

std::vector<double> ticks(Range r) {
  const double step = tick_step(r.hi - r.lo, 5);
  std::vector<double> t;
  for (double v = std::ceil(r.lo / step - 1e-9) * step; v <= r.hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string svg_open(int width, int height, const std::string& label) {
  return fmt::format(
      "<svg width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\" "
      "aria-label=\"{2}\">\n",
      width, height, html_escape(label));
}

std::string svg_text(double x, double y, const std::string& text, const char* attrs = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\"{}>{}</text>\n", x, y, attrs,
                     html_escape(text));
}

std::string figure(const std::string& svg) { return "<figure>\n" + svg + "</figure>\n"; }

}  // namespace

std::string svg_line_chart(const LineChartSpec& chart) {
  for (const auto& s : chart.series)
    MS_CHECK(s.x.size() == s.y.size(),
             fmt::format("series \"{}\": {} x values, {} y values", s.name, s.x.size(), s.y.size()));
  MS_CHECK(chart.width >= 200 && chart.height >= 120, "chart too small to draw");
  const double legend_w = chart.series.size() > 1 ? 150 : 0;
  const double left = 64, right = 16 + legend_w, top = 34, bottom = 48;
  const double pw = chart.width - left - right, ph = chart.height - top - bottom;
  std::vector<const std::vector<double>*> xs, ys;
  for (const auto& s : chart.series) {
    xs.push_back(&s.x);
    ys.push_back(&s.y);
  }
  const Range rx = axis_range(xs, chart.x_min, chart.x_max);
  const Range ry = axis_range(ys, chart.y_min, chart.y_max);
  auto px = [&](double x) { return left + (x - rx.lo) / (rx.hi - rx.lo) * pw; };
  auto py = [&](double y) { return top + ph - (y - ry.lo) / (ry.hi - ry.lo) * ph; };

  std::string s = svg_open(chart.width, chart.height, chart.title);
  s += svg_text(chart.width / 2.0, 20, chart.title,
                " text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\"");
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                   "fill=\"none\" stroke=\"#888\"/>\n",
                   left, top, pw, ph);
  for (double t : ticks(rx)) {
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" "
                     "stroke=\"#e3e3e3\"/>\n",
                     px(t), top, top + ph);
    s += svg_text(px(t), top + ph + 16, fmt::format("{:g}", t), " text-anchor=\"middle\"");
  }
  for (double t : ticks(ry)) {
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" "
                     "stroke=\"#e3e3e3\"/>\n",
                     left, py(t), left + pw);
    s += svg_text(left - 6, py(t) + 4, fmt::format("{:g}", t), " text-anchor=\"end\"");
  }
  s += svg_text(left + pw / 2, chart.height - 10.0, chart.x_label, " text-anchor=\"middle\"");
  s += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" "
                   "text-anchor=\"middle\">{}</text>\n",
                   top + ph / 2, html_escape(chart.y_label));

  bool any_point = false;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& ser = chart.series[i];
    const char* colour = kPalette[i % kPaletteSize];
    // A non-finite point ends the current segment; points outside a fixed range are clamped.
    std::vector<std::string> segments(1);
    size_t finite = 0;
    for (size_t p = 0; p < ser.x.size(); ++p) {
      if (!std::isfinite(ser.x[p]) || !std::isfinite(ser.y[p])) {
        if (!segments.back().empty()) segments.emplace_back();
        continue;
      }
      const double x = std::clamp(px(ser.x[p]), left, left + pw);
      const double y = std::clamp(py(ser.y[p]), top, top + ph);
      segments.back() += fmt::format("{}{:.2f},{:.2f}", segments.back().empty() ? "" : " ", x, y);
      ++finite;
    }
    s += fmt::format("<g class=\"series\" data-name=\"{}\">\n", html_escape(ser.name));
    for (const auto& seg : segments)
      if (!seg.empty())
        s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
                         "points=\"{}\"/>\n",
                         colour, seg);
    if (finite > 0 && finite <= 60)  // markers help with per-epoch curves, clutter dense ones
      for (size_t p = 0; p < ser.x.size(); ++p)
        if (std::isfinite(ser.x[p]) && std::isfinite(ser.y[p]))
          s += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.5\" fill=\"{}\"/>\n",
                           std::clamp(px(ser.x[p]), left, left + pw),
                           std::clamp(py(ser.y[p]), top, top + ph), colour);
    s += "</g>\n";
    any_point = any_point || finite > 0;
    if (legend_w > 0) {
      const double ly = top + 8 + 18.0 * double(i);
      s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" "
                       "stroke=\"{3}\" stroke-width=\"3\"/>\n",
                       left + pw + 12, ly, left + pw + 32, colour);
      s += svg_text(left + pw + 38, ly + 4, ser.name);
    }
  }
  if (!any_point)
    s += svg_text(left + pw / 2, top + ph / 2, "no data", " text-anchor=\"middle\" fill=\"#888\"");
  s += "</svg>\n";
  return s;
}

std::string svg_heatmap(const HeatmapSpec& spec) {
  const size_t rows = spec.counts.size();
  MS_CHECK(rows == spec.row_labels.size(),
           fmt::format("{} rows of counts, {} row labels", rows, spec.row_labels.size()));
  for (const auto& r : spec.counts)
    MS_CHECK(r.size() == spec.col_labels.size(),
             fmt::format("a row of {} counts, {} column labels", r.size(), spec.col_labels.size()));
  const size_t cols = spec.col_labels.size();
  const double cell = std::max(rows, cols) > 14 ? 26 : 38;
  size_t longest_row = spec.row_axis.size(), longest_col = 0;
  for (const auto& l : spec.row_labels) longest_row = std::max(longest_row, l.size());
  for (const auto& l : spec.col_labels) longest_col = std::max(longest_col, l.size());
  // About 7 px per character at 12 px; column labels are rotated 45 degrees.
  const double left = 30 + 7.0 * double(longest_row);
  const double top = 40 + 5.0 * double(longest_col) + 20;
  const int width = int(left + cell * double(cols) + 20);
  const int height = int(top + cell * double(rows) + 20);

  // The title (14 px, about 8 px per character) must fit too.
  const int title_w = int(16 + 8.0 * double(spec.title.size()));
  std::string s = svg_open(std::max({width, title_w, 240}), height, spec.title);
  s += svg_text(8, 18, spec.title, " font-size=\"14\" font-weight=\"600\"");
  s += svg_text(left + cell * double(cols) / 2, 34, spec.col_axis + " →",
                " text-anchor=\"middle\" fill=\"#555\"");
  s += svg_text(8, top - 6, spec.row_axis + " ↓", " fill=\"#555\"");
  for (size_t c = 0; c < cols; ++c) {
    const double x = left + cell * (double(c) + 0.5), y = top - 6;
    s += fmt::format("<text x=\"{0:.1f}\" y=\"{1:.1f}\" transform=\"rotate(-45 {0:.1f} {1:.1f})\">"
                     "{2}</text>\n",
                     x, y, html_escape(spec.col_labels[c]));
  }
  int64_t total_max = 0;
  for (const auto& r : spec.counts)
    for (int64_t v : r) total_max = std::max(total_max, v);
  for (size_t r = 0; r < rows; ++r) {
    const double y = top + cell * double(r);
    s += svg_text(left - 6, y + cell / 2 + 4, spec.row_labels[r], " text-anchor=\"end\"");
    int64_t row_sum = 0;
    for (int64_t v : spec.counts[r]) row_sum += v;
    for (size_t c = 0; c < cols; ++c) {
      const int64_t v = spec.counts[r][c];
      const double den = spec.normalize_rows ? double(row_sum) : double(total_max);
      const double f = den > 0 ? double(v) / den : 0.0;
      // White to #1f4e9b: light cells keep dark text, dark cells get white text.
      const int red = int(std::lround(255 - f * (255 - 31)));
      const int green = int(std::lround(255 - f * (255 - 78)));
      const int blue = int(std::lround(255 - f * (255 - 155)));
      const double x = left + cell * double(c);
      s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                       "fill=\"rgb({},{},{})\" stroke=\"#ddd\"><title>{} {} / {} {}: {}"
                       "</title></rect>\n",
                       x, y, cell, cell, red, green, blue, html_escape(spec.row_axis),
                       html_escape(spec.row_labels[r]), html_escape(spec.col_axis),
                       html_escape(spec.col_labels[c]), v);
      s += svg_text(x + cell / 2, y + cell / 2 + 4, std::to_string(v),
                    f > 0.5 ? " text-anchor=\"middle\" fill=\"#fff\""
                            : " text-anchor=\"middle\" fill=\"#222\"");
    }
  }
  s += "</svg>\n";
  return s;
}

HtmlReport::HtmlReport(std::string title) : title_(std::move(title)) {}

HtmlReport& HtmlReport::heading(const std::string& text) {
  parts_.push_back("<h2>" + html_escape(text) + "</h2>\n");
  return *this;
}

HtmlReport& HtmlReport::paragraph(const std::string& text) {
  parts_.push_back("<p>" + html_escape(text) + "</p>\n");
  return *this;
}

HtmlReport& HtmlReport::key_values(const std::string& caption,
                                   const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string h = "<table class=\"kv\">\n<caption>" + html_escape(caption) + "</caption>\n";
  for (const auto& [k, v] : rows)
    h += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>\n";
  h += "</table>\n";
  parts_.push_back(std::move(h));
  return *this;
}

HtmlReport& HtmlReport::table(const std::string& caption, const std::vector<std::string>& header,
                              const std::vector<std::vector<std::string>>& rows) {
  std::string h = "<table>\n<caption>" + html_escape(caption) + "</caption>\n<thead><tr>";
  for (const auto& c : header) h += "<th>" + html_escape(c) + "</th>";
  h += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    MS_CHECK(header.empty() || row.size() == header.size(),
             fmt::format("table \"{}\": a row of {} cells under {} headers", caption, row.size(),
                         header.size()));
    h += "<tr>";
    for (const auto& c : row) h += "<td>" + html_escape(c) + "</td>";
    h += "</tr>\n";
  }
  h += "</tbody>\n</table>\n";
  parts_.push_back(std::move(h));
  return *this;
}

HtmlReport& HtmlReport::line_chart(const LineChartSpec& chart) {
  parts_.push_back(figure(svg_line_chart(chart)));
  return *this;
}

HtmlReport& HtmlReport::pr_curves(const std::string& title,
                                  const std::vector<ChartSeries>& curves) {
  LineChartSpec c;
  c.title = title;
  c.x_label = "recall";
  c.y_label = "precision";
  c.series = curves;
  c.x_min = c.y_min = 0.0;
  c.x_max = c.y_max = 1.0;
  c.width = 560 + (curves.size() > 1 ? 150 : 0);
  c.height = 400;
  return line_chart(c);
}

HtmlReport& HtmlReport::heatmap(const HeatmapSpec& spec) {
  parts_.push_back(figure(svg_heatmap(spec)));
  return *this;
}

HtmlReport& HtmlReport::detection_metrics(const DetectionMetrics& m) {
  heading(m.class_agnostic ? "Detection (class-agnostic)" : "Detection");
  key_values("COCO-style summary (101-point interpolation, area all, " +
                 std::to_string(m.max_detections) + " detections per image and class)",
             {{"AP (IoU 0.50:0.95)", metric(m.ap)},
              {"AP50", metric(m.ap50)},
              {"AP75", metric(m.ap75)},
              {"AP90", metric(m.ap90)},
              {"AR100", metric(m.ar100)},
              {"images", std::to_string(m.num_images)}});
  std::vector<std::vector<std::string>> rows;
  std::vector<ChartSeries> curves;
  const size_t t50 = m.iou_index(0.50);
  for (size_t k = 0; k < m.per_class.size(); ++k) {
    const ClassDetectionMetrics& c = m.per_class[k];
    const OperatingPoint& p = m.best_f1(k, 0.50);
    rows.push_back({c.name, std::to_string(c.num_truth), std::to_string(c.num_detections),
                    metric(c.ap), metric(c.ap50), metric(c.ap75), metric(c.ap90), metric(c.ar100),
                    metric(p.precision), metric(p.recall), metric(p.f1), metric(p.score)});
    if (!c.precision.empty()) curves.push_back({c.name, m.recall_thresholds, c.precision[t50]});
  }
  table("Per class (precision, recall and F1 at the best-F1 score threshold, IoU 0.5)",
        {"class", "GT", "detections", "AP", "AP50", "AP75", "AP90", "AR100", "P@0.5", "R@0.5",
         "F1@0.5", "score@0.5"},
        rows);
  pr_curves("Precision-recall at IoU 0.5 (interpolated)", curves);
  HeatmapSpec h;
  h.title = fmt::format("Confusion matrix (score >= {:g}, IoU >= {:g})",
                        m.confusion.score_threshold, m.confusion.iou);
  h.row_labels = h.col_labels = m.confusion.labels;
  h.counts = m.confusion.counts;
  return heatmap(h);
}

HtmlReport& HtmlReport::classification_metrics(const ClassificationMetrics& m) {
  heading("Classification");
  std::vector<std::pair<std::string, std::string>> summary{
      {"accuracy (top-1)", num(m.accuracy)}};
  if (m.top_k_accuracy >= 0)
    summary.push_back({fmt::format("top-{} accuracy", m.top_k), num(m.top_k_accuracy)});
  summary.push_back({"macro F1", num(m.macro_f1)});
  summary.push_back({"weighted F1", num(m.weighted_f1)});
  summary.push_back({"samples", std::to_string(m.num_samples)});
  key_values("Summary", summary);
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : m.per_class)
    rows.push_back({c.name, num(c.precision), num(c.recall), num(c.f1), std::to_string(c.support)});
  table("Per class", {"class", "precision", "recall", "F1", "support"}, rows);
  HeatmapSpec h;
  h.title = "Confusion matrix";
  h.row_labels = h.col_labels = m.classes;
  h.counts = m.confusion;
  return heatmap(h);
}

std::string HtmlReport::html() const {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                  "<title>" +
                  html_escape(title_) + "</title>\n<style>" + kStyle +
                  "</style>\n</head>\n<body>\n<h1>" + html_escape(title_) + "</h1>\n";
  for (const auto& p : parts_) h += p;
  h += "<footer><p>Marrowscope report: a single self-contained file.</p></footer>\n"
       "</body>\n</html>\n";
  return h;
}

Status HtmlReport::write(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return fail(ErrorCode::kIo, "report " + path, "a writable file", std::strerror(errno));
  out << html();
  out.close();
  if (!out) return fail(ErrorCode::kIo, "report " + path, "a complete write", "a write error");
  return {};
}

}  // namespace ms
