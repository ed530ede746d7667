// WHO 2022, 5th edition (Khoury et al., Leukemia 2022;36:1703-1719). Blast percentages: of all
// nucleated marrow cells, or of white cells in blood. Most genetically defined AML types have no
// blast cut-off; morphology cannot see them, which the texts say.
#include "report/rule_set.h"

namespace ms {

Suggestion suggest_who2022(const Differential& d) {
  const DisplayNames aml{
      "Blasts {0} % (>= 20 %): consistent with acute myeloid leukaemia (WHO 2022) if the blasts "
      "are myeloid. AML with defining genetic abnormalities needs no blast cut-off and cannot be "
      "recognised by morphology.",
      "原始细胞 {0}%（≥20%）：若为髓系原始细胞，符合急性髓系白血病（WHO 2022）。具有特定遗传学"
      "异常的 AML 无原始细胞比例下限，无法仅凭形态学识别。"};
  if (d.specimen == Specimen::kBoneMarrow) {
    return suggest_by_blast_tiers(
        RuleSet::kWho2022, d,
        {{20, "aml", aml},
         {10,
          "mds_ib2",
          {"Marrow blasts {0} % (10-19 %): consistent with MDS with increased blasts 2 (MDS-IB2, "
           "WHO 2022) in the presence of cytopenia and after AML-defining genetics are excluded.",
           "骨髓原始细胞 {0}%（10%–19%）：在存在血细胞减少且排除 AML 定义性遗传学异常后，符合 MDS "
           "伴原始细胞增多 2 型（MDS-IB2，WHO 2022）。"}},
         {5,
          "mds_ib1",
          {"Marrow blasts {0} % (5-9 %): consistent with MDS with increased blasts 1 (MDS-IB1, "
           "WHO 2022) in the presence of cytopenia.",
           "骨髓原始细胞 {0}%（5%–9%）：在存在血细胞减少时，符合 MDS 伴原始细胞增多 1 型"
           "（MDS-IB1，WHO 2022）。"}}},
        {"No WHO 2022 blast criterion met: marrow blasts {0} % (< 5 %).",
         "未达到 WHO 2022 原始细胞标准：骨髓原始细胞 {0}%（<5%）。"});
  }
  // Blood: WHO 2022 gives its own MDS-IB thresholds; the marrow ones (5-9 %, 10-19 %) do not
  // apply to a blood count.
  return suggest_by_blast_tiers(
      RuleSet::kWho2022, d,
      {{20, "aml", aml},
       {5,
        "mds_ib2",
        {"Blood blasts {0} % (5-19 %): meets the peripheral-blood blast criterion of MDS-IB2 "
         "(WHO 2022); marrow criteria do not apply to a blood count; a marrow examination is "
         "needed.",
         "外周血原始细胞 {0}%（5%–19%）：达到 MDS-IB2 的外周血原始细胞标准（WHO 2022）；骨髓标准"
         "不适用于外周血计数，需行骨髓检查。"}},
       {2,
        "mds_ib1",
        {"Blood blasts {0} % (2-4 %): meets the peripheral-blood blast criterion of MDS-IB1 "
         "(WHO 2022); marrow criteria do not apply to a blood count; a marrow examination is "
         "needed.",
         "外周血原始细胞 {0}%（2%–4%）：达到 MDS-IB1 的外周血原始细胞标准（WHO 2022）；骨髓标准"
         "不适用于外周血计数，需行骨髓检查。"}}},
      {"No WHO 2022 blast criterion met: blood blasts {0} % (< 2 %); marrow criteria do not "
       "apply to a blood count.",
       "未达到 WHO 2022 原始细胞标准：外周血原始细胞 {0}%（<2%）；骨髓标准不适用于外周血计数。"});
}

}  // namespace ms
