#include "engine/classifier/cell_list.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace ms {

Result<CellDataset> read_cell_list(const std::string& list, const std::string& root,
                                   const std::vector<std::string>& classes) {
  std::ifstream in(list);
  if (!in) return fail(ErrorCode::kNotFound, list + ": cannot read the cell list");
  CellDataset ds;
  ds.classes = classes;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, fmt::format("{}:{}: expected \"class<TAB>path\", found no tab", list, n));
    const std::string cls = line.substr(0, tab), rel = line.substr(tab + 1);
    const auto it = std::find(classes.begin(), classes.end(), cls);
    if (it == classes.end())
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: class \"{}\" is not one of the model's classes", list, n, cls));
    const std::filesystem::path p(rel);
    ds.cells.push_back({p.is_absolute() ? rel : (std::filesystem::path(root) / p).string(),
                        static_cast<int>(it - classes.begin())});
  }
  if (ds.cells.empty()) return fail(ErrorCode::kInvalidArgument, list + ": no cells listed");
  return ds;
}

}  // namespace ms
