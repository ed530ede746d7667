// labelme JSON (Wada, github.com/wkentaro/labelme; the thesis's annotation tool): one JSON beside
// each image with shapes[{label, points, shape_type}]. See formats.h.
#include <algorithm>
#include <array>
#include <cmath>

#include "data/formats/format_files.h"
#include "data/formats/formats.h"

namespace ms {

using namespace formats_detail;

namespace {

constexpr const char* kLabelmeVersion = "5.2.1";

Result<std::vector<std::array<double, 2>>> read_points(const Json& shape, const JsonSite& at) {
  auto pts = json_array(shape, "points", at);
  if (!pts) return tl::unexpected(pts.error());
  std::vector<std::array<double, 2>> out;
  for (std::size_t k = 0; k < (*pts)->size(); ++k) {
    const Json& p = (**pts)[k];
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
      return json_error(at.child("points").child(k), "", "a point [x, y] of 2 numbers",
                        describe_json(p));
    const double x = p[0].get<double>(), y = p[1].get<double>();
    if (!std::isfinite(x) || !std::isfinite(y))
      return json_error(at.child("points").child(k), "", "finite coordinates", p.dump());
    out.push_back({x, y});
  }
  return out;
}

// The axis-aligned box of a shape, by its type (labelme's default type is "polygon").
Result<Box> shape_box(const Json& shape, const JsonSite& at) {
  std::string type = "polygon";
  if (shape.contains("shape_type") && !shape["shape_type"].is_null()) {
    auto t = json_string(shape, "shape_type", at);
    if (!t) return tl::unexpected(t.error());
    type = *t;
  }
  auto pts = read_points(shape, at);
  if (!pts) return tl::unexpected(pts.error());
  const auto& p = *pts;
  auto need = [&](std::size_t n, bool at_least) -> Status {
    if (at_least ? p.size() >= n : p.size() == n) return {};
    return json_error(at, "points",
                      (at_least ? "at least " : "") + std::to_string(n) + " points for a " + type,
                      std::to_string(p.size()));
  };
  double x1, y1, x2, y2;
  if (type == "rectangle" || type == "polygon") {
    if (auto ok = need(type == "rectangle" ? 2 : 3, type == "polygon"); !ok)
      return tl::unexpected(ok.error());
    x1 = x2 = p[0][0];
    y1 = y2 = p[0][1];
    for (const auto& q : p) {
      x1 = std::min(x1, q[0]);
      x2 = std::max(x2, q[0]);
      y1 = std::min(y1, q[1]);
      y2 = std::max(y2, q[1]);
    }
  } else if (type == "circle") {  // points: the centre, then a point on the rim
    if (auto ok = need(2, false); !ok) return tl::unexpected(ok.error());
    const double r = std::hypot(p[1][0] - p[0][0], p[1][1] - p[0][1]);
    x1 = p[0][0] - r, x2 = p[0][0] + r, y1 = p[0][1] - r, y2 = p[0][1] + r;
  } else {
    return json_error(at, "shape_type", "rectangle, polygon or circle", "\"" + type + "\"");
  }
  if (!(x2 > x1 && y2 > y1))
    return json_error(at, "points", "a shape with positive width and height",
                      "a degenerate one " + shape["points"].dump());
  return Box{float(x1), float(y1), float(x2), float(y2)};
}

Result<LabelledField> parse_labelme_json(const fs::path& json_path) {
  const std::string file = json_path.string();
  auto root = read_json_file(file);
  if (!root) return tl::unexpected(root.error());
  const JsonSite site{file, ""};
  if (auto ok = json_expect_object(*root, site); !ok) return tl::unexpected(ok.error());
  LabelledField out;
  auto image = json_string(*root, "imagePath", site);
  if (!image) return tl::unexpected(image.error());
  std::string rel = *image;
  std::replace(rel.begin(), rel.end(), '\\', '/');  // labelme on Windows writes backslashes
  out.field.image_path = (json_path.parent_path() / rel).lexically_normal().string();
  if (auto ok = json_image_size(*root, "imageWidth", "imageHeight", site, out.field); !ok)
    return tl::unexpected(ok.error());
  if (auto ok = fill_field_size(out.field); !ok) return tl::unexpected(ok.error());
  auto shapes = json_array(*root, "shapes", site);
  if (!shapes) return tl::unexpected(shapes.error());
  for (std::size_t i = 0; i < (*shapes)->size(); ++i) {
    const Json& s = (**shapes)[i];
    const JsonSite at = site.child("shapes").child(i);
    if (auto ok = json_expect_object(s, at); !ok) return tl::unexpected(ok.error());
    auto label = json_string(s, "label", at);
    if (!label) return tl::unexpected(label.error());
    if (label->empty()) return json_error(at, "label", "a class name", "an empty string");
    auto box = shape_box(s, at);
    if (!box) return tl::unexpected(box.error());
    out.boxes.push_back({*label, file + ": " + at.at("label"), *box});
  }
  return out;
}

}  // namespace

Result<FieldDataset> read_labelme(const std::string& dir_name, const std::string& split) {
  const fs::path dir(dir_name);
  const fs::path root = split.empty() ? dir : dir / split;
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    return fail(ErrorCode::kNotFound, root.string(), "a folder of labelme JSON files",
                "nothing at that path");
  std::vector<fs::path> jsons;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && it->path().extension() == ".json")
      jsons.push_back(it->path());
  }
  if (ec) return fail(ErrorCode::kIo, root.string() + ": cannot list the folder: " + ec.message());
  std::sort(jsons.begin(), jsons.end());
  std::vector<LabelledField> files;
  for (const auto& j : jsons) {
    auto f = parse_labelme_json(j);
    if (!f) return tl::unexpected(f.error());
    if (!split.empty()) {
      f->field.split = split;
    } else {
      const fs::path rel = j.lexically_relative(dir);
      if (std::distance(rel.begin(), rel.end()) > 1) f->field.split = rel.begin()->string();
    }
    files.push_back(std::move(*f));
  }
  return resolve_labels(dir, std::move(files));
}

Result<WriteSummary> write_labelme(const FieldDataset& ds, const std::string& dir_name) {
  const fs::path dir(dir_name);
  auto summary = begin_field_write(ds, dir, /*per_split=*/true, "labelme JSON");
  if (!summary) return summary;
  for (Field field : ds.fields) {
    if (auto ok = fill_field_size(field); !ok) return tl::unexpected(ok.error());
    const fs::path src(field.image_path);
    const fs::path out_dir = dir / field.split;
    if (auto ok = make_dirs(out_dir); !ok) return tl::unexpected(ok.error());
    auto placed = link_or_copy(src, out_dir / src.filename());
    if (!placed) return tl::unexpected(placed.error());
    count_placement(*summary, *placed);
    Json shapes = Json::array();
    for (const auto& b : field.boxes) {
      shapes.push_back({{"label", ds.classes[b.class_id]},
                        {"points", {{float_for_json(b.box.x1), float_for_json(b.box.y1)},
                                    {float_for_json(b.box.x2), float_for_json(b.box.y2)}}},
                        {"group_id", nullptr},
                        {"description", ""},
                        {"shape_type", "rectangle"},
                        {"flags", Json::object()}});
      ++summary->boxes;
    }
    const Json root = {{"version", kLabelmeVersion},
                       {"flags", Json::object()},
                       {"shapes", std::move(shapes)},
                       {"imagePath", src.filename().string()},
                       {"imageData", nullptr},
                       {"imageHeight", field.height},
                       {"imageWidth", field.width}};
    if (auto ok = write_json_file((out_dir / (src.stem().string() + ".json")).string(), root, 2); !ok)
      return tl::unexpected(ok.error());
    ++summary->annotation_files;
    ++summary->images;
  }
  return summary;
}

}  // namespace ms
