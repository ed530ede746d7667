#include "data/annotation.h"

namespace ms {
namespace {
int index_of(const std::vector<std::string>& v, const std::string& name) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == name) return static_cast<int>(i);
  return -1;
}
}  // namespace
int FieldDataset::class_index(const std::string& name) const { return index_of(classes, name); }
int CellDataset::class_index(const std::string& name) const { return index_of(classes, name); }
}  // namespace ms
