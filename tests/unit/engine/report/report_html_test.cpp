#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/report/report_html.h"

namespace ms {
namespace {

// Checks that every element is closed in order (void and self-closed elements excepted) and
// returns the first problem, or "" when the markup is balanced.
std::string unbalanced_tag(const std::string& html) {
  static const std::set<std::string> kVoid{"meta", "br", "hr", "img", "link", "input"};
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string::npos) {
    const size_t end = html.find('>', i);
    if (end == std::string::npos) return "a '<' never closed at " + std::to_string(i);
    const std::string tag = html.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '!') continue;  // doctype
    const bool closing = tag[0] == '/';
    const bool self_closed = tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \t\n/"));
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
      open.pop_back();
    } else if (!self_closed && !kVoid.count(name)) {
      open.push_back(name);
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

TEST(ReportHtml, EscapesText) {
  EXPECT_EQ(html_escape("<b>\"M&E\" 'x'</b>"), "&lt;b&gt;&quot;M&amp;E&quot; &#39;x&#39;&lt;/b&gt;");
}

TEST(ReportHtml, BuildsASelfContainedBalancedDocument) {
  HtmlReport r("Detector <baseline> & ablation");
  r.heading("Run").key_values("Settings", {{"epochs", "24"}, {"backbone", "resnet50"}});
  LineChartSpec loss;
  loss.title = "Loss per epoch";
  loss.x_label = "epoch";
  loss.y_label = "loss";
  loss.series = {{"classification", {1, 2, 3, 4}, {1.2, 0.8, 0.6, 0.5}},
                 {"box", {1, 2, 3, 4}, {0.9, NAN, 0.4, 0.35}}};  // NaN splits the line
  r.line_chart(loss);
  r.pr_curves("PR", {{"blast", {0, 0.5, 1}, {1, 0.8, 0.0}}});
  HeatmapSpec h;
  h.title = "Confusion";
  h.row_labels = h.col_labels = {"blast", "background"};
  h.counts = {{7, 2}, {3, 0}};
  r.heatmap(h);
  r.table("Per class", {"class", "AP"}, {{"blast", "0.5120"}});
  const std::string html = r.html();

  EXPECT_EQ(unbalanced_tag(html), "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>Detector &lt;baseline&gt; &amp; ablation</title>"),
            std::string::npos);
  EXPECT_EQ(count(html, "<svg "), 3u);
  EXPECT_EQ(count(html, "<polyline "), 4u);  // loss: 1 + 2 segments; PR: 1
  EXPECT_NE(html.find("<td>resnet50</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>0.5120</td>"), std::string::npos);
  EXPECT_NE(html.find(">classification</text>"), std::string::npos);  // legend
  EXPECT_NE(html.find(">7</text>"), std::string::npos);               // heatmap counts
  EXPECT_NE(html.find(">3</text>"), std::string::npos);
  EXPECT_EQ(count(html, "<rect "), 2u + 4u);  // two plot frames + four heatmap cells
  // Self-contained: no scripts, no external resources.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
}

TEST(ReportHtml, HeatmapShadesByRowFraction) {
  HeatmapSpec h;
  h.row_labels = h.col_labels = {"a", "b"};
  h.counts = {{10, 0}, {1, 1}};
  const std::string svg = svg_heatmap(h);
  EXPECT_NE(svg.find("fill=\"rgb(31,78,155)\""), std::string::npos);    // a->a: whole row
  EXPECT_NE(svg.find("fill=\"rgb(255,255,255)\""), std::string::npos);  // a->b: none
  EXPECT_NE(svg.find("fill=\"rgb(143,167,205)\""), std::string::npos);  // half a row
  h.counts = {{1, 2, 3}};
  EXPECT_THROW(svg_heatmap(h), MarrowError);
}

TEST(ReportHtml, ChartWithoutDataSaysSo) {
  LineChartSpec c;
  c.title = "empty";
  c.series = {{"val AP", {}, {}}};
  const std::string svg = svg_line_chart(c);
  EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
  EXPECT_EQ(unbalanced_tag(svg), "");
  c.series = {{"bad", {1, 2}, {1}}};
  EXPECT_THROW(svg_line_chart(c), MarrowError);
}

TEST(ReportHtml, MetricsSectionsShowTheNumbers) {
  DetectionEvalOptions o;
  o.classes = {"blast", "eosinophil"};
  const std::vector<FieldDetections> images{
      {{{{0, 0, 10, 10}, 0, 1.f}, {{20, 0, 30, 10}, 1, 1.f}},
       {{{0, 0, 10, 10}, 0, 0.9f}, {{50, 50, 60, 60}, 1, 0.8f}}}};
  auto det = evaluate_detections(images, o);
  ASSERT_TRUE(det);
  auto cls = evaluate_predictions({0, 1, 1}, {0, 1, 0}, {"blast", "eosinophil"});
  ASSERT_TRUE(cls);
  HtmlReport r("Evaluation");
  r.detection_metrics(*det).classification_metrics(*cls);
  const std::string html = r.html();
  EXPECT_EQ(unbalanced_tag(html), "");
  EXPECT_NE(html.find("<td>0.5000</td>"), std::string::npos);  // mean AP: (1 + 0) / 2
  EXPECT_NE(html.find("<td>blast</td><td>1</td><td>1</td><td>1.0000</td>"), std::string::npos);
  EXPECT_NE(html.find(">background</text>"), std::string::npos);
  EXPECT_NE(html.find("<td>0.6667</td>"), std::string::npos);  // classification accuracy 2/3
  EXPECT_EQ(count(html, "<svg "), 3u);  // PR curves, two confusion matrices
}

TEST(ReportHtml, WritesTheFileAndReportsBadPaths) {
  const std::string path = ::testing::TempDir() + "marrowscope_report_test.html";
  HtmlReport r("written");
  r.paragraph("hello");
  ASSERT_TRUE(r.write(path));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), r.html());
  std::remove(path.c_str());
  auto s = r.write("/nonexistent-dir/report.html");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("/nonexistent-dir/report.html"), std::string::npos);
}

}  // namespace
}  // namespace ms
