#include "report/html_report.h"

#include <gtest/gtest.h>

#include "report_fixtures.h"

namespace ms {
namespace {

bool has(const std::string& html, const std::string& part) {
  return html.find(part) != std::string::npos;
}

TEST(HtmlReport, EscapesEveryCharacterThatMatters) {
  EXPECT_EQ(html_escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("中文"), "中文");
}

TEST(HtmlReport, UserTextIsEscapedEverywhere) {
  ReportData rep = test::sample_report();
  rep.patient.name = "<script>alert(1)</script>";
  rep.comments = "blasts <5% & \"no\" Auer rods\nsecond line";
  rep.sample.site = "<img src=x onerror=alert(2)>";
  rep.reviewer = "O'Brien";
  const std::string html = render_report_html(rep);
  EXPECT_FALSE(has(html, "<script>"));
  EXPECT_FALSE(has(html, "<img"));
  EXPECT_TRUE(has(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_TRUE(has(html, "blasts &lt;5% &amp; &quot;no&quot; Auer rods<br>\nsecond line"));
  EXPECT_TRUE(has(html, "O&#39;Brien"));
}

TEST(HtmlReport, PreliminaryBannerCountsUnreviewedCells) {
  const std::string html = render_report_html(test::sample_report());
  EXPECT_TRUE(has(html, "PRELIMINARY \u2014 3 cells unreviewed"));
  EXPECT_TRUE(has(html, "Not signed"));
  ReportData reviewed = test::sample_report();
  reviewed.differential.unreviewed = 0;
  EXPECT_TRUE(has(render_report_html(reviewed), "PRELIMINARY \u2014 not signed"));
  const std::string signed_html = render_report_html(test::signed_report());
  EXPECT_FALSE(has(signed_html, "PRELIMINARY"));
  EXPECT_TRUE(has(signed_html, "sha256:abc123"));
  EXPECT_TRUE(has(signed_html, "2026-11-25T10:00:00+08:00"));
}

TEST(HtmlReport, OnePrintablePageWithTheReportContent) {
  const std::string html = render_report_html(test::sample_report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(has(html, "@page { size: A4"));
  EXPECT_FALSE(has(html, "<script"));
  EXPECT_TRUE(has(html, "Bone marrow differential report"));
  EXPECT_TRUE(has(html, "P-001"));
  EXPECT_TRUE(has(html, "S-2026-0042"));
  EXPECT_TRUE(has(html, "500 / 500"));  // cells counted / target
  // Eosinophils: count 40, 8 %, range 1-5, flagged high.
  EXPECT_TRUE(has(html,
                  "Eosinophil</td><td class=\"n\">40</td><td class=\"n\">8</td><td>1\u20135</td>"
                  "<td class=\"flag-high\">H</td>"));
  EXPECT_TRUE(has(html, "<td>3.00:1 (2\u20134:1)</td>"));
  EXPECT_TRUE(has(html, "2 % (95% CI 1.1-3.6 %)"));
  EXPECT_TRUE(has(html, "<strong>WHO 2022</strong>"));
  EXPECT_TRUE(has(html, "genetics"));
  EXPECT_TRUE(has(html, "Mild eosinophilia."));
  // Rows appear in hematology order.
  EXPECT_LT(html.find(">Blast</td>"), html.find(">Promyelocyte</td>"));
  EXPECT_LT(html.find(">Lymphocyte</td>"), html.find(">Smudge cell</td>"));
}

TEST(HtmlReport, ChineseLabelsAndNames) {
  const std::string html = render_report_html(test::sample_report(), Language::kChinese);
  EXPECT_TRUE(has(html, "lang=\"zh-CN\""));
  EXPECT_TRUE(has(html, "骨髓细胞形态学分类报告"));
  EXPECT_TRUE(has(html, "嗜酸性粒细胞"));
  EXPECT_TRUE(has(html, "初步报告 \u2014 3 个细胞未审核"));
  EXPECT_TRUE(has(html, "遗传学"));
}

TEST(HtmlReport, SignatureNamesTheSignersAccount) {
  // Display names are free text any user edits ("Dr. Li" can be anyone): the account shows too.
  ReportData rep = test::signed_report();
  rep.sign_off->username = "li.wei";
  EXPECT_TRUE(has(render_report_html(rep), "Dr. Li (li.wei)"));
  rep.sign_off->username = "<b>x</b>";
  EXPECT_TRUE(has(render_report_html(rep), "Dr. Li (&lt;b&gt;x&lt;/b&gt;)"));
  // Old snapshots without a username show the name alone.
  EXPECT_EQ(signer_text(test::signed_report().sign_off.value()), "Dr. Li");
}

}  // namespace
}  // namespace ms
