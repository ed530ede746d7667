#include "data/dataset_stats.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "core/image.h"
#include "data/formats/format_files.h"

namespace ms {

namespace {
using SizeKey = std::pair<int, int>;

std::vector<ImageSizeCount> sorted_sizes(const std::map<SizeKey, std::int64_t>& counts) {
  std::vector<ImageSizeCount> out;
  for (const auto& [wh, n] : counts) out.push_back({wh.first, wh.second, n});
  std::stable_sort(out.begin(), out.end(),
                   [](const ImageSizeCount& a, const ImageSizeCount& b) { return a.count > b.count; });
  return out;
}

Json per_class(const std::vector<std::string>& classes, const std::vector<std::int64_t>& counts) {
  Json j = Json::object();
  for (std::size_t i = 0; i < classes.size(); ++i) j[classes[i]] = counts[i];
  return j;
}
}  // namespace

DatasetStats field_stats(const FieldDataset& ds) {
  DatasetStats s;
  s.classes = ds.classes;
  s.boxes_per_class.assign(ds.classes.size(), 0);
  std::map<SizeKey, std::int64_t> sizes;
  for (const auto& f : ds.fields) {
    ++s.images;
    ++s.images_per_split[f.split];
    ++sizes[{f.width, f.height}];
    if (f.boxes.empty()) ++s.images_without_boxes;
    for (const auto& b : f.boxes) {
      MS_CHECK(b.class_id >= 0 && b.class_id < static_cast<int>(ds.classes.size()),
               f.image_path + " has a box of class " + std::to_string(b.class_id) + " of " +
                   std::to_string(ds.classes.size()));
      ++s.boxes_per_class[b.class_id];
      ++s.boxes;
    }
  }
  s.image_sizes = sorted_sizes(sizes);
  return s;
}

Result<DatasetStats> cell_stats(const CellDataset& ds) {
  DatasetStats s;
  s.classes = ds.classes;
  s.single_cells = true;
  s.cells_per_class.assign(ds.classes.size(), 0);
  std::map<SizeKey, std::int64_t> sizes;
  for (const auto& c : ds.cells) {
    MS_CHECK(c.class_id >= 0 && c.class_id < static_cast<int>(ds.classes.size()),
             c.image_path + " has class " + std::to_string(c.class_id));
    auto info = formats_detail::probe_image_file(c.image_path);
    if (!info) return tl::unexpected(info.error());
    ++sizes[{info->width, info->height}];
    ++s.cells_per_class[c.class_id];
    ++s.cells;
    ++s.images;
  }
  s.images_per_split[""] = s.images;
  s.image_sizes = sorted_sizes(sizes);
  return s;
}

Json stats_to_json(const DatasetStats& s) {
  Json sizes = Json::array();
  for (const auto& z : s.image_sizes)
    sizes.push_back({{"width", z.width}, {"height", z.height}, {"count", z.count}});
  Json j = {{"format", s.format},
            {"split", s.split},
            {"images", s.images},
            {"images_per_split", s.images_per_split},
            {"image_sizes", std::move(sizes)},
            {"classes", s.classes}};
  if (s.single_cells) {
    j["cells"] = s.cells;
    j["cells_per_class"] = per_class(s.classes, s.cells_per_class);
  } else {
    j["boxes"] = s.boxes;
    j["boxes_per_class"] = per_class(s.classes, s.boxes_per_class);
    j["images_without_boxes"] = s.images_without_boxes;
  }
  return j;
}

std::string stats_to_text(const DatasetStats& s) {
  std::ostringstream out;
  out << "format: " << s.format << (s.split.empty() ? "" : ", split: " + s.split) << "\n";
  out << "images: " << s.images << "\n";
  if (s.images_per_split.size() > 1 || (s.images_per_split.size() == 1 && !s.images_per_split.begin()->first.empty()))
    for (const auto& [split, n] : s.images_per_split)
      out << "  split " << (split.empty() ? "(none)" : split) << ": " << n << "\n";
  out << "image sizes (width x height: images):\n";
  for (const auto& z : s.image_sizes)
    out << "  " << z.width << "x" << z.height << ": " << z.count << "\n";
  const bool cells = s.single_cells;
  const auto& counts = cells ? s.cells_per_class : s.boxes_per_class;
  if (cells)
    out << "cells: " << s.cells << "\n";
  else
    out << "boxes: " << s.boxes << " (images without boxes: " << s.images_without_boxes << ")\n";
  out << (cells ? "cells" : "boxes") << " per class:\n";
  for (std::size_t i = 0; i < s.classes.size(); ++i)
    out << "  " << i << " " << s.classes[i] << ": " << counts[i] << "\n";
  return out.str();
}

}  // namespace ms
