#include "report/rule_set.h"

#include <fmt/format.h>

#include <algorithm>

namespace ms {

const std::vector<std::pair<RuleSet, std::string>>& enum_names(RuleSet) {
  static const std::vector<std::pair<RuleSet, std::string>> names{
      {RuleSet::kFab, "fab"}, {RuleSet::kWho2022, "who2022"}, {RuleSet::kIcc2022, "icc2022"}};
  return names;
}

std::string rule_set_title(RuleSet r) {
  switch (r) {
    case RuleSet::kFab:
      return "FAB";
    case RuleSet::kWho2022:
      return "WHO 2022";
    case RuleSet::kIcc2022:
      return "ICC 2022";
  }
  throw MarrowError(ErrorCode::kInternal, "rule_set_title: unnamed RuleSet value");
}

const DisplayNames& morphology_disclaimer() {
  static const DisplayNames text{
      "Suggestion based on cell morphology only. A diagnosis requires genetics, "
      "immunophenotyping and clinical data, and the judgement of a qualified physician.",
      "本建议仅依据细胞形态学。诊断须结合遗传学、免疫表型及临床资料，并由具备资质的医师判断。"};
  return text;
}

std::string format_percent_for_rule(double percent) { return format_fixed(percent, 1); }

Suggestion make_suggestion(RuleSet rule_set, const Differential& d, std::string rule, bool met,
                           DisplayNames text) {
  Suggestion s;
  s.rule_set = rule_set;
  s.specimen = d.specimen;
  s.rule_id = config_to_json(rule_set).get<std::string>() + "." + rule;
  s.criterion_met = met;
  s.text = std::move(text);
  s.disclaimer = morphology_disclaimer();
  return s;
}

Suggestion no_cells_suggestion(RuleSet rule_set, const Differential& d) {
  const std::string title = rule_set_title(rule_set);
  return make_suggestion(rule_set, d, "no_cells", false,
                         {"No cells counted yet; no " + title + " criterion was evaluated.",
                          "尚未计数细胞，未评估任何 " + title + " 标准。"});
}

Suggestion blasts_not_assessed_suggestion(RuleSet rule_set, const Differential& d) {
  const std::string title = rule_set_title(rule_set);
  return make_suggestion(
      rule_set, d, "blasts_not_assessed", false,
      {"Blast percentage not assessed automatically: blasts are counted only on review (the "
       "classifier does not name blasts and no cell has been reviewed as one); no " + title +
           " blast criterion was evaluated.",
       "原始细胞比例未自动评估：原始细胞仅在人工审核时计数（分类模型不能识别原始细胞，且尚无细胞"
       "被审核为原始细胞）；未评估 " + title + " 原始细胞标准。"});
}

bool blasts_not_assessed(const Suggestion& s) {
  const std::string tail = ".blasts_not_assessed";
  return s.rule_id.size() > tail.size() && s.rule_id.compare(s.rule_id.size() - tail.size(), tail.size(), tail) == 0;
}

Suggestion suggest_by_blast_tiers(RuleSet rule_set, const Differential& d,
                                  const std::vector<BlastTier>& tiers,
                                  const DisplayNames& none_text) {
  if (!d.blasts.percent) return no_cells_suggestion(rule_set, d);
  if (!d.blasts.assessed) return blasts_not_assessed_suggestion(rule_set, d);
  const double blasts = *d.blasts.percent;
  const std::string shown = format_percent_for_rule(blasts);
  auto render = [&](const DisplayNames& t) {
    return DisplayNames{fmt::format(fmt::runtime(t.en), shown),
                        fmt::format(fmt::runtime(t.zh), shown)};
  };
  Suggestion s;
  auto tier = std::find_if(tiers.begin(), tiers.end(),
                           [&](const BlastTier& t) { return blasts >= t.min_percent; });
  if (tier != tiers.end())
    s = make_suggestion(rule_set, d, tier->rule, true, render(tier->text));
  else
    s = make_suggestion(rule_set, d, "none", false, render(none_text));
  const bool blood = d.specimen == Specimen::kPeripheralBlood;
  s.numbers = {{blood ? "blast_percent_of_wbc" : "blast_percent_of_nucleated", blasts, "%"},
               {"blasts", static_cast<double>(d.blasts.count), "cells"},
               {blood ? "wbc" : "nucleated_cells", static_cast<double>(d.denominator), "cells"}};
  return s;
}

Suggestion suggest(RuleSet rule_set, const Differential& d) {
  switch (rule_set) {
    case RuleSet::kFab:
      return suggest_fab(d);
    case RuleSet::kWho2022:
      return suggest_who2022(d);
    case RuleSet::kIcc2022:
      return suggest_icc2022(d);
  }
  throw MarrowError(ErrorCode::kInternal, "suggest: unnamed RuleSet value");
}

std::vector<Suggestion> suggest_all(const Differential& d) {
  return {suggest_fab(d), suggest_who2022(d), suggest_icc2022(d)};
}

Json suggestion_to_json(const Suggestion& s) {
  Json j = config_to_json(s);
  j["rule_set_title"] = rule_set_title(s.rule_set);
  return j;
}

}  // namespace ms
