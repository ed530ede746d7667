#include "report/csv_export.h"

#include <gtest/gtest.h>

#include <sstream>

#include "report_fixtures.h"

namespace ms {
namespace {

std::vector<std::string> lines_of(const std::string& csv) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t pos; (pos = csv.find("\r\n", start)) != std::string::npos; start = pos + 2)
    lines.push_back(csv.substr(start, pos - start));
  EXPECT_EQ(start, csv.size()) << "every line ends in CRLF";
  return lines;
}

std::string line_starting(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const auto& l : lines)
    if (l.rfind(prefix, 0) == 0) return l;
  ADD_FAILURE() << "no line starts with " << prefix;
  return "";
}

TEST(CsvExport, OneRowPerClassInOrderPlusSummary) {
  const std::string csv = report_to_csv(test::sample_report());
  const auto lines = lines_of(csv);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(
      lines[0],
      "section,id,name_en,name_zh,count,value,unit,display,reference_low,reference_high,flag,review");
  std::vector<std::string> class_ids;
  for (const auto& l : lines)
    if (l.rfind("class,", 0) == 0) class_ids.push_back(l.substr(6, l.find(',', 6) - 6));
  ASSERT_EQ(class_ids.size(), 19u);
  EXPECT_EQ(class_ids.front(), "blast");
  EXPECT_EQ(class_ids[7], "eosinophil");
  EXPECT_EQ(class_ids.back(), "artefact");
  EXPECT_EQ(line_starting(lines, "class,eosinophil,"),
            "class,eosinophil,Eosinophil,嗜酸性粒细胞,40,8.0000,%,8,1.0000,5.0000,high,");
  EXPECT_EQ(line_starting(lines, "class,smudge,"),
            "class,smudge,Smudge cell,涂抹细胞,7,,cells (excluded),7,,,,");
  EXPECT_EQ(line_starting(lines, "summary,total_nucleated,"),
            "summary,total_nucleated,Nucleated cells,,500,,cells,500,,,,");
  EXPECT_EQ(line_starting(lines, "summary,me_ratio,"),
            "summary,me_ratio,M:E ratio,,300/100,3.0000,ratio,3.00:1,2.0000,4.0000,normal,");
  EXPECT_EQ(line_starting(lines, "summary,blasts,"),
            "summary,blasts,Blasts and blast equivalents,,10,2.0000,%,2 % (95% CI 1.1-3.6 %),"
            "1.0899,3.6420,wilson 95% CI,");
  EXPECT_EQ(line_starting(lines, "summary,unreviewed,"),
            "summary,unreviewed,Cells not yet reviewed,,3,,cells,3,,,,");
  EXPECT_EQ(line_starting(lines, "meta,status,"), "meta,status,,,,,,preliminary,,,,");
  EXPECT_NE(line_starting(lines, "suggestion,fab.none,").find("No FAB criterion met"),
            std::string::npos);
  EXPECT_NE(line_starting(lines, "suggestion,disclaimer,").find("genetics"), std::string::npos);
}

TEST(CsvExport, QuotesAndNeutralisesUserText) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(csv_field("+1"), "'+1");
  EXPECT_EQ(csv_field("@SUM(A1)"), "'@SUM(A1)");
  ReportData rep = test::sample_report();
  rep.comments = "=cmd|' /C calc'!A0, \"quoted\"";
  const std::string csv = report_to_csv(rep);
  EXPECT_NE(csv.find("meta,comments,,,,,,\"'=cmd|' /C calc'!A0, \"\"quoted\"\"\",,,,\r\n"),
            std::string::npos)
      << csv;
}

TEST(CsvExport, SignedReportAndBom) {
  const std::string csv = report_to_csv(test::signed_report(), CsvOptions{true});
  EXPECT_EQ(csv.rfind("\xEF\xBB\xBFsection,", 0), 0u);
  EXPECT_NE(csv.find("meta,status,,,,,,final,,,,"), std::string::npos);
  EXPECT_NE(csv.find("meta,signed_by,,,,,,Dr. Li,,,,"), std::string::npos);
}

}  // namespace
}  // namespace ms
