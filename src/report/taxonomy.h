#pragma once
// The cell taxonomy as configuration: which classes exist, how they are named (English and
// Simplified Chinese), in which order a differential lists them, which lineage they belong to, and
// how each one enters the counts and ratios (../shared/docs/DOMAIN.md). Reference ranges and the
// count target live beside it, one profile per specimen type.
//
// The class list is data, not code: a lab may add classes (the Matek 2021 marrow set has 21), mark
// other blast equivalents, or put monocytes into the M:E numerator, by editing JSON.
// Shipped: configs/taxonomy/pbc11.json (the 11 PBC classes the models use) and
// configs/taxonomy/marrow.json (the thesis's 11 marrow classes, other/unclassifiable, smudge).
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace ms {

enum class Lineage { kMyeloid, kErythroid, kLymphoid, kMonocytic, kOther };
const std::vector<std::pair<Lineage, std::string>>& enum_names(Lineage);

// The role of a class in the I:Mg ratio (immature granulocytes, blasts to metamyelocytes, over
// mature granulocytes, bands and segmented neutrophils).
enum class MaturityRole { kNone, kImmature, kMature };
const std::vector<std::pair<MaturityRole, std::string>>& enum_names(MaturityRole);

enum class Specimen { kBoneMarrow, kPeripheralBlood };
const std::vector<std::pair<Specimen, std::string>>& enum_names(Specimen);
std::string specimen_name(Specimen s);  // "bone_marrow" | "peripheral_blood"
Result<Specimen> parse_specimen(const std::string& name);

struct DisplayNames {
  std::string en;
  std::string zh;  // Simplified Chinese
  template <class V>
  void visit(V& v) {
    v("en", en);
    v("zh", zh);
  }
};

struct CellClass {
  std::string id;  // snake_case, the label the models and the database use
  DisplayNames names;
  int order = 0;  // hematology reporting rank; rows sort by it (ties keep file order)
  Lineage lineage = Lineage::kOther;
  // In the nucleated-cell denominator. Platelets, smudge cells and artefacts are shown in the
  // differential but are not nucleated cells of the count (DOMAIN.md "Classes").
  bool counted = true;
  bool is_blast = false;                  // blast or blast equivalent (WHO: e.g. promonocytes)
  bool is_abnormal_promyelocyte = false;  // FAB M3 numerator (hypergranular promyelocytes)
  bool is_erythroid = false;     // nucleated red cell: M:E denominator, NRBC/100 WBC in blood
  bool in_me_numerator = false;  // myeloid side of M:E (definitions differ: configurable)
  MaturityRole maturity = MaturityRole::kNone;
  std::string colour = "#808080";  // "#rrggbb", for charts and the UI
  template <class V>
  void visit(V& v) {
    v("id", id);
    v("names", names);
    v("order", order);
    v("lineage", lineage);
    v("counted", counted);
    v("is_blast", is_blast);
    v("is_abnormal_promyelocyte", is_abnormal_promyelocyte);
    v("is_erythroid", is_erythroid);
    v("in_me_numerator", in_me_numerator);
    v("maturity", maturity);
    v("colour", colour);
  }
};

// A closed interval [low, high]. Units: percent for class rows, per 100 WBC for nucleated red
// cells in blood, a plain ratio (X in X:1) for M:E and I:Mg.
struct ReferenceRange {
  double low = 0;
  double high = 0;
  template <class V>
  void visit(V& v) {
    v("low", low);
    v("high", high);
  }
};

struct SpecimenProfile {
  int count_target = 500;  // ICSH 2008: 500 cells in marrow; 100-200 WBC in blood
  std::map<std::string, ReferenceRange> ranges;  // class id -> range
  std::optional<ReferenceRange> me_ratio;
  std::optional<ReferenceRange> i_mg_ratio;
  template <class V>
  void visit(V& v) {
    v("count_target", count_target);
    v("ranges", ranges);
    v("me_ratio", me_ratio);
    v("i_mg_ratio", i_mg_ratio);
  }
};

struct SpecimenProfiles {
  SpecimenProfile bone_marrow;
  SpecimenProfile peripheral_blood{200, {}, std::nullopt, std::nullopt};
  template <class V>
  void visit(V& v) {
    v("bone_marrow", bone_marrow);
    v("peripheral_blood", peripheral_blood);
  }
};

struct Taxonomy {
  std::string name;
  std::string description;
  std::vector<CellClass> classes;
  SpecimenProfiles specimens;
  template <class V>
  void visit(V& v) {
    v("name", name);
    v("description", description);
    v("classes", classes);
    v("specimens", specimens);
  }

  const CellClass* find(const std::string& id) const;  // nullptr when absent
  const SpecimenProfile& profile(Specimen s) const;
  // Indices into classes in reporting order (by order, ties in file order).
  std::vector<size_t> reporting_order() const;
};

// Checks what the JSON schema cannot: unique snake_case ids, non-empty names, colours, ranges
// naming known classes with 0 <= low <= high, coherent flags (an erythroid or blast class must
// be counted, an erythroid class cannot be on the M:E numerator side). Errors name the JSON path.
Status validate_taxonomy(const Taxonomy& t, const std::string& source);

// Every class the classifier can name must be a class of the taxonomy, or its cells could never be
// counted (and a report could not be signed). The error names the taxonomy file and the classes.
Status check_classifier_classes(const Taxonomy& t, const std::vector<std::string>& classifier_classes,
                                const std::string& source);

// Reads and validates a taxonomy; unknown keys, wrong types and the checks above are errors.
Result<Taxonomy> parse_taxonomy(const Json& j, const std::string& source);
Result<Taxonomy> load_taxonomy(const std::string& path);

}  // namespace ms
