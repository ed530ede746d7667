#include "report/rule_set.h"

#include <gtest/gtest.h>

#include "report_fixtures.h"

namespace ms {
namespace {

using test::differential_of;
using test::shipped_taxonomy;
using test::with_pbc_classifier;

// Marrow counts of `blasts` blasts among `total` nucleated cells (the rest lymphocytes).
Differential blasts_of(int blasts, int total, Specimen specimen = Specimen::kBoneMarrow) {
  return differential_of(shipped_taxonomy("marrow"),
                         {{"blast", blasts}, {"lymphocyte", total - blasts}}, specimen);
}

double number(const Suggestion& s, const std::string& name) {
  for (const auto& n : s.numbers)
    if (n.name == name) return n.value;
  ADD_FAILURE() << "no number " << name << " in " << s.rule_id;
  return -1;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The marrow taxonomy plus an abnormal (hypergranular) promyelocyte class, as a lab would add
// it for FAB M3.
Taxonomy with_abnormal_promyelocytes() {
  Taxonomy t = shipped_taxonomy("marrow");
  CellClass c = *t.find("promyelocyte");
  c.id = "abnormal_promyelocyte";
  c.names = {"Abnormal promyelocyte", "异常早幼粒细胞"};
  c.order = 25;
  c.is_abnormal_promyelocyte = true;
  t.classes.push_back(c);
  EXPECT_TRUE(validate_taxonomy(t, "test"));
  return t;
}

TEST(RuleSet, BlastsTheClassifierCannotNameAreNotAssessedUntilReviewed) {
  // 100 lymphocytes, 40 of them unreviewed: 0 blasts is a product of the classifier, not an
  // observation. No rule set may say "criterion not met".
  const Differential d = with_pbc_classifier({{"lymphocyte", 100}}, 40);
  EXPECT_FALSE(d.blasts.assessed);
  for (const Suggestion& s : suggest_all(d)) {
    EXPECT_EQ(s.rule_id, config_to_json(s.rule_set).get<std::string>() + ".blasts_not_assessed");
    EXPECT_FALSE(s.criterion_met);
    EXPECT_TRUE(contains(s.text.en, "Blast percentage not assessed automatically: blasts are counted only on review"))
        << s.text.en;
    EXPECT_FALSE(contains(s.text.en, "criterion met")) << s.text.en;
    EXPECT_TRUE(contains(s.text.zh, "原始细胞比例未自动评估")) << s.text.zh;
  }
  // A reviewer names 25 blasts: the WHO and ICC texts now evaluate them (25 of 125 = 20 %).
  const Differential reviewed = with_pbc_classifier({{"lymphocyte", 100}, {"blast", 25}}, 40);
  EXPECT_TRUE(reviewed.blasts.assessed);
  EXPECT_EQ(suggest_who2022(reviewed).rule_id, "who2022.aml");
  EXPECT_EQ(suggest_icc2022(reviewed).rule_id, "icc2022.aml");
  // Every cell reviewed and none called a blast: 0 % is an observation.
  const Differential all_reviewed = with_pbc_classifier({{"lymphocyte", 100}}, 0);
  EXPECT_TRUE(all_reviewed.blasts.assessed);
  EXPECT_EQ(suggest_who2022(all_reviewed).rule_id, "who2022.none");
  // The review-only rows are marked; the classifier's are not.
  EXPECT_TRUE(d.row("blast")->review_only);
  EXPECT_TRUE(d.row("not_a_cell")->review_only);
  EXPECT_FALSE(d.row("lymphocyte")->review_only);
  // Without a known classifier (the CLI on a count file) nothing changes.
  EXPECT_TRUE(differential_of(shipped_taxonomy("marrow"), {{"lymphocyte", 100}}, Specimen::kBoneMarrow, 40)
                  .blasts.assessed);
}

TEST(RuleSet, FabM3StillEvaluatedWhenBlastsAreNotAssessed) {
  Taxonomy t = with_abnormal_promyelocytes();
  DifferentialInput in;
  in.counts = {{"abnormal_promyelocyte", 40}, {"lymphocyte", 60}};
  in.unreviewed = 10;
  in.classifier_classes = std::set<std::string>{"abnormal_promyelocyte", "lymphocyte"};
  auto d = compute_differential(t, in);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->blasts.assessed);
  EXPECT_EQ(suggest_fab(*d).rule_id, "fab.m3");
  in.counts = {{"abnormal_promyelocyte", 10}, {"lymphocyte", 90}};
  d = compute_differential(t, in);
  EXPECT_EQ(suggest_fab(*d).rule_id, "fab.blasts_not_assessed");
}

TEST(FabRuleSet, NormalMarrowMeetsNoCriterion) {
  const Suggestion s =
      suggest_fab(differential_of(shipped_taxonomy("marrow"), test::normal_marrow_counts()));
  EXPECT_EQ(s.rule_id, "fab.none");
  EXPECT_FALSE(s.criterion_met);
  EXPECT_TRUE(contains(s.text.en,
                       "No FAB criterion met: blasts 2.0 % of nucleated cells (< 30 %); "
                       "erythroid cells 20.0 % (< 50 %) with blasts 2.5 % of "
                       "non-erythroid cells (< 30 %); this taxonomy has no "
                       "abnormal-promyelocyte class, so M3 was not evaluated."))
      << s.text.en;
  EXPECT_TRUE(contains(s.text.zh, "未达到任何 FAB 标准")) << s.text.zh;
  EXPECT_DOUBLE_EQ(number(s, "blast_percent_of_nucleated"), 2.0);
  EXPECT_DOUBLE_EQ(number(s, "erythroid_percent"), 20.0);
  EXPECT_DOUBLE_EQ(number(s, "blast_percent_of_non_erythroid"), 2.5);
  EXPECT_EQ(s.disclaimer.en, morphology_disclaimer().en);
  EXPECT_TRUE(contains(s.disclaimer.en, "genetics"));
  EXPECT_TRUE(contains(s.disclaimer.zh, "遗传学"));
}

TEST(FabRuleSet, AcuteLeukaemiaFromThirtyPercentBlasts) {
  Suggestion s = suggest_fab(blasts_of(150, 500));  // exactly 30 %
  EXPECT_EQ(s.rule_id, "fab.acute_leukaemia");
  EXPECT_TRUE(s.criterion_met);
  EXPECT_TRUE(contains(s.text.en, "blasts 30.0 % of nucleated cells (>= 30 %)")) << s.text.en;
  EXPECT_TRUE(contains(s.text.zh, "30.0%")) << s.text.zh;
  EXPECT_DOUBLE_EQ(number(s, "nucleated_cells"), 500);
  EXPECT_EQ(suggest_fab(blasts_of(149, 500)).rule_id, "fab.none");  // 29.8 %
}

TEST(FabRuleSet, M6UsesTheNonErythroidDenominator) {
  // Erythroid 250/500 = 50 %, blasts 75/500 = 15 % of all but 75/250 = 30 % of non-erythroid.
  const Taxonomy t = shipped_taxonomy("marrow");
  Suggestion s =
      suggest_fab(differential_of(t, {{"erythroblast", 250}, {"blast", 75}, {"lymphocyte", 175}}));
  EXPECT_EQ(s.rule_id, "fab.m6");
  EXPECT_DOUBLE_EQ(number(s, "erythroid_percent"), 50.0);
  EXPECT_DOUBLE_EQ(number(s, "blast_percent_of_nucleated"), 15.0);
  EXPECT_DOUBLE_EQ(number(s, "blast_percent_of_non_erythroid"), 30.0);
  EXPECT_TRUE(contains(s.text.en, "erythroid cells 50.0 %")) << s.text.en;
  EXPECT_TRUE(contains(s.text.en, "blasts 30.0 % of non-erythroid cells")) << s.text.en;
  // One blast fewer: 74 / 250 = 29.6 % of non-erythroid -> no criterion.
  s = suggest_fab(differential_of(t, {{"erythroblast", 250}, {"blast", 74}, {"lymphocyte", 176}}));
  EXPECT_EQ(s.rule_id, "fab.none");
  EXPECT_TRUE(contains(s.text.en,
                       "erythroid cells 50.0 % (>= 50 %) with blasts 29.6 % of "
                       "non-erythroid cells (< 30 %)"))
      << s.text.en;
  // Erythroid 249 / 500 < 50 % with many blasts of the rest: not M6 either.
  s = suggest_fab(differential_of(t, {{"erythroblast", 249}, {"blast", 100}, {"lymphocyte", 151}}));
  EXPECT_EQ(s.rule_id, "fab.none");
}

TEST(FabRuleSet, M3FromAbnormalPromyelocytes) {
  const Taxonomy t = with_abnormal_promyelocytes();
  Suggestion s = suggest_fab(
      differential_of(t, {{"abnormal_promyelocyte", 150}, {"blast", 20}, {"lymphocyte", 330}}));
  EXPECT_EQ(s.rule_id, "fab.m3");
  EXPECT_DOUBLE_EQ(number(s, "abnormal_promyelocyte_percent"), 30.0);
  EXPECT_TRUE(contains(s.text.en, "acute promyelocytic leukaemia")) << s.text.en;
  s = suggest_fab(differential_of(t, {{"abnormal_promyelocyte", 149}, {"lymphocyte", 351}}));
  EXPECT_EQ(s.rule_id, "fab.none");
  EXPECT_TRUE(contains(s.text.en, "abnormal promyelocytes 29.8 % (< 30 %).")) << s.text.en;
  EXPECT_DOUBLE_EQ(number(s, "abnormal_promyelocyte_percent"), 29.8);
  // Normal promyelocytes never suggest M3.
  s = suggest_fab(differential_of(t, {{"promyelocyte", 200}, {"lymphocyte", 300}}));
  EXPECT_EQ(s.rule_id, "fab.none");
}

TEST(FabRuleSet, NotApplicableToBloodAndNothingBeforeCounting) {
  Suggestion s = suggest_fab(blasts_of(80, 200, Specimen::kPeripheralBlood));
  EXPECT_EQ(s.rule_id, "fab.not_applicable");
  EXPECT_FALSE(s.criterion_met);
  EXPECT_TRUE(contains(s.text.en, "marrow criteria do not apply")) << s.text.en;
  s = suggest_fab(differential_of(shipped_taxonomy("marrow"), {{"smudge", 3}}));
  EXPECT_EQ(s.rule_id, "fab.no_cells");
  EXPECT_EQ(suggest_who2022(differential_of(shipped_taxonomy("marrow"), {})).rule_id,
            "who2022.no_cells");
}

TEST(Who2022RuleSet, MarrowThresholds) {
  EXPECT_EQ(suggest_who2022(blasts_of(100, 500)).rule_id, "who2022.aml");     // 20 %
  EXPECT_EQ(suggest_who2022(blasts_of(99, 500)).rule_id, "who2022.mds_ib2");  // 19.8 %
  EXPECT_EQ(suggest_who2022(blasts_of(50, 500)).rule_id, "who2022.mds_ib2");  // 10 %
  EXPECT_EQ(suggest_who2022(blasts_of(49, 500)).rule_id, "who2022.mds_ib1");  // 9.8 %
  EXPECT_EQ(suggest_who2022(blasts_of(25, 500)).rule_id, "who2022.mds_ib1");  // 5 %
  const Suggestion none = suggest_who2022(blasts_of(24, 500));                // 4.8 %
  EXPECT_EQ(none.rule_id, "who2022.none");
  EXPECT_FALSE(none.criterion_met);
  EXPECT_TRUE(contains(none.text.en, "No WHO 2022 blast criterion met: marrow blasts 4.8 %"))
      << none.text.en;
  const Suggestion ib2 = suggest_who2022(blasts_of(60, 500));
  EXPECT_TRUE(ib2.criterion_met);
  EXPECT_TRUE(contains(ib2.text.en, "12.0 % (10-19 %)")) << ib2.text.en;
  EXPECT_TRUE(contains(ib2.text.zh, "12.0%")) << ib2.text.zh;
  EXPECT_DOUBLE_EQ(number(ib2, "blast_percent_of_nucleated"), 12.0);
  EXPECT_DOUBLE_EQ(number(ib2, "blasts"), 60);
  EXPECT_DOUBLE_EQ(number(ib2, "nucleated_cells"), 500);
}

TEST(Who2022RuleSet, BloodThresholdsSayMarrowCriteriaDoNotApply) {
  const Specimen pb = Specimen::kPeripheralBlood;
  EXPECT_EQ(suggest_who2022(blasts_of(40, 200, pb)).rule_id, "who2022.aml");      // 20 %
  EXPECT_EQ(suggest_who2022(blasts_of(10, 200, pb)).rule_id, "who2022.mds_ib2");  // 5 %
  const Suggestion ib1 = suggest_who2022(blasts_of(4, 200, pb));                  // 2 %
  EXPECT_EQ(ib1.rule_id, "who2022.mds_ib1");
  EXPECT_TRUE(contains(ib1.text.en, "marrow criteria do not apply")) << ib1.text.en;
  EXPECT_DOUBLE_EQ(number(ib1, "blast_percent_of_wbc"), 2.0);
  EXPECT_DOUBLE_EQ(number(ib1, "wbc"), 200);
  EXPECT_EQ(suggest_who2022(blasts_of(3, 200, pb)).rule_id, "who2022.none");  // 1.5 %
}

TEST(Icc2022RuleSet, MarrowAndBloodThresholds) {
  EXPECT_EQ(suggest_icc2022(blasts_of(100, 500)).rule_id, "icc2022.aml");
  EXPECT_EQ(suggest_icc2022(blasts_of(99, 500)).rule_id, "icc2022.mds_aml");
  EXPECT_EQ(suggest_icc2022(blasts_of(50, 500)).rule_id, "icc2022.mds_aml");
  EXPECT_EQ(suggest_icc2022(blasts_of(49, 500)).rule_id, "icc2022.mds_eb");
  EXPECT_EQ(suggest_icc2022(blasts_of(25, 500)).rule_id, "icc2022.mds_eb");
  EXPECT_EQ(suggest_icc2022(blasts_of(24, 500)).rule_id, "icc2022.none");
  const Suggestion mds_aml = suggest_icc2022(blasts_of(75, 500));
  EXPECT_TRUE(contains(mds_aml.text.en, "Marrow blasts 15.0 % (10-19 %): consistent with MDS/AML"))
      << mds_aml.text.en;
  const Specimen pb = Specimen::kPeripheralBlood;
  EXPECT_EQ(suggest_icc2022(blasts_of(40, 200, pb)).rule_id, "icc2022.aml");
  EXPECT_EQ(suggest_icc2022(blasts_of(20, 200, pb)).rule_id, "icc2022.mds_aml");  // 10 %
  EXPECT_EQ(suggest_icc2022(blasts_of(18, 200, pb)).rule_id, "icc2022.mds_eb");   // 9 %
  const Suggestion eb = suggest_icc2022(blasts_of(4, 200, pb));                   // 2 %
  EXPECT_EQ(eb.rule_id, "icc2022.mds_eb");
  EXPECT_TRUE(contains(eb.text.en, "Blood blasts 2.0 % (2-9 %)")) << eb.text.en;
  EXPECT_TRUE(contains(eb.text.en, "Marrow criteria do not apply")) << eb.text.en;
  EXPECT_EQ(suggest_icc2022(blasts_of(3, 200, pb)).rule_id, "icc2022.none");
}

TEST(RuleSet, SuggestAllNamesEachRuleSetAndSerialises) {
  const auto all = suggest_all(blasts_of(100, 500));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].rule_id, "fab.none");  // 20 % is below FAB's 30 %
  EXPECT_EQ(all[1].rule_id, "who2022.aml");
  EXPECT_EQ(all[2].rule_id, "icc2022.aml");
  EXPECT_EQ(suggest(RuleSet::kIcc2022, blasts_of(100, 500)).rule_id, "icc2022.aml");
  const Json j = suggestion_to_json(all[1]);
  EXPECT_EQ(j["rule_set"], "who2022");
  EXPECT_EQ(j["rule_set_title"], "WHO 2022");
  EXPECT_EQ(j["criterion_met"], true);
  EXPECT_EQ(j["numbers"][0]["name"], "blast_percent_of_nucleated");
  EXPECT_DOUBLE_EQ(j["numbers"][0]["value"].get<double>(), 20.0);
  EXPECT_FALSE(j["disclaimer"]["en"].get<std::string>().empty());
}

}  // namespace
}  // namespace ms
