#pragma once
// The differential count of one sample: per-class counts (reviewed labels where present) become
// rows in hematology order with percentages, reference-range flags, the M:E and I:Mg ratios, the
// blast percentage with a binomial confidence interval, and progress toward the count target
// (../shared/docs/DOMAIN.md). The result is self-contained (names and ranges copied out of the
// taxonomy) so a report can be rendered or exported from it alone.
//
// Denominators:
//  - bone marrow: all counted (nucleated) cells; excluded classes (platelets, smudge cells,
//    artefacts) are shown with their count and no percentage.
//  - peripheral blood: white cells, i.e. counted non-erythroid cells; nucleated red cells are
//    reported per 100 WBC instead of as a percentage (ICSH convention).
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "report/binomial_interval.h"
#include "report/taxonomy.h"

namespace ms {

enum class RangeFlag { kNone, kNormal, kLow, kHigh };  // kNone: no reference range configured
const std::vector<std::pair<RangeFlag, std::string>>& enum_names(RangeFlag);

struct DifferentialInput {
  std::map<std::string, int> counts;  // class id -> cells; absent classes count 0
  Specimen specimen = Specimen::kBoneMarrow;
  int unreviewed = 0;               // cells whose label is still the model's suggestion
  std::optional<int> count_target;  // default: the taxonomy's profile for the specimen
  IntervalMethod interval_method = IntervalMethod::kWilson;
  double confidence = 0.95;
  // The classes the classifier can name. Set: taxonomy classes outside it are review-only (a cell
  // is counted in them only when a reviewer names it), and a blast count of 0 is an observation
  // only when the classifier names blasts or the count was reviewed. Unset: nothing is marked.
  std::optional<std::set<std::string>> classifier_classes;
  // ICSH 2015 (Palmer et al., Int J Lab Hematol 2015;37:287): band and segmented neutrophils
  // reported together as one "neutrophil" row; a per-lab choice.
  bool combine_neutrophils = false;
};

struct DifferentialRow {
  std::string id;
  DisplayNames names;
  std::string colour;
  Lineage lineage = Lineage::kOther;
  int count = 0;
  bool counted = true;  // false: shown, kept out of every denominator
  // Percent of the denominator (nucleated cells in marrow, WBC in blood); empty for excluded
  // classes, for nucleated red cells in blood, and when nothing has been counted.
  std::optional<double> percent;
  std::optional<double> per_100_wbc;  // nucleated red cells in peripheral blood only
  std::string display;  // the value as printed, with the display precision rule applied
  std::optional<ReferenceRange> range;
  RangeFlag flag = RangeFlag::kNone;
  // A class the classifier cannot name: its cells were all named by a reviewer.
  bool review_only = false;
  template <class V>
  void visit(V& v) {
    v("id", id);
    v("names", names);
    v("colour", colour);
    v("lineage", lineage);
    v("count", count);
    v("counted", counted);
    v("review_only", review_only);
    v("percent", percent);
    v("per_100_wbc", per_100_wbc);
    v("display", display);
    v("range", range);
    v("flag", flag);
  }
};

// numerator : denominator, reported as value = numerator / denominator (X in "X:1").
struct CountRatio {
  int numerator = 0;
  int denominator = 0;
  std::optional<double> value;  // empty when the denominator is 0
  std::string display;          // "3.20:1", or "n/a" when undefined
  std::optional<ReferenceRange> range;
  RangeFlag flag = RangeFlag::kNone;
  template <class V>
  void visit(V& v) {
    v("numerator", numerator);
    v("denominator", denominator);
    v("value", value);
    v("display", display);
    v("range", range);
    v("flag", flag);
  }
};

struct BlastSummary {
  int count = 0;                               // blasts and configured blast equivalents
  std::optional<double> percent;               // of the differential's denominator
  std::optional<ProportionInterval> interval;  // fractions in [0, 1]
  IntervalMethod method = IntervalMethod::kWilson;
  double confidence = 0.95;
  std::string display;  // "5 % (95% CI 2.2-11.2 %)"
  // False when no blast could have been counted except by a reviewer and none was: the classifier
  // names no blast class, no cell was reviewed as a blast and some cells are still the model's
  // suggestion. The rule sets then say the blast percentage was not assessed.
  bool assessed = true;
  template <class V>
  void visit(V& v) {
    v("count", count);
    v("assessed", assessed);
    v("percent", percent);
    v("interval", interval);
    v("method", method);
    v("confidence", confidence);
    v("display", display);
  }
};

struct CountProgress {
  int counted = 0;  // cells in the denominator so far
  int target = 0;
  double fraction = 0;  // counted / target, may exceed 1
  bool reached = false;
  template <class V>
  void visit(V& v) {
    v("counted", counted);
    v("target", target);
    v("fraction", fraction);
    v("reached", reached);
  }
};

struct Differential {
  Specimen specimen = Specimen::kBoneMarrow;
  std::string taxonomy;               // the taxonomy's name
  std::vector<DifferentialRow> rows;  // hematology order
  int total_nucleated = 0;            // counted cells (erythroid included)
  int total_wbc = 0;                  // counted non-erythroid cells
  int total_excluded = 0;             // platelets, smudge cells, artefacts
  int denominator = 0;                // total_nucleated in marrow, total_wbc in blood
  int decimals = 0;                   // display precision: 0 under 1000 cells, 1 otherwise
  int erythroid = 0;
  int abnormal_promyelocytes = 0;
  std::optional<double> erythroid_percent;  // of all nucleated cells (FAB M6)
  // Whether the taxonomy has an abnormal-promyelocyte class at all; without one FAB M3 cannot be
  // evaluated and abnormal_promyelocyte_percent stays empty.
  bool distinguishes_abnormal_promyelocytes = false;
  std::optional<double> abnormal_promyelocyte_percent;  // of all nucleated cells (FAB M3)
  // Blasts over non-erythroid nucleated cells (FAB M6's second denominator).
  std::optional<double> blast_percent_of_non_erythroid;
  std::optional<double> blast_percent_of_nucleated;
  std::optional<CountRatio> me_ratio;  // bone marrow only
  CountRatio i_mg_ratio;
  BlastSummary blasts;
  CountProgress progress;
  int unreviewed = 0;
  bool neutrophils_combined = false;  // one "neutrophil" row for bands + segmented (ICSH 2015)
  bool is_final_count() const { return unreviewed == 0 && denominator > 0; }
  const DifferentialRow* row(const std::string& id) const;  // nullptr when absent
  template <class V>
  void visit(V& v) {
    v("specimen", specimen);
    v("taxonomy", taxonomy);
    v("rows", rows);
    v("total_nucleated", total_nucleated);
    v("total_wbc", total_wbc);
    v("total_excluded", total_excluded);
    v("denominator", denominator);
    v("decimals", decimals);
    v("erythroid", erythroid);
    v("abnormal_promyelocytes", abnormal_promyelocytes);
    v("erythroid_percent", erythroid_percent);
    v("distinguishes_abnormal_promyelocytes", distinguishes_abnormal_promyelocytes);
    v("abnormal_promyelocyte_percent", abnormal_promyelocyte_percent);
    v("blast_percent_of_non_erythroid", blast_percent_of_non_erythroid);
    v("blast_percent_of_nucleated", blast_percent_of_nucleated);
    v("me_ratio", me_ratio);
    v("i_mg_ratio", i_mg_ratio);
    v("blasts", blasts);
    v("progress", progress);
    v("unreviewed", unreviewed);
    v("neutrophils_combined", neutrophils_combined);
  }
};

// Builds the differential. Errors (input, naming it): a count for a class the taxonomy does not
// know, a count or unreviewed number outside [0, 10,000,000], a non-positive count target, a
// confidence outside (0, 1). Zero counted cells is not an error: percentages and ratios are then empty.
Result<Differential> compute_differential(const Taxonomy& taxonomy, const DifferentialInput& input);

// Display precision rule (DOMAIN.md): no decimals when fewer than 1000 cells were counted, one
// decimal otherwise. Rounds half away from zero.
int display_decimals(int cells_counted);
double round_to(double value, int decimals);
std::string format_fixed(double value, int decimals);  // round_to, then fixed notation

// JSON for the API, the CLI and the web app (the differential table component), field for field
// as above (interval bounds as fractions); differential_from_json reads it back (a stored
// snapshot), with errors naming the JSON path.
Json differential_to_json(const Differential& d);
Result<Differential> differential_from_json(const Json& j, const std::string& source);
// What differential_from_json checks beyond types: decimals in 0..3, no negative counts.
Status validate_differential_snapshot(const Differential& d, const std::string& path);

}  // namespace ms
