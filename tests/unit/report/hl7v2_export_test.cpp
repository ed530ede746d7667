#include "report/hl7v2_export.h"

#include <gtest/gtest.h>

#include "report_fixtures.h"

namespace ms {
namespace {

std::vector<std::string> segments_of(const std::string& msg) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos; (pos = msg.find('\r', start)) != std::string::npos; start = pos + 1)
    out.push_back(msg.substr(start, pos - start));
  EXPECT_EQ(start, msg.size()) << "every segment ends in a carriage return";
  return out;
}

std::vector<std::string> starting_with(const std::vector<std::string>& segs, const std::string& p) {
  std::vector<std::string> out;
  for (const auto& s : segs)
    if (s.rfind(p, 0) == 0) out.push_back(s);
  return out;
}

TEST(Hl7v2Export, OruR01WithOneObxPerClassAndMeRatio) {
  Hl7Options options;
  options.sending_facility = "HEMLAB";
  options.message_control_id = "MSG0001";
  const auto segs = segments_of(*report_to_hl7v2(test::sample_report(), options));
  ASSERT_GE(segs.size(), 4u);
  EXPECT_EQ(segs[0],
            "MSH|^~\\&|MARROWSCOPE|HEMLAB|||20261125093000+0000||ORU^R01^ORU_R01|MSG0001|P|2.5.1");
  EXPECT_EQ(segs[1], "PID|1||P-001^^^^MR||Zhang Wei||19700501|M");
  EXPECT_EQ(segs[2],
            "OBR|1||S-2026-0042|47286-0^Bone marrow differential panel^LN|||20261120|||||||||||||||"
            "20261125093000+0000||HM|P");
  const auto obx = starting_with(segs, "OBX|");
  ASSERT_EQ(obx.size(), 20u);  // 19 class rows + M:E
  EXPECT_EQ(obx[0], "OBX|1|NM|blast^Blast^L||2|%^%^UCUM|0-2|N|||P|||20261120");
  EXPECT_EQ(obx[7], "OBX|8|NM|eosinophil^Eosinophil^L||8|%^%^UCUM|1-5|H|||P|||20261120");
  EXPECT_EQ(obx[16], "OBX|17|NM|smudge^Smudge cell^L||7|{cells}^cells^UCUM|||||P|||20261120");
  EXPECT_EQ(obx[19],
            "OBX|20|NM|11138-5^Myeloid:erythroid ratio^LN||3.00|{ratio}^ratio^UCUM|2-4|N|||P|||"
            "20261120");
  const auto nte = starting_with(segs, "NTE|");
  ASSERT_FALSE(nte.empty());
  EXPECT_EQ(nte[0], "NTE|1|L|PRELIMINARY: 3 cells unreviewed.");
  EXPECT_EQ(nte[2], "NTE|3|L|Blasts: 2 % (95% CI 1.1-3.6 %).");
  EXPECT_NE(nte.back().find("genetics"), std::string::npos);
}

TEST(Hl7v2Export, SignedReportIsFinalWithInterpreter) {
  const auto segs = segments_of(*report_to_hl7v2(test::signed_report()));
  EXPECT_NE(segs[0].find("|20261125100000+0800||ORU^R01^ORU_R01|"), std::string::npos) << segs[0];
  const std::string obr = starting_with(segs, "OBR|")[0];
  EXPECT_NE(obr.find("|HM|F|||||||Dr. Li"), std::string::npos) << obr;
  for (const auto& s : starting_with(segs, "OBX|")) EXPECT_NE(s.find("|F|||"), std::string::npos);
  EXPECT_TRUE(starting_with(segs, "NTE|1|L|PRELIMINARY").empty());
  // The default control id is stable and fits MSH-10 (20 characters).
  const std::string msh = segs[0];
  const auto ctrl_start = msh.find("ORU_R01|") + 8;
  EXPECT_EQ(msh.find('|', ctrl_start) - ctrl_start, 20u);
  EXPECT_EQ(*report_to_hl7v2(test::signed_report()), *report_to_hl7v2(test::signed_report()));
}

TEST(Hl7v2Export, EscapesDelimitersInUserText) {
  EXPECT_EQ(hl7_escape("a|b^c&d~e\\f"), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
  EXPECT_EQ(hl7_escape("one\r\ntwo\nthree"), "one\\.br\\two\\.br\\three");
  ReportData rep = test::sample_report();
  rep.patient.name = "Smith|Evil^Name";
  rep.comments = "line one\rOBX|99|injected";
  const std::string msg = *report_to_hl7v2(rep);
  EXPECT_NE(msg.find("PID|1||P-001^^^^MR||Smith\\F\\Evil\\S\\Name|"), std::string::npos);
  EXPECT_NE(msg.find("Comments: line one\\.br\\OBX\\F\\99\\F\\injected"), std::string::npos);
  EXPECT_EQ(msg.find("\rOBX|99"), std::string::npos);
}

TEST(Hl7v2Export, BloodUsesTheBloodPanelAndNrbcPer100Wbc) {
  ReportData rep = test::sample_report();
  rep.differential = test::differential_of(
      test::shipped_taxonomy("pbc11"),
      {{"segmented_neutrophil", 150}, {"lymphocyte", 50}, {"erythroblast", 4}},
      Specimen::kPeripheralBlood);
  const std::string msg = *report_to_hl7v2(rep);
  EXPECT_NE(msg.find("|24318-8^Manual differential panel, blood^LN|"), std::string::npos);
  EXPECT_NE(
      msg.find(
          "erythroblast^Erythroblast (nucleated red cell)^L||2|/100{WBCs}^/100 WBC^UCUM|0-0|H|"),
      std::string::npos);
  EXPECT_EQ(msg.find("11138-5"), std::string::npos);
}

TEST(Hl7v2Export, TimestampsAndErrors) {
  EXPECT_EQ(hl7_timestamp("2026-11-20"), "20261120");
  EXPECT_EQ(hl7_timestamp("2026-11-20T08:05"), "202611200805");
  EXPECT_EQ(hl7_timestamp("2026-11-20T08:05:09.123456-05:00"), "20261120080509.1234-0500");
  EXPECT_EQ(hl7_timestamp("20/11/2026"), "");
  ReportData rep = test::sample_report();
  rep.sample.collected_at = "yesterday";
  auto r = report_to_hl7v2(rep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sample.collected_at"), std::string::npos);
  rep = test::sample_report();
  rep.patient.id.clear();
  EXPECT_FALSE(report_to_hl7v2(rep));
}

TEST(Hl7v2Export, ControlCharactersNeverReachTheMessage) {
  // 0x0B and 0x1C frame MLLP messages; NUL and the rest have no meaning inside a field.
  EXPECT_EQ(hl7_escape(std::string("a\x0b" "b\x1c" "c\0d\x1f" "e\tf", 11)), "abcdef");
  ReportData rep = test::sample_report();
  rep.patient.name = std::string("Zhang\x0bWei");
  rep.sample.accession = std::string("S-1\x1c\r");
  rep.comments = std::string("ok\x00tail\x1d", 8);
  const std::string msg = *report_to_hl7v2(rep);
  for (char c : msg) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 || u == '\r') << "control byte " << int(u) << " in the message";
  }
  EXPECT_NE(msg.find("PID|1||P-001^^^^MR||ZhangWei|"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Comments: oktail"), std::string::npos);
}

TEST(Hl7v2Export, InterpreterIsTheSignersAccountAndName) {
  ReportData rep = test::signed_report();
  rep.sign_off->username = "li.wei";
  const auto segs = segments_of(*report_to_hl7v2(rep));
  const std::string obr = starting_with(segs, "OBR|")[0];
  EXPECT_NE(obr.find("|HM|F|||||||li.wei&Dr. Li"), std::string::npos) << obr;
  rep.sign_off->signed_by = "Dr. A&B";
  const std::string amp = starting_with(segments_of(*report_to_hl7v2(rep)), "OBR|")[0];
  EXPECT_NE(amp.find("li.wei&Dr. A\\T\\B"), std::string::npos) << amp;
}

}  // namespace
}  // namespace ms
