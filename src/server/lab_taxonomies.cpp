#include "server/lab_taxonomies.h"

#include <cstdlib>
#include <set>
#include <tuple>

#include "core/paths.h"

namespace ms::server {

Specimen report_specimen(store::Specimen s) {
  return s == store::Specimen::kBoneMarrow ? Specimen::kBoneMarrow : Specimen::kPeripheralBlood;
}

const Taxonomy& LabTaxonomies::for_specimen(store::Specimen s) const {
  return s == store::Specimen::kBoneMarrow ? marrow : blood;
}

const std::string& LabTaxonomies::path_for(store::Specimen s) const {
  return s == store::Specimen::kBoneMarrow ? marrow_path : blood_path;
}

DifferentialInput LabTaxonomies::input_for(store::Specimen s) const {
  DifferentialInput in;
  in.specimen = report_specimen(s);
  if (classifier_classes) in.classifier_classes.emplace(classifier_classes->begin(), classifier_classes->end());
  in.combine_neutrophils = combine_neutrophils;
  return in;
}

std::vector<std::string> LabTaxonomies::all_class_ids() const {
  std::set<std::string> ids;
  for (const Taxonomy* t : {&blood, &marrow})
    for (const auto& c : t->classes) ids.insert(c.id);
  if (classifier_classes) ids.insert(classifier_classes->begin(), classifier_classes->end());
  return {ids.begin(), ids.end()};
}

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace

Result<std::shared_ptr<const LabTaxonomies>> load_lab_taxonomies(
    std::optional<std::vector<std::string>> classifier_classes) {
  auto t = std::make_shared<LabTaxonomies>();
  t->blood_path = env_or("MARROWSCOPE_TAXONOMY", config_path("taxonomy/pbc11.json"));
  t->marrow_path = env_or("MARROWSCOPE_MARROW_TAXONOMY", config_path("taxonomy/marrow.json"));
  const std::string combine = env_or("MARROWSCOPE_COMBINE_NEUTROPHILS", "0");
  if (combine == "1" || combine == "true") t->combine_neutrophils = true;
  else if (combine != "0" && combine != "false")
    return fail(ErrorCode::kInvalidArgument, "MARROWSCOPE_COMBINE_NEUTROPHILS", "1, true, 0 or false",
                "\"" + combine + "\"");
  for (auto [path, out, variable] : {std::tuple{&t->blood_path, &t->blood, "MARROWSCOPE_TAXONOMY"},
                                     std::tuple{&t->marrow_path, &t->marrow, "MARROWSCOPE_MARROW_TAXONOMY"}}) {
    auto loaded = load_taxonomy(*path);
    if (!loaded)
      return fail(loaded.error().code, "cell taxonomy (" + std::string(variable) + "): " + loaded.error().message);
    *out = std::move(*loaded);
    if (classifier_classes) {
      if (auto s = check_classifier_classes(*out, *classifier_classes, *path); !s)
        return fail(s.error().code, "the classifier does not fit the cell taxonomy (" + std::string(variable) +
                                        "): " + s.error().message);
    }
    if (t->combine_neutrophils && out->find("neutrophil") && out->find("band_neutrophil"))
      return fail(ErrorCode::kInvalidArgument, "MARROWSCOPE_COMBINE_NEUTROPHILS with taxonomy " + *path,
                  "a taxonomy without its own \"neutrophil\" class", "one");
  }
  t->classifier_classes = std::move(classifier_classes);
  return std::shared_ptr<const LabTaxonomies>(std::move(t));
}

}  // namespace ms::server
