// FAB classification of acute leukaemia (Bennett et al., Br J Haematol 1976;33:451 and Ann Intern
// Med 1985;103:620): the thesis's rule set (ch. 6). Defined on bone-marrow counts.
#include <fmt/format.h>

#include "report/rule_set.h"

namespace ms {

namespace {
constexpr double kBlastThreshold = 30;              // % of nucleated cells: acute leukaemia
constexpr double kPromyelocyteThreshold = 30;       // % abnormal promyelocytes: M3
constexpr double kErythroidThreshold = 50;          // % erythroid of nucleated cells: M6 ...
constexpr double kNonErythroidBlastThreshold = 30;  // ... with blasts >= 30 % of non-erythroid
}  // namespace

Suggestion suggest_fab(const Differential& d) {
  if (d.specimen != Specimen::kBoneMarrow)
    return make_suggestion(
        RuleSet::kFab, d, "not_applicable", false,
        {"FAB criteria are defined on bone-marrow counts; marrow criteria do not apply to a "
         "peripheral-blood count.",
         "FAB 标准基于骨髓计数；骨髓标准不适用于外周血计数。"});
  if (d.total_nucleated == 0) return no_cells_suggestion(RuleSet::kFab, d);

  const double blasts = *d.blast_percent_of_nucleated;
  const std::optional<double> promyelocytes = d.abnormal_promyelocyte_percent;
  const double erythroid = *d.erythroid_percent;
  // With no non-erythroid cell at all, the blasts-of-non-erythroid share is undefined; 0 keeps
  // M6 (which needs blasts) from firing.
  const double blasts_non_erythroid = d.blast_percent_of_non_erythroid.value_or(0);
  const auto pct = format_percent_for_rule;

  Suggestion s;
  if (promyelocytes && *promyelocytes >= kPromyelocyteThreshold) {
    s = make_suggestion(
        RuleSet::kFab, d, "m3", true,
        {fmt::format("FAB M3 (acute promyelocytic leukaemia) suggested: abnormal promyelocytes "
                     "{} % of nucleated cells (>= 30 %).",
                     pct(*promyelocytes)),
         fmt::format("提示 FAB M3（急性早幼粒细胞白血病）：异常早幼粒细胞占有核细胞 {}%（≥30%）。",
                     pct(*promyelocytes))});
  } else if (!d.blasts.assessed) {
    // M6 and acute leukaemia both need the blast count; M3 above does not.
    s = blasts_not_assessed_suggestion(RuleSet::kFab, d);
  } else if (erythroid >= kErythroidThreshold &&
             blasts_non_erythroid >= kNonErythroidBlastThreshold) {
    s = make_suggestion(
        RuleSet::kFab, d, "m6", true,
        {fmt::format("FAB M6 (erythroleukaemia) suggested: erythroid cells {} % of nucleated "
                     "cells (>= 50 %) and blasts {} % of non-erythroid cells (>= 30 %).",
                     pct(erythroid), pct(blasts_non_erythroid)),
         fmt::format(
             "提示 FAB M6（红白血病）：红系细胞占有核细胞 {}%（≥50%），原始细胞占非红系细胞 "
             "{}%（≥30%）。",
             pct(erythroid), pct(blasts_non_erythroid))});
  } else if (blasts >= kBlastThreshold) {
    s = make_suggestion(
        RuleSet::kFab, d, "acute_leukaemia", true,
        {fmt::format("FAB acute leukaemia suggested: blasts {} % of nucleated cells (>= 30 %); "
                     "ALL or AML subtype (M0-M7) needs typing of the blasts.",
                     pct(blasts)),
         fmt::format("提示 FAB 急性白血病：原始细胞占有核细胞 {}%（≥30%）；ALL 或 AML 亚型（M0–M7）"
                     "需进一步鉴定原始细胞类型。",
                     pct(blasts))});
  } else {
    // Say where each criterion stands; the erythroid share may pass while M6's blasts do not.
    auto cmp_en = [](double v, double t) { return v >= t ? ">=" : "<"; };
    auto cmp_zh = [](double v, double t) { return v >= t ? "≥" : "<"; };
    std::string en = fmt::format(
        "No FAB criterion met: blasts {} % of nucleated cells (< 30 %); erythroid cells {} % "
        "({} 50 %) with blasts {} % of non-erythroid cells ({} 30 %); ",
        pct(blasts), pct(erythroid), cmp_en(erythroid, kErythroidThreshold),
        pct(blasts_non_erythroid), cmp_en(blasts_non_erythroid, kNonErythroidBlastThreshold));
    std::string zh = fmt::format(
        "未达到任何 FAB 标准：原始细胞占有核细胞 {}%（<30%）；红系细胞 {}%（{}50%），原始细胞占"
        "非红系细胞 {}%（{}30%）；",
        pct(blasts), pct(erythroid), cmp_zh(erythroid, kErythroidThreshold),
        pct(blasts_non_erythroid), cmp_zh(blasts_non_erythroid, kNonErythroidBlastThreshold));
    if (promyelocytes) {
      en += fmt::format("abnormal promyelocytes {} % (< 30 %).", pct(*promyelocytes));
      zh += fmt::format("异常早幼粒细胞 {}%（<30%）。", pct(*promyelocytes));
    } else {
      en += "this taxonomy has no abnormal-promyelocyte class, so M3 was not evaluated.";
      zh += "本分类体系未区分异常早幼粒细胞，未评估 M3。";
    }
    s = make_suggestion(RuleSet::kFab, d, "none", false, {en, zh});
  }
  s.numbers = {{"blast_percent_of_nucleated", blasts, "%"},
               {"erythroid_percent", erythroid, "%"},
               {"blast_percent_of_non_erythroid", blasts_non_erythroid, "%"},
               {"nucleated_cells", static_cast<double>(d.total_nucleated), "cells"},
               {"non_erythroid_cells", static_cast<double>(d.total_wbc), "cells"}};
  if (promyelocytes) s.numbers.push_back({"abnormal_promyelocyte_percent", *promyelocytes, "%"});
  return s;
}

}  // namespace ms
