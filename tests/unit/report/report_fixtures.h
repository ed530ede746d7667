#pragma once
// Shared helpers for the report tests: the shipped taxonomies and hand-made count sets.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "report/differential.h"
#include "report/taxonomy.h"

namespace ms::test {

inline Taxonomy shipped_taxonomy(const std::string& name) {
  auto t =
      load_taxonomy(std::string(MARROWSCOPE_SOURCE_DIR) + "/configs/taxonomy/" + name + ".json");
  if (!t) throw MarrowError(t.error());
  return *t;
}

inline Differential differential_of(const Taxonomy& t, std::map<std::string, int> counts,
                                    Specimen specimen = Specimen::kBoneMarrow, int unreviewed = 0) {
  DifferentialInput in;
  in.counts = std::move(counts);
  in.specimen = specimen;
  in.unreviewed = unreviewed;
  auto d = compute_differential(t, in);
  if (!d) throw MarrowError(d.error());
  return *d;
}

// A 500-cell marrow count in the marrow taxonomy (hand-made), all in range but eosinophils:
// myeloid side (blast..eosinophil, no monocytes) 10+20+25+35+60+110+40 = 300, erythroblasts 100
// -> M:E 3.00:1; immature (blast..metamyelocyte) 90, mature (band + segmented) 170 -> I:Mg 0.53.
// Counted: 300 + monocytes 15 + lymphocytes 80 + plasma cells 5 + erythroblasts 100 = 500;
// 7 smudge cells are excluded.
inline std::map<std::string, int> normal_marrow_counts() {
  return {{"blast", 10},         {"promyelocyte", 20},    {"myelocyte", 25},
          {"metamyelocyte", 35}, {"band_neutrophil", 60}, {"segmented_neutrophil", 110},
          {"eosinophil", 40},    {"monocyte", 15},        {"lymphocyte", 80},
          {"plasma_cell", 5},    {"erythroblast", 100},   {"other", 0},
          {"smudge", 7}};
}

// A marrow differential as the server computes it with the shipped PBC classifier: the marrow
// taxonomy's classes the classifier cannot name (blast, plasma cell, ...) are review-only.
inline Differential with_pbc_classifier(std::map<std::string, int> counts, int unreviewed) {
  DifferentialInput in;
  in.counts = std::move(counts);
  in.specimen = Specimen::kBoneMarrow;
  in.unreviewed = unreviewed;
  in.classifier_classes = std::set<std::string>{
      "band_neutrophil", "basophil", "eosinophil", "erythroblast", "lymphocyte", "metamyelocyte",
      "monocyte", "myelocyte", "platelet", "promyelocyte", "segmented_neutrophil"};
  auto d = compute_differential(shipped_taxonomy("marrow"), in);
  EXPECT_TRUE(d) << d.error().message;
  return *d;
}

}  // namespace ms::test

#include "report/report_data.h"
#include "report/rule_set.h"

namespace ms::test {

// A marrow report for patient P-001 with the normal counts, 3 unreviewed cells, not signed.
inline ReportData sample_report() {
  ReportData r;
  r.report_id = "S-2026-0042-v1";
  r.patient = {"P-001", "Zhang Wei", "M", "1970-05-01"};
  r.sample = {"S-2026-0042", "posterior iliac crest", "adequate, particulate", "2026-11-20"};
  r.differential =
      differential_of(shipped_taxonomy("marrow"), normal_marrow_counts(), Specimen::kBoneMarrow, 3);
  r.suggestions = suggest_all(r.differential);
  r.comments = "Mild eosinophilia.";
  r.reviewer = "Dr. Li";
  r.generated_at = "2026-11-25T09:30:00Z";
  return r;
}

inline ReportData signed_report() {
  ReportData r = sample_report();
  r.differential.unreviewed = 0;
  r.sign_off = SignOff{"Dr. Li", "2026-11-25T10:00:00+08:00", "sha256:abc123", ""};
  return r;
}

}  // namespace ms::test
