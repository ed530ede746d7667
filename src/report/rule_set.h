#pragma once
// Morphology-only diagnostic suggestions from a differential under three rule sets (FAB, WHO
// 2022, ICC 2022; ../shared/docs/DOMAIN.md). Each suggestion names the rule set and the rule that
// applied (or says that none did, or that the rule set does not apply to the specimen), the
// numbers it used, and the disclaimer that a diagnosis needs genetics and clinical data.
// Thresholds compare exact percentages (100 * count / denominator), not the rounded display.
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "report/differential.h"
#include "report/taxonomy.h"

namespace ms {

enum class RuleSet { kFab, kWho2022, kIcc2022 };
const std::vector<std::pair<RuleSet, std::string>>& enum_names(RuleSet);  // fab|who2022|icc2022
std::string rule_set_title(RuleSet r);  // "FAB", "WHO 2022", "ICC 2022"

struct SuggestionNumber {
  std::string name;  // e.g. "blast_percent_of_nucleated"
  double value = 0;
  std::string unit;  // "%" or "cells"
  template <class V>
  void visit(V& v) {
    v("name", name);
    v("value", value);
    v("unit", unit);
  }
};

struct Suggestion {
  RuleSet rule_set = RuleSet::kFab;
  Specimen specimen = Specimen::kBoneMarrow;
  // "<set>.<rule>": fab.m3, fab.m6, fab.acute_leukaemia, fab.none, fab.not_applicable,
  // who2022.aml, who2022.mds_ib2, who2022.mds_ib1, who2022.none,
  // icc2022.aml, icc2022.mds_aml, icc2022.mds_eb, icc2022.none; "<set>.no_cells" before counting.
  std::string rule_id;
  bool criterion_met = false;  // false for none / not_applicable / no_cells
  DisplayNames text;
  std::vector<SuggestionNumber> numbers;
  DisplayNames disclaimer;
  template <class V>
  void visit(V& v) {
    v("rule_set", rule_set);
    v("specimen", specimen);
    v("rule_id", rule_id);
    v("criterion_met", criterion_met);
    v("text", text);
    v("numbers", numbers);
    v("disclaimer", disclaimer);
  }
};

// The morphology-only disclaimer carried by every suggestion.
const DisplayNames& morphology_disclaimer();

// FAB (Bennett et al., Ann Intern Med 1985;103:620), bone marrow only, in this order:
// M3 when abnormal promyelocytes >= 30 % of nucleated cells; M6 when erythroid cells >= 50 % of
// nucleated cells and blasts >= 30 % of non-erythroid cells; acute leukaemia when blasts >= 30 %
// of nucleated cells; otherwise no FAB criterion met.
Suggestion suggest_fab(const Differential& d);
// WHO 2022 (Khoury et al., Leukemia 2022;36:1703): AML >= 20 % blasts (marrow or blood);
// MDS-IB2 10-19 % marrow (5-19 % blood); MDS-IB1 5-9 % marrow (2-4 % blood).
Suggestion suggest_who2022(const Differential& d);
// ICC 2022 (Arber et al., Blood 2022;140:1200): AML >= 20 %; MDS/AML 10-19 % (marrow or blood);
// MDS-EB 5-9 % marrow (2-9 % blood).
Suggestion suggest_icc2022(const Differential& d);

Suggestion suggest(RuleSet rule_set, const Differential& d);
std::vector<Suggestion> suggest_all(const Differential& d);  // FAB, WHO 2022, ICC 2022

// The Suggestion's fields plus "rule_set_title" ("WHO 2022") for display.
Json suggestion_to_json(const Suggestion& s);

// Shared by the rule-set files: a suggestion with the disclaimer and specimen filled in, and the
// "nothing counted yet" answer.
Suggestion make_suggestion(RuleSet rule_set, const Differential& d, std::string rule, bool met,
                           DisplayNames text);
Suggestion no_cells_suggestion(RuleSet rule_set, const Differential& d);
// When d.blasts.assessed is false (blasts are named only by reviewers and none was): says the
// blast percentage was not assessed, never that a criterion was not met.
Suggestion blasts_not_assessed_suggestion(RuleSet rule_set, const Differential& d);
bool blasts_not_assessed(const Suggestion& s);  // s is such a suggestion
std::string format_percent_for_rule(double percent);  // one decimal, e.g. "29.8"

// One row of a blast-threshold table (WHO 2022, ICC 2022): applies when the blast percentage is
// >= min_percent and below the previous (higher) row's min_percent. Texts are fmt patterns whose
// {0} is the blast percentage with one decimal.
struct BlastTier {
  double min_percent = 0;
  std::string rule;  // "aml", "mds_ib1", ...
  DisplayNames text;
};
// Picks the first tier (ordered by descending min_percent) that the blast percentage reaches;
// none_text when none does.
Suggestion suggest_by_blast_tiers(RuleSet rule_set, const Differential& d,
                                  const std::vector<BlastTier>& tiers,
                                  const DisplayNames& none_text);

}  // namespace ms
