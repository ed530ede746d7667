#include "report/differential.h"

#include <gtest/gtest.h>

#include "report_fixtures.h"

namespace ms {
namespace {

using test::differential_of;
using test::normal_marrow_counts;
using test::shipped_taxonomy;

TEST(Differential, RowsFollowHematologyOrderWithExcludedClassesLast) {
  const Taxonomy t = shipped_taxonomy("marrow");
  const Differential d = differential_of(t, normal_marrow_counts());
  std::vector<std::string> ids;
  for (const auto& r : d.rows) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"blast", "promonocyte", "promyelocyte", "myelocyte",
                                           "metamyelocyte", "band_neutrophil", "segmented_neutrophil",
                                           "eosinophil", "basophil", "monocyte", "lymphocyte",
                                           "plasma_cell", "erythroblast", "other", "megakaryocyte",
                                           "platelet", "smudge", "not_a_cell", "artefact"}));
}

TEST(Differential, NotACellSmudgeAndArtefactStayOutOfTheNucleatedCount) {
  auto counts = normal_marrow_counts();
  counts["not_a_cell"] = 30;
  counts["artefact"] = 4;
  const Differential d = differential_of(shipped_taxonomy("marrow"), counts);
  EXPECT_EQ(d.denominator, 500);
  EXPECT_EQ(d.total_excluded, 7 + 30 + 4);
  EXPECT_DOUBLE_EQ(*d.row("segmented_neutrophil")->percent, 22.0);
  EXPECT_FALSE(d.row("not_a_cell")->percent.has_value());
  // Blood: the same three classes in the blood taxonomy, out of the WBC denominator.
  const Differential b = differential_of(shipped_taxonomy("pbc11"),
                                         {{"lymphocyte", 50}, {"segmented_neutrophil", 150},
                                          {"not_a_cell", 9}, {"smudge", 2}, {"artefact", 1}},
                                         Specimen::kPeripheralBlood);
  EXPECT_EQ(b.denominator, 200);
  EXPECT_EQ(b.total_excluded, 12);
}

TEST(Differential, BandAndSegmentedNeutrophilsCombinedWhenTheLabChoosesIcsh2015) {
  DifferentialInput in;
  in.counts = normal_marrow_counts();
  in.combine_neutrophils = true;
  in.classifier_classes = std::set<std::string>{"band_neutrophil", "lymphocyte"};
  auto d = compute_differential(shipped_taxonomy("marrow"), in);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->neutrophils_combined);
  EXPECT_EQ(d->row("band_neutrophil"), nullptr);
  EXPECT_EQ(d->row("segmented_neutrophil"), nullptr);
  const DifferentialRow* n = d->row("neutrophil");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->count, 170);  // 60 bands + 110 segmented
  EXPECT_DOUBLE_EQ(*n->percent, 34.0);
  EXPECT_EQ(n->names.en, "Neutrophil (band + segmented)");
  ASSERT_TRUE(n->range.has_value());  // 10-16 % + 18-28 %
  EXPECT_DOUBLE_EQ(n->range->low, 28);
  EXPECT_DOUBLE_EQ(n->range->high, 44);
  EXPECT_FALSE(n->review_only);  // the classifier names bands
  // In the band's place in hematology order, and still the mature side of I:Mg.
  EXPECT_EQ(d->rows[5].id, "neutrophil");
  EXPECT_EQ(d->i_mg_ratio.denominator, 170);
  EXPECT_EQ(d->denominator, 500);
  // The option off: two rows, as before.
  in.combine_neutrophils = false;
  d = compute_differential(shipped_taxonomy("marrow"), in);
  EXPECT_FALSE(d->neutrophils_combined);
  EXPECT_EQ(d->row("band_neutrophil")->count, 60);
}

TEST(Differential, PercentagesOfNucleatedCellsExcludeSmudgeCells) {
  const Differential d = differential_of(shipped_taxonomy("marrow"), normal_marrow_counts());
  EXPECT_EQ(d.total_nucleated, 500);
  EXPECT_EQ(d.total_excluded, 7);
  EXPECT_EQ(d.denominator, 500);
  EXPECT_EQ(d.decimals, 0);
  // 110 / 500 = 22 %, not 110 / 507.
  EXPECT_DOUBLE_EQ(*d.row("segmented_neutrophil")->percent, 22.0);
  EXPECT_EQ(d.row("segmented_neutrophil")->display, "22");
  const DifferentialRow* smudge = d.row("smudge");
  EXPECT_FALSE(smudge->counted);
  EXPECT_EQ(smudge->count, 7);
  EXPECT_FALSE(smudge->percent.has_value());
  EXPECT_EQ(smudge->display, "7");
  double sum = 0;
  for (const auto& r : d.rows) sum += r.percent.value_or(0);
  EXPECT_NEAR(sum, 100.0, 1e-9);
}

TEST(Differential, ReferenceFlags) {
  const Differential d = differential_of(shipped_taxonomy("marrow"), normal_marrow_counts());
  EXPECT_EQ(d.row("blast")->flag, RangeFlag::kNormal);        // 2 % in 0-2
  EXPECT_EQ(d.row("eosinophil")->flag, RangeFlag::kHigh);     // 8 % > 5
  EXPECT_EQ(d.row("plasma_cell")->flag, RangeFlag::kNormal);  // 1 % in 0-1
  EXPECT_EQ(d.row("other")->flag, RangeFlag::kNone);          // no range configured
  EXPECT_EQ(d.row("smudge")->flag, RangeFlag::kNone);
  auto counts = normal_marrow_counts();
  counts["lymphocyte"] = 20;  // 20 / 440 = 4.5 % -> "5" < 9: low
  const Differential low = differential_of(shipped_taxonomy("marrow"), counts);
  EXPECT_EQ(low.row("lymphocyte")->display, "5");
  EXPECT_EQ(low.row("lymphocyte")->flag, RangeFlag::kLow);
}

TEST(Differential, FlagsFollowTheDisplayedValue) {
  // 2.4 % blasts on 500 cells is printed "2"; with a 0-2 range it must not be flagged high.
  Taxonomy t = shipped_taxonomy("marrow");
  std::map<std::string, int> counts{{"blast", 12}, {"lymphocyte", 488}};  // 2.4 %
  EXPECT_EQ(differential_of(t, counts).row("blast")->display, "2");
  EXPECT_EQ(differential_of(t, counts).row("blast")->flag, RangeFlag::kNormal);
  counts = {{"blast", 13}, {"lymphocyte", 487}};  // 2.6 % -> "3": high
  EXPECT_EQ(differential_of(t, counts).row("blast")->flag, RangeFlag::kHigh);
}

TEST(Differential, DisplayPrecisionRule) {
  EXPECT_EQ(display_decimals(999), 0);
  EXPECT_EQ(display_decimals(1000), 1);
  EXPECT_EQ(format_fixed(2.5, 0), "3");  // half away from zero, not to even
  EXPECT_EQ(format_fixed(0.25, 1), "0.3");
  EXPECT_EQ(format_fixed(0.0, 1), "0.0");
  const Taxonomy t = shipped_taxonomy("marrow");
  // 999 cells: 1 blast = 0.1001 % -> "0"; 1000 cells: 1 blast = 0.1 % -> "0.1".
  Differential d = differential_of(t, {{"blast", 1}, {"lymphocyte", 998}});
  EXPECT_EQ(d.decimals, 0);
  EXPECT_EQ(d.row("blast")->display, "0");
  EXPECT_EQ(d.row("lymphocyte")->display, "100");
  d = differential_of(t, {{"blast", 1}, {"lymphocyte", 999}});
  EXPECT_EQ(d.decimals, 1);
  EXPECT_EQ(d.row("blast")->display, "0.1");
  EXPECT_EQ(d.row("lymphocyte")->display, "99.9");
  // Smudge cells do not count toward the 1000.
  d = differential_of(t, {{"blast", 1}, {"lymphocyte", 998}, {"smudge", 50}});
  EXPECT_EQ(d.decimals, 0);
}

TEST(Differential, MeRatioWithConfigurableNumerator) {
  Taxonomy t = shipped_taxonomy("marrow");
  const Differential d = differential_of(t, normal_marrow_counts());
  ASSERT_TRUE(d.me_ratio.has_value());
  EXPECT_EQ(d.me_ratio->numerator, 300);
  EXPECT_EQ(d.me_ratio->denominator, 100);
  EXPECT_DOUBLE_EQ(*d.me_ratio->value, 3.0);
  EXPECT_EQ(d.me_ratio->display, "3.00:1");
  EXPECT_EQ(d.me_ratio->flag, RangeFlag::kNormal);
  // Monocytes on the myeloid side (a lab's choice): (300 + 15) / 100.
  for (auto& c : t.classes)
    if (c.id == "monocyte") c.in_me_numerator = true;
  const Differential with_mono = differential_of(t, normal_marrow_counts());
  EXPECT_EQ(with_mono.me_ratio->numerator, 315);
  EXPECT_EQ(with_mono.me_ratio->display, "3.15:1");
  // Erythroid hyperplasia: 300 / 200 = 1.5 -> low.
  auto counts = normal_marrow_counts();
  counts["erythroblast"] = 200;
  EXPECT_EQ(differential_of(shipped_taxonomy("marrow"), counts).me_ratio->flag, RangeFlag::kLow);
  // No erythroid cells: undefined, not infinite.
  counts["erythroblast"] = 0;
  const Differential none = differential_of(shipped_taxonomy("marrow"), counts);
  EXPECT_FALSE(none.me_ratio->value.has_value());
  EXPECT_EQ(none.me_ratio->display, "n/a");
}

TEST(Differential, ImmatureToMatureGranulocyteRatio) {
  const Differential d = differential_of(shipped_taxonomy("marrow"), normal_marrow_counts());
  EXPECT_EQ(d.i_mg_ratio.numerator, 90);     // 10 + 20 + 25 + 35
  EXPECT_EQ(d.i_mg_ratio.denominator, 170);  // 60 + 110
  EXPECT_NEAR(*d.i_mg_ratio.value, 90.0 / 170.0, 1e-12);
  EXPECT_EQ(d.i_mg_ratio.display, "0.53:1");
}

TEST(Differential, BlastPercentWithIntervalAndBothFabDenominators) {
  const Differential d = differential_of(shipped_taxonomy("marrow"), normal_marrow_counts());
  EXPECT_EQ(d.blasts.count, 10);
  EXPECT_DOUBLE_EQ(*d.blasts.percent, 2.0);
  // Wilson 10/500 by the formula: 1.090 % .. 3.642 %.
  EXPECT_NEAR(d.blasts.interval->low * 100, 1.0899, 1e-3);
  EXPECT_NEAR(d.blasts.interval->high * 100, 3.6420, 1e-3);
  EXPECT_EQ(d.blasts.display, "2 % (95% CI 1.1-3.6 %)");
  EXPECT_DOUBLE_EQ(*d.erythroid_percent, 20.0);  // 100 / 500
  EXPECT_DOUBLE_EQ(*d.blast_percent_of_nucleated, 2.0);
  EXPECT_DOUBLE_EQ(*d.blast_percent_of_non_erythroid, 2.5);  // 10 / 400
  EXPECT_EQ(d.total_wbc, 400);

  DifferentialInput in;
  in.counts = {{"blast", 5}, {"lymphocyte", 95}};
  in.interval_method = IntervalMethod::kClopperPearson;
  const Differential cp = *compute_differential(shipped_taxonomy("marrow"), in);
  EXPECT_EQ(cp.blasts.display, "5 % (95% CI 1.6-11.3 %)");  // DOMAIN.md anchor
}

TEST(Differential, PeripheralBloodReportsNucleatedRedCellsPer100Wbc) {
  const Taxonomy t = shipped_taxonomy("pbc11");
  // 200 WBC + 10 NRBC + 30 platelets.
  const Differential d = differential_of(t,
                                         {{"segmented_neutrophil", 120},
                                          {"band_neutrophil", 6},
                                          {"lymphocyte", 50},
                                          {"monocyte", 14},
                                          {"eosinophil", 8},
                                          {"basophil", 2},
                                          {"erythroblast", 10},
                                          {"platelet", 30}},
                                         Specimen::kPeripheralBlood);
  EXPECT_EQ(d.total_wbc, 200);
  EXPECT_EQ(d.total_nucleated, 210);
  EXPECT_EQ(d.denominator, 200);
  EXPECT_DOUBLE_EQ(*d.row("segmented_neutrophil")->percent, 60.0);  // 120 / 200, not / 210
  const DifferentialRow* nrbc = d.row("erythroblast");
  EXPECT_FALSE(nrbc->percent.has_value());
  EXPECT_DOUBLE_EQ(*nrbc->per_100_wbc, 5.0);
  EXPECT_EQ(nrbc->flag, RangeFlag::kHigh);                        // blood range 0-0
  EXPECT_EQ(d.row("band_neutrophil")->flag, RangeFlag::kNormal);  // 3 % in 0-5
  EXPECT_EQ(d.row("lymphocyte")->flag, RangeFlag::kNormal);       // 25 % in 20-45
  EXPECT_FALSE(d.me_ratio.has_value());                           // a marrow ratio
  EXPECT_EQ(d.progress.target, 200);
  EXPECT_TRUE(d.progress.reached);
}

TEST(Differential, ProgressTowardTargetAndUnreviewedCells) {
  const Taxonomy t = shipped_taxonomy("marrow");
  Differential d =
      differential_of(t, {{"lymphocyte", 100}, {"erythroblast", 25}}, Specimen::kBoneMarrow, 12);
  EXPECT_EQ(d.progress.counted, 125);
  EXPECT_EQ(d.progress.target, 500);
  EXPECT_DOUBLE_EQ(d.progress.fraction, 0.25);
  EXPECT_FALSE(d.progress.reached);
  EXPECT_EQ(d.unreviewed, 12);
  EXPECT_FALSE(d.is_final_count());
  DifferentialInput in;
  in.counts = {{"lymphocyte", 100}};
  in.count_target = 100;
  d = *compute_differential(t, in);
  EXPECT_TRUE(d.progress.reached);
  EXPECT_TRUE(d.is_final_count());
}

TEST(Differential, NothingCountedGivesEmptyValuesNotErrors) {
  const Differential d = differential_of(shipped_taxonomy("marrow"), {{"smudge", 3}});
  EXPECT_EQ(d.denominator, 0);
  EXPECT_FALSE(d.blasts.percent.has_value());
  EXPECT_FALSE(d.blasts.interval.has_value());
  EXPECT_FALSE(d.row("blast")->percent.has_value());
  EXPECT_EQ(d.row("blast")->display, "-");
  EXPECT_FALSE(d.is_final_count());
}

TEST(Differential, BadInputIsAnErrorNamingIt) {
  const Taxonomy t = shipped_taxonomy("marrow");
  DifferentialInput in;
  in.counts = {{"hairy_cell", 2}};
  auto d = compute_differential(t, in);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(d.error().message.find("counts.hairy_cell"), std::string::npos);
  EXPECT_NE(d.error().message.find("blast, lymphocyte"), std::string::npos);
  in.counts = {{"blast", -1}};
  d = compute_differential(t, in);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("counts.blast: expected a count in [0, 10000000], found -1"),
            std::string::npos)
      << d.error().message;
  in.counts = {{"blast", 2'000'000'000}};  // would overflow the sums
  EXPECT_FALSE(compute_differential(t, in));
  in.counts = {};
  in.unreviewed = -3;
  EXPECT_FALSE(compute_differential(t, in));
  in.unreviewed = 0;
  in.count_target = 0;
  EXPECT_FALSE(compute_differential(t, in));
  in.count_target.reset();
  in.confidence = 1.5;
  EXPECT_FALSE(compute_differential(t, in));
}

TEST(Differential, JsonCarriesRowsRatiosAndBlastsAndReadsBack) {
  const Differential d =
      differential_of(shipped_taxonomy("marrow"), normal_marrow_counts(), Specimen::kBoneMarrow, 4);
  const Json j = differential_to_json(d);
  EXPECT_EQ(j["specimen"], "bone_marrow");
  EXPECT_EQ(j["rows"].size(), 19u);
  EXPECT_EQ(j["rows"][0]["id"], "blast");
  EXPECT_EQ(j["rows"][0]["names"]["zh"], "原始细胞");
  EXPECT_EQ(j["rows"][7]["flag"], "high");  // eosinophils
  EXPECT_EQ(j["rows"][16]["id"], "smudge");
  EXPECT_TRUE(j["rows"][16]["percent"].is_null());
  EXPECT_EQ(j["me_ratio"]["display"], "3.00:1");
  EXPECT_EQ(j["blasts"]["method"], "wilson");
  EXPECT_NEAR(j["blasts"]["interval"]["low"].get<double>(), 0.010899, 1e-5);
  EXPECT_EQ(j["unreviewed"], 4);
  const Differential back = *differential_from_json(j, "snapshot");
  EXPECT_EQ(differential_to_json(back), j);
  EXPECT_EQ(back.row("eosinophil")->flag, RangeFlag::kHigh);
  EXPECT_DOUBLE_EQ(back.blasts.interval->high, d.blasts.interval->high);
}

TEST(Differential, SnapshotErrorsNameThePath) {
  Json j =
      differential_to_json(differential_of(shipped_taxonomy("marrow"), normal_marrow_counts()));
  j["rows"][2]["flag"] = "very_high";
  auto d = differential_from_json(j, "snapshot");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("snapshot:$.rows[2].flag"), std::string::npos)
      << d.error().message;
  j = differential_to_json(differential_of(shipped_taxonomy("marrow"), normal_marrow_counts()));
  j["decimals"] = 1000000;
  d = differential_from_json(j, "snapshot");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("$.decimals"), std::string::npos);
}

}  // namespace
}  // namespace ms
