#pragma once
// The lab's cell taxonomies, read once at start: one for bone-marrow samples (default
// configs/taxonomy/marrow.json, the marrow vocabulary) and one for peripheral blood (default
// configs/taxonomy/pbc11.json), with the classifier's class list beside them. A class of a
// taxonomy the classifier cannot name is review-only: its cells are counted only when a reviewer
// names them. The server does not start when a classifier class is missing from either taxonomy,
// since such cells could never be counted or signed.
//
// Environment (read by load_lab_taxonomies):
//   MARROWSCOPE_TAXONOMY             peripheral-blood taxonomy file
//   MARROWSCOPE_MARROW_TAXONOMY      bone-marrow taxonomy file
//   MARROWSCOPE_COMBINE_NEUTROPHILS  1|true: band + segmented neutrophils as one row (ICSH 2015)
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "report/differential.h"
#include "report/taxonomy.h"
#include "store/records.h"

namespace ms::server {

struct LabTaxonomies {
  std::string blood_path, marrow_path;
  Taxonomy blood, marrow;
  // The classifier's classes; empty optional when the server has no classifier (nothing is
  // review-only then and blasts count as assessed, as before a classifier was known).
  std::optional<std::vector<std::string>> classifier_classes;
  bool combine_neutrophils = false;

  const Taxonomy& for_specimen(store::Specimen s) const;
  const std::string& path_for(store::Specimen s) const;
  // A differential input for a sample of specimen s, with the classifier's classes and the lab's
  // neutrophil option set; the caller adds the counts.
  DifferentialInput input_for(store::Specimen s) const;
  // Every class id a reviewer may choose in any sample: both taxonomies and the classifier.
  std::vector<std::string> all_class_ids() const;
};

Specimen report_specimen(store::Specimen s);

// Loads both taxonomies (paths from the environment, else the shipped files), reads the neutrophil
// option, and checks that every class of `classifier_classes` is in each taxonomy. Errors name the
// file or variable and what was wrong.
Result<std::shared_ptr<const LabTaxonomies>> load_lab_taxonomies(
    std::optional<std::vector<std::string>> classifier_classes);

}  // namespace ms::server
