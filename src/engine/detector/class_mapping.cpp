#include "engine/detector/class_mapping.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

namespace ms {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int index_of(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

}  // namespace

std::string parenthesised_name(const std::string& name) {
  const auto close = name.rfind(')');
  if (close == std::string::npos) return "";
  const auto open = name.rfind('(', close);
  if (open == std::string::npos) return "";
  return trim(name.substr(open + 1, close - open - 1));
}

std::string unnumbered_name(const std::string& name) {
  size_t i = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == 0 || i >= name.size() || name[i] != ' ') return "";
  return trim(name.substr(i + 1));
}

Result<ClassMapping> map_dataset_classes(const std::vector<std::string>& dataset_classes,
                                         const std::vector<std::string>& model_classes,
                                         const std::string& class_map) {
  std::map<std::string, std::string> entries;  // dataset name (full or short) -> model name
  std::stringstream ss(class_map);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (trim(item).empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || trim(item.substr(0, eq)).empty())
      return fail(ErrorCode::kInvalidArgument, "--class-map entry '" + item + "'",
                  "DATASET_CLASS=MODEL_CLASS (or DATASET_CLASS= to ignore it)", "'" + item + "'");
    const std::string target = trim(item.substr(eq + 1));
    if (!target.empty() && index_of(model_classes, target) < 0) {
      std::string known;
      for (const auto& m : model_classes) known += (known.empty() ? "" : ", ") + m;
      return fail(ErrorCode::kInvalidArgument, "--class-map entry '" + item + "'",
                  "a model class (" + known + ")", "'" + target + "'");
    }
    entries[trim(item.substr(0, eq))] = target;
  }

  const auto wildcard = entries.find("*");
  ClassMapping mapping(dataset_classes.size(), kDropClass);
  std::vector<std::string> unmatched;
  for (size_t d = 0; d < dataset_classes.size(); ++d) {
    const std::string& name = dataset_classes[d];
    const std::string short_name = parenthesised_name(name);
    const std::string bare_name = unnumbered_name(name);
    auto it = entries.find(name);
    if (it == entries.end() && !short_name.empty()) it = entries.find(short_name);
    if (it == entries.end() && !bare_name.empty()) it = entries.find(bare_name);
    if (it != entries.end() && it != wildcard) {
      mapping[d] = it->second.empty() ? kDropClass : index_of(model_classes, it->second);
      continue;
    }
    if (name == kNegativeBoxClass) continue;  // dropped: background
    if (name == kIgnoreRegionClass) {
      mapping[d] = kIgnoreRegion;
      continue;
    }
    int m = index_of(model_classes, name);
    if (m < 0 && !short_name.empty()) m = index_of(model_classes, short_name);
    if (m < 0 && !bare_name.empty()) m = index_of(model_classes, bare_name);
    if (m < 0 && wildcard != entries.end()) {
      mapping[d] = wildcard->second.empty() ? kDropClass : index_of(model_classes, wildcard->second);
      continue;
    }
    if (m < 0) {
      unmatched.push_back(name);
      continue;
    }
    mapping[d] = m;
  }
  if (!unmatched.empty()) {
    std::string list, known;
    for (const auto& u : unmatched) list += (list.empty() ? "'" : ", '") + u + "'";
    for (const auto& m : model_classes) known += (known.empty() ? "" : ", ") + m;
    return fail(ErrorCode::kInvalidArgument,
                "dataset classes " + list + " are not classes of the model (" + known +
                    "); map them with --class-map 'NAME=MODEL_CLASS' or ignore them with 'NAME='");
  }
  return mapping;
}

FieldDataset remap_fields(const FieldDataset& ds, const ClassMapping& mapping,
                          const std::vector<std::string>& model_classes) {
  FieldDataset out;
  out.classes = model_classes;
  out.fields.reserve(ds.fields.size());
  for (const auto& f : ds.fields) {
    Field g = f;
    g.boxes.clear();
    for (const auto& b : f.boxes) {
      if (b.class_id < 0 || b.class_id >= static_cast<int>(mapping.size())) continue;
      const int m = mapping[static_cast<size_t>(b.class_id)];
      if (m == kIgnoreRegion) g.ignore.push_back(b.box);
      if (m < 0) continue;
      BoxAnnotation a = b;
      a.class_id = m;
      g.boxes.push_back(a);
    }
    out.fields.push_back(std::move(g));
  }
  return out;
}

}  // namespace ms
