// COCO detection JSON (Lin et al., "Microsoft COCO", ECCV 2014; cocodataset.org/#format-data).
// bbox is [x, y, width, height] in pixels, the top-left corner first. See formats.h.
#include <map>
#include <set>

#include "data/formats/format_files.h"
#include "data/formats/formats.h"

namespace ms {

using namespace formats_detail;

namespace {

fs::path root_for(const std::string& json_path, const std::string& image_root) {
  if (!image_root.empty()) return fs::path(image_root);
  return fs::path(json_path).parent_path();
}

Result<std::vector<std::string>> read_categories(const Json& root, const JsonSite& site,
                                                 std::map<std::int64_t, int>& index_of_id) {
  auto cats = json_array(root, "categories", site);
  if (!cats) return tl::unexpected(cats.error());
  std::map<std::int64_t, std::string> by_id;
  std::map<std::string, std::size_t> first_of_name;
  for (std::size_t i = 0; i < (*cats)->size(); ++i) {
    const Json& c = (**cats)[i];
    const JsonSite at = site.child("categories").child(i);
    if (auto ok = json_expect_object(c, at); !ok) return tl::unexpected(ok.error());
    auto id = json_integer(c, "id", at);
    if (!id) return tl::unexpected(id.error());
    auto name = json_string(c, "name", at);
    if (!name) return tl::unexpected(name.error());
    if (by_id.count(*id))
      return json_error(at, "id", "an id not used by another category", std::to_string(*id));
    auto [it, fresh] = first_of_name.emplace(*name, i);
    if (!fresh)
      return json_error(at, "name", "a name not used by another category",
                        "\"" + *name + "\" (also categories[" + std::to_string(it->second) + "])");
    by_id[*id] = *name;
  }
  std::vector<std::string> classes;
  for (const auto& [id, name] : by_id) {  // ascending id order
    index_of_id[id] = static_cast<int>(classes.size());
    classes.push_back(name);
  }
  return classes;
}

}  // namespace

Result<FieldDataset> read_coco(const std::string& json_path, const std::string& image_root,
                               const std::string& split) {
  auto root = read_json_file(json_path);
  if (!root) return tl::unexpected(root.error());
  const JsonSite site{json_path, ""};
  if (auto ok = json_expect_object(*root, site); !ok) return tl::unexpected(ok.error());
  FieldDataset ds;
  std::map<std::int64_t, int> class_of_category;
  auto classes = read_categories(*root, site, class_of_category);
  if (!classes) return tl::unexpected(classes.error());
  ds.classes = std::move(*classes);

  const fs::path base = root_for(json_path, image_root);
  auto images = json_array(*root, "images", site);
  if (!images) return tl::unexpected(images.error());
  std::map<std::int64_t, std::size_t> field_of_image;
  for (std::size_t i = 0; i < (*images)->size(); ++i) {
    const Json& im = (**images)[i];
    const JsonSite at = site.child("images").child(i);
    if (auto ok = json_expect_object(im, at); !ok) return tl::unexpected(ok.error());
    auto id = json_integer(im, "id", at);
    if (!id) return tl::unexpected(id.error());
    auto file = json_string(im, "file_name", at);
    if (!file) return tl::unexpected(file.error());
    if (field_of_image.count(*id))
      return json_error(at, "id", "an id not used by another image", std::to_string(*id));
    Field f;
    f.image_path = (base / *file).string();
    f.split = split;
    // width and height are required by the format but some exporters leave them out or at 0.
    if (auto ok = json_image_size(im, "width", "height", at, f); !ok)
      return tl::unexpected(ok.error());
    if (auto ok = fill_field_size(f); !ok) return tl::unexpected(ok.error());
    field_of_image[*id] = ds.fields.size();
    ds.fields.push_back(std::move(f));
  }

  // A file with only images and categories (an unlabelled test set) has no annotations.
  if (!root->contains("annotations")) return ds;
  auto anns = json_array(*root, "annotations", site);
  if (!anns) return tl::unexpected(anns.error());
  for (std::size_t i = 0; i < (*anns)->size(); ++i) {
    const Json& a = (**anns)[i];
    const JsonSite at = site.child("annotations").child(i);
    if (auto ok = json_expect_object(a, at); !ok) return tl::unexpected(ok.error());
    auto image_id = json_integer(a, "image_id", at);
    if (!image_id) return tl::unexpected(image_id.error());
    auto field = field_of_image.find(*image_id);
    if (field == field_of_image.end())
      return json_error(at, "image_id", "the id of an entry in images", std::to_string(*image_id));
    auto cat = json_integer(a, "category_id", at);
    if (!cat) return tl::unexpected(cat.error());
    auto cls = class_of_category.find(*cat);
    if (cls == class_of_category.end())
      return json_error(at, "category_id", "the id of an entry in categories", std::to_string(*cat));
    if (a.contains("iscrowd")) {
      auto crowd = json_integer(a, "iscrowd", at);
      if (!crowd) return tl::unexpected(crowd.error());
      if (*crowd != 0)
        return json_error(at, "iscrowd", "0 (a box around one cell)", std::to_string(*crowd));
    }
    auto bbox = json_array(a, "bbox", at);
    if (!bbox) return tl::unexpected(bbox.error());
    const Json& b = **bbox;
    bool numbers = b.size() == 4;
    for (std::size_t k = 0; numbers && k < 4; ++k) numbers = b[k].is_number();
    if (!numbers)
      return json_error(at, "bbox", "[x, y, width, height] (4 numbers)",
                        describe_json(b) + " " + b.dump().substr(0, 60));
    const double x = b[0].get<double>(), y = b[1].get<double>(), w = b[2].get<double>(),
                 h = b[3].get<double>();
    if (!(w > 0 && h > 0 && std::isfinite(x + y + w + h)))
      return json_error(at, "bbox", "a finite box with positive width and height", b.dump());
    BoxAnnotation ann;
    ann.box = Box{float(x), float(y), float(x + w), float(y + h)};
    ann.class_id = cls->second;
    if (a.contains("score")) {
      auto s = json_number(a, "score", at);
      if (!s) return tl::unexpected(s.error());
      ann.score = static_cast<float>(*s);
    }
    ds.fields[field->second].boxes.push_back(ann);
  }
  return ds;
}

Result<WriteSummary> write_coco(const FieldDataset& ds, const std::string& json_path,
                                const std::string& image_root) {
  if (auto ok = check_class_ids(ds); !ok) return tl::unexpected(ok.error());
  const fs::path base = fs::absolute(root_for(json_path, image_root)).lexically_normal();
  Json images = Json::array(), annotations = Json::array(), categories = Json::array();
  for (std::size_t c = 0; c < ds.classes.size(); ++c)
    categories.push_back({{"id", c + 1}, {"name", ds.classes[c]}, {"supercategory", "cell"}});
  WriteSummary summary;
  summary.destination = json_path;
  std::int64_t ann_id = 1;
  for (std::size_t i = 0; i < ds.fields.size(); ++i) {
    Field f = ds.fields[i];
    if (auto ok = fill_field_size(f); !ok) return tl::unexpected(ok.error());
    const fs::path image = fs::absolute(f.image_path).lexically_normal();
    fs::path rel = image.lexically_relative(base);
    if (rel.empty()) rel = image;  // no relative path (another root): keep it absolute
    const std::int64_t image_id = static_cast<std::int64_t>(i) + 1;
    images.push_back({{"id", image_id},
                      {"file_name", rel.generic_string()},
                      {"width", f.width},
                      {"height", f.height}});
    for (const auto& b : f.boxes) {
      const double x = float_for_json(b.box.x1), y = float_for_json(b.box.y1);
      const double w = float_for_json(b.box.x2 - b.box.x1), h = float_for_json(b.box.y2 - b.box.y1);
      Json a = {{"id", ann_id++},
                {"image_id", image_id},
                {"category_id", b.class_id + 1},
                {"bbox", {x, y, w, h}},
                {"area", float_for_json(static_cast<float>(w * h))},
                {"iscrowd", 0}};
      if (b.score != 1.f) a["score"] = float_for_json(b.score);
      annotations.push_back(std::move(a));
      ++summary.boxes;
    }
    ++summary.images;
  }
  const fs::path parent = fs::path(json_path).parent_path();
  if (!parent.empty())
    if (auto ok = make_dirs(parent); !ok) return tl::unexpected(ok.error());
  Json root = {{"images", std::move(images)},
               {"annotations", std::move(annotations)},
               {"categories", std::move(categories)}};
  if (auto ok = write_json_file(json_path, root, -1); !ok) return tl::unexpected(ok.error());
  summary.annotation_files = 1;
  return summary;
}

}  // namespace ms
