// International Consensus Classification 2022 (Arber et al., Blood 2022;140:1200-1228). Blast
// percentages: of all nucleated marrow cells, or of white cells in blood.
#include "report/rule_set.h"

namespace ms {

Suggestion suggest_icc2022(const Differential& d) {
  const bool marrow = d.specimen == Specimen::kBoneMarrow;
  const std::string where_en = marrow ? "Marrow" : "Blood";
  const std::string where_zh = marrow ? "骨髓" : "外周血";
  const std::string blood_note_en =
      marrow ? ""
             : " Marrow criteria do not apply to a blood count; a marrow examination is needed.";
  const std::string blood_note_zh = marrow ? "" : "骨髓标准不适用于外周血计数，需行骨髓检查。";
  // ICC 2022 uses the same AML and MDS/AML thresholds in marrow and blood; MDS-EB starts at 5 %
  // in marrow and 2 % in blood.
  return suggest_by_blast_tiers(
      RuleSet::kIcc2022, d,
      {{20,
        "aml",
        {where_en +
             " blasts {0} % (>= 20 %): consistent with acute myeloid leukaemia (ICC 2022) "
             "if the blasts are myeloid." +
             blood_note_en,
         where_zh + "原始细胞 {0}%（≥20%）：若为髓系原始细胞，符合急性髓系白血病（ICC 2022）。" +
             blood_note_zh}},
       {10,
        "mds_aml",
        {where_en +
             " blasts {0} % (10-19 %): consistent with MDS/AML (ICC 2022); with an "
             "AML-defining recurrent genetic abnormality, >= 10 % blasts is AML, which "
             "morphology cannot see." +
             blood_note_en,
         where_zh +
             "原始细胞 {0}%（10%–19%）：符合 MDS/AML（ICC 2022）；若存在 AML 定义性重现性"
             "遗传学异常，原始细胞 ≥10% 即为 AML，形态学无法识别。" +
             blood_note_zh}},
       {marrow ? 5.0 : 2.0,
        "mds_eb",
        {where_en + (marrow ? " blasts {0} % (5-9 %)" : " blasts {0} % (2-9 %)") +
             ": consistent with MDS with excess blasts (MDS-EB, ICC 2022) in the presence of "
             "cytopenia." +
             blood_note_en,
         where_zh + (marrow ? "原始细胞 {0}%（5%–9%）" : "原始细胞 {0}%（2%–9%）") +
             "：在存在血细胞减少时，符合 MDS 伴原始细胞过多（MDS-EB，ICC 2022）。" +
             blood_note_zh}}},
      {where_en + " blasts {0} % (< " + (marrow ? "5" : "2") +
           " %): no ICC 2022 blast criterion met." + blood_note_en,
       where_zh + "原始细胞 {0}%（<" + (marrow ? "5" : "2") +
           "%）：未达到 ICC 2022 原始细胞标准。" + blood_note_zh});
}

}  // namespace ms
