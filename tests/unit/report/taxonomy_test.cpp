#include "report/taxonomy.h"

#include <gtest/gtest.h>

#include "report_fixtures.h"

namespace ms {
namespace {

// A minimal valid taxonomy as JSON; tests break one thing at a time.
Json two_classes() {
  return Json::parse(R"({
    "name": "tiny",
    "classes": [
      {"id": "blast", "names": {"en": "Blast", "zh": "原始细胞"}, "order": 1,
       "lineage": "myeloid", "is_blast": true, "colour": "#ff0000"},
      {"id": "platelet", "names": {"en": "Platelet", "zh": "血小板"}, "order": 9,
       "counted": false}
    ],
    "specimens": {"bone_marrow": {"ranges": {"blast": {"low": 0, "high": 2}}}}
  })");
}

std::string error_of(const Json& j) {
  auto t = parse_taxonomy(j, "tiny.json");
  EXPECT_FALSE(t.has_value());
  return t ? "" : t.error().message;
}

TEST(Taxonomy, ShippedPbc11HasTheModelClassesInHematologyOrder) {
  const Taxonomy t = test::shipped_taxonomy("pbc11");
  ASSERT_EQ(t.classes.size(), 14u);
  std::vector<std::string> ordered;
  for (size_t i : t.reporting_order()) ordered.push_back(t.classes[i].id);
  EXPECT_EQ(ordered, (std::vector<std::string>{"promyelocyte", "myelocyte", "metamyelocyte",
                                               "band_neutrophil", "segmented_neutrophil",
                                               "eosinophil", "basophil", "monocyte", "lymphocyte",
                                               "erythroblast", "platelet", "smudge", "not_a_cell",
                                               "artefact"}));
  for (const char* excluded : {"smudge", "not_a_cell", "artefact"}) EXPECT_FALSE(t.find(excluded)->counted) << excluded;
  EXPECT_FALSE(t.find("platelet")->counted);
  EXPECT_TRUE(t.find("erythroblast")->is_erythroid);
  EXPECT_EQ(t.find("monocyte")->lineage, Lineage::kMonocytic);
  EXPECT_FALSE(t.find("monocyte")->in_me_numerator);
  EXPECT_EQ(t.find("myelocyte")->maturity, MaturityRole::kImmature);
  EXPECT_EQ(t.find("band_neutrophil")->maturity, MaturityRole::kMature);
  EXPECT_EQ(t.find("segmented_neutrophil")->names.zh, "中性分叶核粒细胞");
  EXPECT_EQ(t.specimens.bone_marrow.count_target, 500);
  EXPECT_EQ(t.specimens.peripheral_blood.count_target, 200);
}

TEST(Taxonomy, ShippedMarrowHasBlastsPlasmaCellsAndExcludedSmudge) {
  const Taxonomy t = test::shipped_taxonomy("marrow");
  ASSERT_EQ(t.classes.size(), 19u);
  EXPECT_EQ(t.classes[t.reporting_order().front()].id, "blast");
  EXPECT_TRUE(t.find("blast")->is_blast);
  // WHO: promonocytes are blast equivalents; megakaryocytes, platelets, smudge cells, "not a
  // cell" and artefacts stay out of the nucleated-cell count.
  EXPECT_TRUE(t.find("promonocyte")->is_blast);
  for (const char* excluded : {"megakaryocyte", "platelet", "smudge", "not_a_cell", "artefact"})
    EXPECT_FALSE(t.find(excluded)->counted) << excluded;
  // The marrow vocabulary holds every class of the shipped classifiers.
  const Taxonomy pbc = test::shipped_taxonomy("pbc11");
  std::vector<std::string> model_classes;
  for (const auto& c : pbc.classes) model_classes.push_back(c.id);
  EXPECT_TRUE(check_classifier_classes(t, model_classes, "marrow.json"));
  EXPECT_EQ(t.find("plasma_cell")->lineage, Lineage::kLymphoid);
  EXPECT_TRUE(t.find("other")->counted);
  EXPECT_FALSE(t.find("smudge")->counted);
  // Iowa adult marrow ranges (DOMAIN.md).
  const auto& m = t.specimens.bone_marrow;
  EXPECT_DOUBLE_EQ(m.ranges.at("segmented_neutrophil").low, 18);
  EXPECT_DOUBLE_EQ(m.ranges.at("segmented_neutrophil").high, 28);
  EXPECT_DOUBLE_EQ(m.ranges.at("erythroblast").high, 32);
  ASSERT_TRUE(m.me_ratio.has_value());
  EXPECT_DOUBLE_EQ(m.me_ratio->low, 2);
  EXPECT_DOUBLE_EQ(m.me_ratio->high, 4);
}

TEST(Taxonomy, ClassifierClassesMissingFromATaxonomyAreNamed) {
  const Taxonomy t = test::shipped_taxonomy("pbc11");
  EXPECT_TRUE(check_classifier_classes(t, {"lymphocyte", "platelet"}, "pbc11.json"));
  auto s = check_classifier_classes(t, {"lymphocyte", "blast", "hairy_cell"}, "pbc11.json");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("pbc11.json"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("\"blast\", \"hairy_cell\""), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find("lymphocyte"), std::string::npos) << s.error().message;
}

TEST(Taxonomy, ReportingOrderKeepsFileOrderOnTies) {
  Json j = two_classes();
  j["classes"][1]["order"] = 1;
  auto t = parse_taxonomy(j, "tiny.json");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->reporting_order(), (std::vector<size_t>{0, 1}));
  j["classes"][0]["order"] = 2;
  t = parse_taxonomy(j, "tiny.json");
  EXPECT_EQ(t->reporting_order(), (std::vector<size_t>{1, 0}));
}

TEST(Taxonomy, UnknownKeyNamesItsJsonPath) {
  Json j = two_classes();
  j["classes"][1]["is_blats"] = true;
  const std::string m = error_of(j);
  EXPECT_NE(m.find("$.classes[1].is_blats"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key"), std::string::npos) << m;
}

TEST(Taxonomy, DuplicateClassIdIsAnError) {
  Json j = two_classes();
  j["classes"][1]["id"] = "blast";
  const std::string m = error_of(j);
  EXPECT_NE(m.find("$.classes[1].id"), std::string::npos) << m;
  EXPECT_NE(m.find("duplicate \"blast\""), std::string::npos) << m;
  EXPECT_NE(m.find("first at tiny.json:$.classes[0]"), std::string::npos) << m;
}

TEST(Taxonomy, BadValuesAreErrorsNamingThePath) {
  Json j = two_classes();
  j["classes"][0]["lineage"] = "myeloidd";
  EXPECT_NE(error_of(j).find("$.classes[0].lineage: expected one of myeloid|"), std::string::npos);

  j = two_classes();
  j["classes"][0]["id"] = "Blast Cell";
  EXPECT_NE(error_of(j).find("snake_case"), std::string::npos);

  j = two_classes();
  j["classes"][0]["colour"] = "red";
  EXPECT_NE(error_of(j).find("$.classes[0].colour"), std::string::npos);

  j = two_classes();
  j["classes"][0]["names"]["zh"] = "";
  EXPECT_NE(error_of(j).find("$.classes[0].names"), std::string::npos);

  j = two_classes();
  j["classes"][0]["counted"] = false;  // a blast outside the denominator makes no sense
  EXPECT_NE(error_of(j).find("$.classes[0].counted"), std::string::npos);

  j = two_classes();
  j["classes"][0]["order"] = "first";
  EXPECT_NE(error_of(j).find("$.classes[0].order: expected integer, found string"),
            std::string::npos);

  j = two_classes();
  j["classes"] = Json::array();
  EXPECT_NE(error_of(j).find("at least one class"), std::string::npos);
}

TEST(Taxonomy, RangesMustNameCountedClassesWithLowNotAboveHigh) {
  Json j = two_classes();
  j["specimens"]["bone_marrow"]["ranges"]["lymphocyte"] = {{"low", 9}, {"high", 19}};
  std::string m = error_of(j);
  EXPECT_NE(m.find("$.specimens.bone_marrow.ranges.lymphocyte"), std::string::npos) << m;

  j = two_classes();
  j["specimens"]["bone_marrow"]["ranges"]["platelet"] = {{"low", 0}, {"high", 1}};
  EXPECT_NE(error_of(j).find("excluded class \"platelet\""), std::string::npos);

  j = two_classes();
  j["specimens"]["bone_marrow"]["ranges"]["blast"] = {{"low", 5}, {"high", 2}};
  EXPECT_NE(error_of(j).find("0 <= low <= high"), std::string::npos);

  j = two_classes();
  j["specimens"]["cerebrospinal_fluid"] = Json::object();
  EXPECT_NE(error_of(j).find("$.specimens.cerebrospinal_fluid"), std::string::npos);

  j = two_classes();
  j["specimens"]["peripheral_blood"]["count_target"] = 0;
  EXPECT_NE(error_of(j).find("count_target"), std::string::npos);
}

TEST(Taxonomy, MissingFileIsNotFound) {
  auto t = load_taxonomy("/nonexistent/taxonomy.json");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kNotFound);
}

TEST(Taxonomy, SpecimenNamesRoundTrip) {
  EXPECT_EQ(specimen_name(Specimen::kPeripheralBlood), "peripheral_blood");
  EXPECT_EQ(*parse_specimen("bone_marrow"), Specimen::kBoneMarrow);
  auto bad = parse_specimen("csf");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"csf\""), std::string::npos);
}

}  // namespace
}  // namespace ms
