// Folder-per-class trees (torchvision ImageFolder layout): DIR/<class>/<image>. See formats.h.
#include "data/formats/format_files.h"
#include "data/formats/formats.h"

namespace ms {

using namespace formats_detail;

Result<CellDataset> read_folder_tree(const std::string& dir_name) {
  const fs::path dir(dir_name);
  auto class_dirs = list_dirs(dir);
  if (!class_dirs) return tl::unexpected(class_dirs.error());
  CellDataset ds;
  for (const auto& d : *class_dirs) {  // sorted, so class ids follow the names
    auto files = list_files(d);
    if (!files) return tl::unexpected(files.error());
    const int id = static_cast<int>(ds.classes.size());
    ds.classes.push_back(d.filename().string());
    for (const auto& f : *files)
      if (is_image_file(f)) ds.cells.push_back(CellImage{f.string(), id});
  }
  if (ds.classes.empty())
    return fail(ErrorCode::kNotFound, dir.string(), "one sub-folder per class", "no sub-folders");
  return ds;
}

Result<WriteSummary> write_folder_tree(const CellDataset& ds, const std::string& dir_name) {
  const fs::path dir(dir_name);
  std::vector<std::string> keys, sources;
  for (const auto& c : ds.cells) {
    if (c.class_id < 0 || c.class_id >= static_cast<int>(ds.classes.size()))
      return fail(ErrorCode::kInvalidArgument, c.image_path,
                  "a class id in 0.." + std::to_string(ds.classes.size()) + "-1",
                  std::to_string(c.class_id));
    keys.push_back((fs::path(ds.classes[c.class_id]) / fs::path(c.image_path).filename()).string());
    sources.push_back(c.image_path);
  }
  if (auto ok = check_unique_names(keys, sources, "cell image"); !ok) return tl::unexpected(ok.error());
  WriteSummary summary;
  summary.destination = dir.string();
  // Every class gets its folder, even an empty one, so reading back gives the same class ids.
  for (const auto& name : ds.classes)
    if (auto ok = make_dirs(dir / name); !ok) return tl::unexpected(ok.error());
  for (std::size_t i = 0; i < ds.cells.size(); ++i) {
    auto placed = link_or_copy(ds.cells[i].image_path, dir / keys[i]);
    if (!placed) return tl::unexpected(placed.error());
    count_placement(summary, *placed);
    ++summary.images;
  }
  return summary;
}

}  // namespace ms
