#include "report/fhir_export.h"

#include <gtest/gtest.h>

#include <set>

#include "report_fixtures.h"

namespace ms {
namespace {

const Json* resource_by_url(const Json& bundle, const std::string& url) {
  for (const auto& e : bundle["entry"])
    if (e["fullUrl"] == url) return &e["resource"];
  return nullptr;
}

Json resource_of_type(const Json& bundle, const std::string& type, const std::string& loinc = "") {
  for (const auto& e : bundle["entry"]) {
    const Json& r = e["resource"];
    if (r["resourceType"] != type) continue;
    if (loinc.empty() || (r["code"]["coding"][0]["system"] == "http://loinc.org" &&
                          r["code"]["coding"][0]["code"] == loinc))
      return r;
  }
  return Json();
}

TEST(FhirExport, BundleHoldsReportPanelClassObservationsAndMeRatio) {
  const ReportData rep = test::sample_report();
  const Json b = *report_to_fhir(rep);
  EXPECT_EQ(b["resourceType"], "Bundle");
  EXPECT_EQ(b["type"], "collection");
  // DiagnosticReport + panel + 19 class rows + M:E.
  ASSERT_EQ(b["entry"].size(), 22u);
  std::set<std::string> urls;
  for (const auto& e : b["entry"]) {
    const std::string url = e["fullUrl"];
    EXPECT_EQ(url.rfind("urn:uuid:", 0), 0u) << url;
    EXPECT_EQ(url.substr(9), e["resource"]["id"].get<std::string>());
    urls.insert(url);
  }
  EXPECT_EQ(urls.size(), 22u);  // all distinct

  const Json report = resource_of_type(b, "DiagnosticReport");
  EXPECT_EQ(report["status"], "preliminary");
  EXPECT_EQ(report["code"]["coding"][0]["code"], "47286-0");
  EXPECT_EQ(report["subject"]["reference"], "Patient/P-001");
  EXPECT_EQ(report["effectiveDateTime"], "2026-11-20");
  EXPECT_EQ(report["identifier"][1]["value"], "S-2026-0042");
  const std::string conclusion = report["conclusion"];
  EXPECT_NE(conclusion.find("FAB: No FAB criterion met"), std::string::npos) << conclusion;
  EXPECT_NE(conclusion.find("genetics"), std::string::npos);
  EXPECT_NE(conclusion.find("PRELIMINARY: 3 cells unreviewed"), std::string::npos);
  ASSERT_EQ(report["result"].size(), 2u);

  const Json* panel = resource_by_url(b, report["result"][0]["reference"]);
  ASSERT_NE(panel, nullptr);
  EXPECT_EQ((*panel)["code"]["coding"][0]["code"], "47286-0");
  ASSERT_EQ((*panel)["hasMember"].size(), 19u);
  for (const auto& m : (*panel)["hasMember"]) {
    const Json* obs = resource_by_url(b, m["reference"]);
    ASSERT_NE(obs, nullptr) << m;
    EXPECT_EQ((*obs)["resourceType"], "Observation");
    EXPECT_EQ((*obs)["subject"]["reference"], "Patient/P-001");
    EXPECT_EQ((*obs)["status"], "preliminary");
  }
  const Json* me = resource_by_url(b, report["result"][1]["reference"]);
  ASSERT_NE(me, nullptr);
  EXPECT_EQ((*me)["code"]["coding"][0]["code"], "11138-5");
  EXPECT_DOUBLE_EQ((*me)["valueRatio"]["numerator"]["value"].get<double>(), 3.0);
  EXPECT_EQ((*me)["interpretation"][0]["coding"][0]["code"], "N");
}

TEST(FhirExport, ClassObservationsCarryUcumPercentRangesAndFlags) {
  const Json b = *report_to_fhir(test::sample_report());
  const Json* panel =
      resource_by_url(b, resource_of_type(b, "DiagnosticReport")["result"][0]["reference"]);
  // hasMember follows hematology order: [7] is eosinophil (40 / 500 = 8 %, range 1-5: high).
  const Json* eos = resource_by_url(b, (*panel)["hasMember"][7]["reference"]);
  EXPECT_EQ((*eos)["code"]["coding"][0]["code"], "eosinophil");
  EXPECT_DOUBLE_EQ((*eos)["valueQuantity"]["value"].get<double>(), 8.0);
  EXPECT_EQ((*eos)["valueQuantity"]["system"], "http://unitsofmeasure.org");
  EXPECT_EQ((*eos)["valueQuantity"]["code"], "%");
  EXPECT_EQ((*eos)["valueQuantity"]["unit"], "%");
  EXPECT_DOUBLE_EQ((*eos)["referenceRange"][0]["high"]["value"].get<double>(), 5.0);
  EXPECT_EQ((*eos)["interpretation"][0]["coding"][0]["code"], "H");
  EXPECT_EQ((*eos)["component"][0]["valueQuantity"]["value"], 40);
  // The excluded smudge cells are a count, not a percentage.
  const Json* smudge = resource_by_url(b, (*panel)["hasMember"][16]["reference"]);
  EXPECT_EQ((*smudge)["valueQuantity"]["code"], "{cells}");
  EXPECT_EQ((*smudge)["valueQuantity"]["value"], 7);
}

TEST(FhirExport, SignedReportIsFinalWithIssuedAndInterpreter) {
  const Json b = *report_to_fhir(test::signed_report());
  const Json report = resource_of_type(b, "DiagnosticReport");
  EXPECT_EQ(report["status"], "final");
  EXPECT_EQ(report["issued"], "2026-11-25T10:00:00+08:00");
  EXPECT_EQ(report["resultsInterpreter"][0]["display"], "Dr. Li");
  for (const auto& e : b["entry"]) EXPECT_EQ(e["resource"]["status"], "final");
  EXPECT_EQ(report["conclusion"].get<std::string>().find("PRELIMINARY"), std::string::npos);
}

TEST(FhirExport, BloodUsesTheManualDifferentialPanelAndNrbcPer100Wbc) {
  ReportData rep = test::sample_report();
  rep.differential = test::differential_of(
      test::shipped_taxonomy("pbc11"),
      {{"segmented_neutrophil", 150}, {"lymphocyte", 50}, {"erythroblast", 4}},
      Specimen::kPeripheralBlood);
  const Json b = *report_to_fhir(rep);
  const Json report = resource_of_type(b, "DiagnosticReport");
  EXPECT_EQ(report["code"]["coding"][0]["code"], "24318-8");
  EXPECT_EQ(report["result"].size(), 1u);  // no M:E in blood
  EXPECT_TRUE(resource_of_type(b, "Observation", "11138-5").is_null());
  EXPECT_FALSE(resource_of_type(b, "Observation", "24318-8").is_null());
  bool found = false;
  for (const auto& e : b["entry"]) {
    const Json& r = e["resource"];
    if (r["resourceType"] == "Observation" && r["code"]["coding"][0]["code"] == "erythroblast") {
      EXPECT_EQ(r["valueQuantity"]["code"], "/100{WBCs}");
      EXPECT_DOUBLE_EQ(r["valueQuantity"]["value"].get<double>(), 2.0);  // 4 per 200 WBC
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(FhirExport, SameReportSameDocument) {
  EXPECT_EQ(report_to_fhir(test::sample_report())->dump(),
            report_to_fhir(test::sample_report())->dump());
  ReportData other = test::sample_report();
  other.report_id = "S-2026-0042-v2";
  EXPECT_NE((*report_to_fhir(other))["entry"][0]["fullUrl"],
            (*report_to_fhir(test::sample_report()))["entry"][0]["fullUrl"]);
  const std::string u = deterministic_uuid("x");
  EXPECT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '8');                                          // version 8
  EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);  // RFC variant
}

TEST(FhirExport, BadIdentifiersAndDatesAreErrors) {
  ReportData rep = test::sample_report();
  rep.patient.id = "P 001/../x";
  auto r = report_to_fhir(rep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("patient.id"), std::string::npos);
  rep = test::sample_report();
  rep.sample.collected_at = "20/11/2026";
  r = report_to_fhir(rep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sample.collected_at"), std::string::npos);
  rep = test::signed_report();
  rep.sign_off->signed_at = "2026-11-25T10:00:00";  // a date-time needs a zone
  EXPECT_FALSE(report_to_fhir(rep));
  rep = test::sample_report();
  rep.report_id.clear();
  EXPECT_FALSE(report_to_fhir(rep));
  EXPECT_TRUE(is_fhir_date_time("2026"));
  EXPECT_TRUE(is_fhir_date_time("2026-11-25T10:00:00.123Z"));
  EXPECT_FALSE(is_fhir_date_time("2026-13-01"));
}

TEST(FhirExport, InterpreterCarriesTheSignersAccount) {
  ReportData rep = test::signed_report();
  rep.sign_off->username = "li.wei";
  const Json report = resource_of_type(*report_to_fhir(rep), "DiagnosticReport");
  EXPECT_EQ(report["resultsInterpreter"][0]["display"], "Dr. Li (li.wei)");
  EXPECT_EQ(report["resultsInterpreter"][0]["identifier"]["system"], "urn:marrowscope:username");
  EXPECT_EQ(report["resultsInterpreter"][0]["identifier"]["value"], "li.wei");
}

}  // namespace
}  // namespace ms
