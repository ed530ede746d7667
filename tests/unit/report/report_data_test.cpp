#include "report/report_data.h"

#include <gtest/gtest.h>

#include "report/csv_export.h"
#include "report/fhir_export.h"
#include "report/html_report.h"
#include "report_fixtures.h"

namespace ms {
namespace {

TEST(ReportData, SnapshotRoundTripRendersTheSameDocuments) {
  for (const ReportData& original : {test::sample_report(), test::signed_report()}) {
    const Json j = report_to_json(original);
    // Through text, as a database column would hold it.
    const auto back = report_from_json(Json::parse(j.dump()), "reports.snapshot");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->is_final(), original.is_final());
    EXPECT_EQ(report_to_json(*back), j);
    EXPECT_EQ(render_report_html(*back), render_report_html(original));
    EXPECT_EQ(report_to_csv(*back), report_to_csv(original));
    EXPECT_EQ(report_to_fhir(*back)->dump(), report_to_fhir(original)->dump());
  }
}

TEST(ReportData, SnapshotShape) {
  const Json j = report_to_json(test::signed_report());
  EXPECT_EQ(j["patient"]["id"], "P-001");
  EXPECT_EQ(j["sign_off"]["signed_by"], "Dr. Li");
  EXPECT_EQ(j["suggestions"].size(), 3u);
  EXPECT_EQ(j["suggestions"][1]["rule_set"], "who2022");
  EXPECT_TRUE(report_to_json(test::sample_report())["sign_off"].is_null());
}

TEST(ReportData, StatementsSayTheTargetReviewStatesModelsAndDomainInBothLanguages) {
  ReportData r = test::sample_report();  // 500 of a 500-cell marrow target
  auto st = report_statements(r);
  ASSERT_EQ(st.size(), 1u);  // no review counts, models or domain warning recorded
  EXPECT_EQ(st[0].en, "Count target: 500 nucleated cells; counted 500: target reached.");
  EXPECT_EQ(st[0].zh, "计数目标：500 个有核细胞；已计数 500 个：已达到目标。");
  r.differential.progress = {120, 200, 0.6, false};
  r.review = ReviewCounts{4, 1, 100, 15};
  r.models = {"detector retina-1.0", "classifier vit-2.1"};
  r.domain_warning = DisplayNames{"Domain warning: test.", "域外警告：测试。"};
  st = report_statements(r);
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[0].en,
            "Count target: 200 nucleated cells; counted 120: BELOW the target. The target is below the ICSH "
            "recommendation of 500 cells.");
  EXPECT_EQ(st[1].en,
            "Review: 15 cells confirmed by a doctor, 100 pre-verified by a technician, 1 reclassified but not "
            "verified, 4 the model's suggestion only.");
  EXPECT_EQ(st[2].en, "Models: detector retina-1.0; classifier vit-2.1.");
  EXPECT_EQ(st[3].zh, "域外警告：测试。");
  // Every export prints them; an old snapshot without them still reads.
  const std::string html = render_report_html(r, Language::kEnglish);
  for (const auto& s : st) EXPECT_NE(html.find(html_escape(s.en)), std::string::npos) << s.en;
  const Json j = report_to_json(r);
  EXPECT_EQ(report_from_json(j, "snapshot")->review->technician, 100);
  Json old = j;
  old.erase("review");
  old.erase("models");
  old.erase("domain_warning");
  auto back = report_from_json(old, "old snapshot");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_FALSE(back->review.has_value());
}

TEST(ReportData, SnapshotsSignedBeforeUsernamesStillRead) {
  Json j = report_to_json(test::signed_report());
  ASSERT_TRUE(j["sign_off"].contains("username"));
  j["sign_off"].erase("username");
  auto r = report_from_json(j, "old snapshot");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->sign_off->signed_by, "Dr. Li");
  EXPECT_EQ(r->sign_off->username, "");
}

TEST(ReportData, BadSnapshotIsAnErrorNotACrash) {
  Json j = report_to_json(test::sample_report());
  j["differential"]["rows"][0]["count"] = -5;
  auto r = report_from_json(j, "reports.snapshot");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("$.differential.rows[0].count"), std::string::npos)
      << r.error().message;
  j = report_to_json(test::sample_report());
  j["suggestions"][0]["rule_set"] = "fab1976";
  r = report_from_json(j, "reports.snapshot");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("$.suggestions[0].rule_set"), std::string::npos);
  j = report_to_json(test::sample_report());
  j["patient"]["mrn"] = "x";
  EXPECT_FALSE(report_from_json(j, "reports.snapshot"));
  EXPECT_FALSE(report_from_json(Json::array(), "reports.snapshot"));
}

}  // namespace
}  // namespace ms
