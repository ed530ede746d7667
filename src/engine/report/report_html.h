#pragma once
// A self-contained HTML report (one file: inline CSS and inline SVG charts, no JavaScript, no
// fonts or images fetched from anywhere), so a training or evaluation run leaves a report that
// opens offline on a lab PC and can be archived with the model. The detector and classifier
// trainers build one from parts:
//
//   HtmlReport r("Detector training — baseline");
//   r.key_values("Run", {{"config", path}, {"epochs", "24"}});
//   r.line_chart({"Loss per epoch", "epoch", "loss", {{"cls", epochs, cls}, {"box", epochs, box}}});
//   r.detection_metrics(metrics);  // summary, per-class table, PR curves, confusion heatmap
//   auto status = r.write("runs/baseline/report.html");
//
// Parts appear in the order they are added. All text is HTML-escaped. Malformed chart input
// (x and y of different lengths, a ragged count matrix) is a caller bug and throws MarrowError;
// non-finite points are allowed and break a line into segments.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/html_escape.h"
#include "engine/metrics/classification_metrics.h"
#include "engine/metrics/detection_metrics.h"

namespace ms {

// One line of a chart: points (x[i], y[i]) joined in order.
struct ChartSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;  // same length as x
};

struct LineChartSpec {
  LineChartSpec() = default;
  // The common case in one expression: {title, x label, y label, {{name, x, y}, ...}}.
  LineChartSpec(std::string title_, std::string x_label_, std::string y_label_,
                std::vector<ChartSeries> series_ = {})
      : title(std::move(title_)),
        x_label(std::move(x_label_)),
        y_label(std::move(y_label_)),
        series(std::move(series_)) {}

  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  // Axis ranges; taken from the finite data (rounded out to tick steps) when unset.
  std::optional<double> x_min, x_max, y_min, y_max;
  int width = 720;  // SVG pixels, legend included
  int height = 340;
};

// A count matrix drawn as coloured cells with the count written in each.
struct HeatmapSpec {
  std::string title;
  std::vector<std::string> row_labels;  // one per row of counts (truth for a confusion matrix)
  std::vector<std::string> col_labels;  // one per column (prediction)
  std::vector<std::vector<int64_t>> counts;
  std::string row_axis = "truth";
  std::string col_axis = "predicted";
  // Colour by the fraction of the row (recall-like, so rare classes stay visible); the text is
  // always the count.
  bool normalize_rows = true;
};

// The <svg> element of a line chart.
std::string svg_line_chart(const LineChartSpec& chart);
// The <svg> element of a heatmap.
std::string svg_heatmap(const HeatmapSpec& spec);

class HtmlReport {
 public:
  explicit HtmlReport(std::string title);

  HtmlReport& heading(const std::string& text);  // a section title (h2)
  HtmlReport& paragraph(const std::string& text);
  HtmlReport& key_values(const std::string& caption,
                         const std::vector<std::pair<std::string, std::string>>& rows);
  HtmlReport& table(const std::string& caption, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows);
  HtmlReport& line_chart(const LineChartSpec& chart);
  // Precision (y) against recall (x), both axes fixed to [0, 1].
  HtmlReport& pr_curves(const std::string& title, const std::vector<ChartSeries>& curves);
  HtmlReport& heatmap(const HeatmapSpec& spec);
  // Summary, per-class table, 101-point PR curves at IoU 0.5 (classes with ground truth) and the
  // confusion matrix with its background row and column.
  HtmlReport& detection_metrics(const DetectionMetrics& m);
  // Summary, per-class table and confusion matrix.
  HtmlReport& classification_metrics(const ClassificationMetrics& m);

  std::string html() const;  // the whole document
  // Writes html() to path (parent directories must exist); the error names the path.
  Status write(const std::string& path) const;

 private:
  std::string title_;
  std::vector<std::string> parts_;  // rendered HTML fragments, in order
};

}  // namespace ms
