#include "report/taxonomy.h"

#include <algorithm>
#include <numeric>

namespace ms {

const std::vector<std::pair<Lineage, std::string>>& enum_names(Lineage) {
  static const std::vector<std::pair<Lineage, std::string>> names{
      {Lineage::kMyeloid, "myeloid"},
      {Lineage::kErythroid, "erythroid"},
      {Lineage::kLymphoid, "lymphoid"},
      {Lineage::kMonocytic, "monocytic"},
      {Lineage::kOther, "other"}};
  return names;
}

const std::vector<std::pair<MaturityRole, std::string>>& enum_names(MaturityRole) {
  static const std::vector<std::pair<MaturityRole, std::string>> names{
      {MaturityRole::kNone, "none"},
      {MaturityRole::kImmature, "immature"},
      {MaturityRole::kMature, "mature"}};
  return names;
}

const std::vector<std::pair<Specimen, std::string>>& enum_names(Specimen) {
  static const std::vector<std::pair<Specimen, std::string>> names{
      {Specimen::kBoneMarrow, "bone_marrow"}, {Specimen::kPeripheralBlood, "peripheral_blood"}};
  return names;
}

std::string specimen_name(Specimen s) {
  for (const auto& [value, name] : enum_names(s))
    if (value == s) return name;
  throw MarrowError(ErrorCode::kInternal, "specimen_name: unnamed Specimen value");
}

Result<Specimen> parse_specimen(const std::string& name) {
  for (const auto& [value, n] : enum_names(Specimen{}))
    if (n == name) return value;
  return fail(ErrorCode::kInvalidArgument, "specimen", "bone_marrow or peripheral_blood",
              "\"" + name + "\"");
}

const CellClass* Taxonomy::find(const std::string& id) const {
  for (const auto& c : classes)
    if (c.id == id) return &c;
  return nullptr;
}

const SpecimenProfile& Taxonomy::profile(Specimen s) const {
  return s == Specimen::kBoneMarrow ? specimens.bone_marrow : specimens.peripheral_blood;
}

std::vector<size_t> Taxonomy::reporting_order() const {
  std::vector<size_t> idx(classes.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(),
                   [&](size_t a, size_t b) { return classes[a].order < classes[b].order; });
  return idx;
}

namespace {

bool is_snake_case(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_hex_colour(const std::string& s) {
  if (s.size() != 7 || s[0] != '#') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

Status check_range(const ReferenceRange& r, const std::string& path) {
  if (!(r.low >= 0) || !(r.high >= r.low))
    return fail(ErrorCode::kInvalidArgument, path, "0 <= low <= high",
                "low " + std::to_string(r.low) + ", high " + std::to_string(r.high));
  return {};
}

Status check_profile(const Taxonomy& t, const SpecimenProfile& p, const std::string& path) {
  if (p.count_target <= 0)
    return fail(ErrorCode::kInvalidArgument, path + ".count_target", "a positive cell count",
                std::to_string(p.count_target));
  for (const auto& [id, range] : p.ranges) {
    const std::string rp = path + ".ranges." + id;
    const CellClass* c = t.find(id);
    if (!c) return fail(ErrorCode::kInvalidArgument, rp, "a class id of this taxonomy", quoted(id));
    if (!c->counted)
      return fail(ErrorCode::kInvalidArgument, rp,
                  "a counted class (excluded classes have no percentage to compare)",
                  "excluded class " + quoted(id));
    if (auto s = check_range(range, rp); !s) return s;
  }
  if (p.me_ratio)
    if (auto s = check_range(*p.me_ratio, path + ".me_ratio"); !s) return s;
  if (p.i_mg_ratio)
    if (auto s = check_range(*p.i_mg_ratio, path + ".i_mg_ratio"); !s) return s;
  return {};
}

}  // namespace

Status validate_taxonomy(const Taxonomy& t, const std::string& source) {
  const std::string root = (source.empty() ? "" : source + ":") + "$";
  if (t.classes.empty())
    return fail(ErrorCode::kInvalidArgument, root + ".classes", "at least one class",
                "an empty list");
  std::map<std::string, size_t> first_index;
  for (size_t i = 0; i < t.classes.size(); ++i) {
    const CellClass& c = t.classes[i];
    const std::string path = root + ".classes[" + std::to_string(i) + "]";
    if (!is_snake_case(c.id))
      return fail(ErrorCode::kInvalidArgument, path + ".id", "a snake_case id ([a-z][a-z0-9_]*)",
                  quoted(c.id));
    if (auto [it, inserted] = first_index.emplace(c.id, i); !inserted)
      return fail(ErrorCode::kInvalidArgument, path + ".id", "a unique class id",
                  "duplicate " + quoted(c.id) + " (first at " + root + ".classes[" +
                      std::to_string(it->second) + "])");
    if (c.names.en.empty() || c.names.zh.empty())
      return fail(ErrorCode::kInvalidArgument, path + ".names",
                  "non-empty \"en\" and \"zh\" display names",
                  c.names.en.empty() ? "an empty \"en\"" : "an empty \"zh\"");
    if (!is_hex_colour(c.colour))
      return fail(ErrorCode::kInvalidArgument, path + ".colour", "a colour \"#rrggbb\"",
                  quoted(c.colour));
    const bool needs_count = c.is_blast || c.is_erythroid || c.is_abnormal_promyelocyte ||
                             c.in_me_numerator || c.maturity != MaturityRole::kNone;
    if (!c.counted && needs_count)
      return fail(ErrorCode::kInvalidArgument, path + ".counted",
                  "true for a class that enters blasts, M:E, I:Mg or FAB M3", "false");
    if (c.is_erythroid && (c.in_me_numerator || c.maturity != MaturityRole::kNone))
      return fail(ErrorCode::kInvalidArgument, path,
                  "an erythroid class outside the myeloid side of M:E and I:Mg",
                  "is_erythroid with in_me_numerator or a maturity role");
  }
  if (auto s = check_profile(t, t.specimens.bone_marrow, root + ".specimens.bone_marrow"); !s)
    return s;
  return check_profile(t, t.specimens.peripheral_blood, root + ".specimens.peripheral_blood");
}

Status check_classifier_classes(const Taxonomy& t, const std::vector<std::string>& classifier_classes,
                                const std::string& source) {
  std::string missing;
  for (const auto& c : classifier_classes)
    if (!t.find(c)) missing += (missing.empty() ? "" : ", ") + quoted(c);
  if (missing.empty()) return {};
  return fail(ErrorCode::kInvalidArgument, "taxonomy " + source,
              "every class the classifier names (" + std::to_string(classifier_classes.size()) +
                  " classes) as one of its classes",
              "no class " + missing + "; add them to the taxonomy or use a classifier whose classes it has");
}

Result<Taxonomy> parse_taxonomy(const Json& j, const std::string& source) {
  auto t = parse_config<Taxonomy>(j, source);
  if (!t) return t;
  if (auto s = validate_taxonomy(*t, source); !s) return tl::unexpected(s.error());
  return t;
}

Result<Taxonomy> load_taxonomy(const std::string& path) {
  auto j = read_json_file(path);
  if (!j) return tl::unexpected(j.error());
  return parse_taxonomy(*j, path);
}

}  // namespace ms
