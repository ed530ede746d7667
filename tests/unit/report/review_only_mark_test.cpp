// Rows of review-only classes (the classifier cannot name them; reviewers did) are marked the same
// way by the printed report and by every export: one code and one wording, review_only_mark().
#include <gtest/gtest.h>

#include <string>

#include "report/csv_export.h"
#include "report/fhir_export.h"
#include "report/hl7v2_export.h"
#include "report/html_report.h"
#include "report_fixtures.h"

namespace ms {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The normal marrow report, counted with the PBC classifier: reviewers named the 10 blasts and the
// 5 plasma cells (review-only classes); the other classes are the classifier's.
ReportData review_only_report() {
  ReportData r = test::signed_report();
  r.differential = test::with_pbc_classifier(test::normal_marrow_counts(), 0);
  return r;
}

TEST(ReviewOnlyMark, OneCodeAndOneWording) {
  const ReviewOnlyMark& m = review_only_mark();
  EXPECT_EQ(m.code, "review-only");
  EXPECT_FALSE(m.label.en.empty());
  EXPECT_FALSE(m.label.zh.empty());
  // HL7 v2 messages are ASCII: the English note must be.
  for (unsigned char c : m.note.en) EXPECT_LT(c, 0x80) << m.note.en;
  EXPECT_TRUE(has_review_only_rows(review_only_report().differential));
  EXPECT_FALSE(has_review_only_rows(test::signed_report().differential));
}

TEST(ReviewOnlyMark, HtmlMarksTheRowsAndPrintsTheNote) {
  const ReviewOnlyMark& m = review_only_mark();
  const std::string html = render_report_html(review_only_report(), Language::kEnglish);
  EXPECT_TRUE(contains(html, "Blast " + m.symbol)) << html;
  EXPECT_FALSE(contains(html, "Lymphocyte " + m.symbol));
  EXPECT_TRUE(contains(html, m.symbol + " " + m.note.en));
  const std::string zh = render_report_html(review_only_report(), Language::kChinese);
  EXPECT_TRUE(contains(zh, m.note.zh));
  EXPECT_FALSE(contains(render_report_html(test::signed_report(), Language::kEnglish), m.note.en));
}

TEST(ReviewOnlyMark, CsvMarksTheRowsInTheReviewColumnAndAddsTheNote) {
  const ReviewOnlyMark& m = review_only_mark();
  const std::string csv = report_to_csv(review_only_report());
  EXPECT_TRUE(contains(csv, "class,blast,Blast,原始细胞,10,2.0000,%,2,0.0000,2.0000,normal," + m.code + "\r\n"))
      << csv;
  EXPECT_TRUE(contains(csv, ",plasma_cell,")) << csv;
  EXPECT_TRUE(contains(csv, "class,lymphocyte,Lymphocyte,淋巴细胞,80,16.0000,%,16,9.0000,19.0000,normal,\r\n"))
      << csv;
  EXPECT_TRUE(contains(csv, "meta,review_only_note," + m.label.en + "," + m.note.zh + ",,,,")) << csv;
  EXPECT_FALSE(contains(report_to_csv(test::signed_report()), m.code));
}

TEST(ReviewOnlyMark, FhirGivesTheClassObservationTheMethodAndThePanelTheNote) {
  const ReviewOnlyMark& m = review_only_mark();
  auto bundle = report_to_fhir(review_only_report());
  ASSERT_TRUE(bundle) << bundle.error().message;
  int marked = 0;
  bool lymphocyte_seen = false, panel_note = false;
  for (const auto& e : (*bundle)["entry"]) {
    const Json& res = e["resource"];
    if (res["resourceType"] != "Observation") continue;
    const std::string code = res["code"]["coding"][0].value("code", "");
    if (res.contains("method")) {
      ++marked;
      EXPECT_EQ(res["method"]["coding"][0]["system"], m.system);
      EXPECT_EQ(res["method"]["coding"][0]["code"], m.code);
      EXPECT_EQ(res["method"]["coding"][0]["display"], m.label.en);
      EXPECT_EQ(res["method"]["text"], m.note.en);
    }
    if (code == "blast" || code == "plasma_cell") {
      EXPECT_TRUE(res.contains("method")) << code;
    }
    if (code == "lymphocyte") {
      lymphocyte_seen = true;
      EXPECT_FALSE(res.contains("method"));
    }
    if (res.contains("hasMember"))
      panel_note = res.contains("note") && res["note"][0]["text"] == m.note.en;
  }
  int review_only_rows = 0;
  for (const auto& row : review_only_report().differential.rows) review_only_rows += row.review_only;
  EXPECT_EQ(marked, review_only_rows);
  EXPECT_TRUE(lymphocyte_seen);
  EXPECT_TRUE(panel_note);
  auto plain = report_to_fhir(test::signed_report());
  ASSERT_TRUE(plain);
  EXPECT_FALSE(contains(plain->dump(), m.code));
}

TEST(ReviewOnlyMark, Hl7PutsTheCodeInObx17AndTheNoteInAnNte) {
  const ReviewOnlyMark& m = review_only_mark();
  auto msg = report_to_hl7v2(review_only_report(), {});
  ASSERT_TRUE(msg) << msg.error().message;
  const std::string method = "|" + m.code + "^" + m.label.en + "^L";
  int marked = 0;
  size_t start = 0;
  for (size_t pos; (pos = msg->find('\r', start)) != std::string::npos; start = pos + 1) {
    const std::string seg = msg->substr(start, pos - start);
    if (seg.rfind("OBX|", 0) != 0) continue;
    if (contains(seg, method)) ++marked;
    if (contains(seg, "|blast^") || contains(seg, "|plasma_cell^")) {
      EXPECT_TRUE(contains(seg, method)) << seg;
    }
    if (contains(seg, "|lymphocyte^")) {
      EXPECT_FALSE(contains(seg, method)) << seg;
    }
  }
  int review_only_rows = 0;
  for (const auto& row : review_only_report().differential.rows) review_only_rows += row.review_only;
  EXPECT_EQ(marked, review_only_rows);
  EXPECT_TRUE(contains(*msg, "NTE|") && contains(*msg, "|L|" + m.note.en + "\r")) << *msg;
  auto plain = report_to_hl7v2(test::signed_report(), {});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(contains(*plain, m.code));
}

}  // namespace
}  // namespace ms
