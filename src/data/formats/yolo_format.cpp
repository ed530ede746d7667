// YOLO txt (Ultralytics / Darknet): DIR/images/<split>/*, DIR/labels/<split>/<stem>.txt with
// lines `class cx cy w h` normalised to the image size, DIR/classes.txt. See formats.h.
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>

#include "data/formats/format_files.h"
#include "data/formats/formats.h"

namespace ms {

using namespace formats_detail;

namespace {

// One folder of images and its folder of labels ("" = the flat layout).
struct YoloSplit {
  std::string name;
  fs::path images;
  fs::path labels;
};

Result<std::vector<YoloSplit>> find_splits(const fs::path& dir, const std::string& wanted) {
  const fs::path images = dir / "images";
  auto files = list_files(images);
  if (!files) return tl::unexpected(files.error());
  auto dirs = list_dirs(images);
  if (!dirs) return tl::unexpected(dirs.error());
  std::vector<YoloSplit> splits;
  bool flat = false;
  for (const auto& f : *files) flat = flat || is_image_file(f);
  if (flat) splits.push_back({"", images, dir / "labels"});
  for (const auto& d : *dirs) {
    const std::string name = d.filename().string();
    splits.push_back({name, d, dir / "labels" / name});
  }
  if (wanted.empty()) return splits;
  std::string names;
  for (const auto& s : splits) {
    if (s.name == wanted) return std::vector<YoloSplit>{s};
    names += (names.empty() ? "" : ", ") + (s.name.empty() ? std::string("(flat)") : s.name);
  }
  return fail(ErrorCode::kNotFound, (images / wanted).string(), "a split folder",
              "none; splits present: " + (names.empty() ? std::string("none") : names));
}

// Splits a line into whitespace-separated tokens.
std::vector<std::string> tokens_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

// Parses one label line into a box in pixels. `where` is "file:line".
Result<BoxAnnotation> parse_label_line(const std::vector<std::string>& tok, const std::string& where,
                                       const Field& field,
                                       const std::optional<std::vector<std::string>>& classes) {
  if (tok.size() != 5)
    return fail(ErrorCode::kInvalidArgument,
                where + ": expected 5 numbers, found " + std::to_string(tok.size()));
  double v[5];
  static const char* kColumn[5] = {"class", "cx", "cy", "w", "h"};
  for (int i = 0; i < 5; ++i)
    if (!parse_number(tok[i], v[i]))
      return fail(ErrorCode::kInvalidArgument, where,
                  std::string("a number for ") + kColumn[i] + " (column " + std::to_string(i + 1) + ")",
                  "\"" + tok[i] + "\"");
  if (v[0] < 0 || v[0] != std::floor(v[0]) || v[0] > 1e6)
    return fail(ErrorCode::kInvalidArgument, where, "a class id (a whole number >= 0)", tok[0]);
  const int id = static_cast<int>(v[0]);
  if (classes && id >= static_cast<int>(classes->size()))
    return fail(ErrorCode::kInvalidArgument, where,
                "a class id in 0.." + std::to_string(classes->size() - 1) + " (classes.txt)",
                std::to_string(id));
  if (v[3] <= 0 || v[4] <= 0)
    return fail(ErrorCode::kInvalidArgument, where, "a positive width and height",
                "w=" + tok[3] + " h=" + tok[4]);
  BoxAnnotation a;
  a.class_id = id;
  a.box = Box{static_cast<float>((v[1] - 0.5 * v[3]) * field.width),
              static_cast<float>((v[2] - 0.5 * v[4]) * field.height),
              static_cast<float>((v[1] + 0.5 * v[3]) * field.width),
              static_cast<float>((v[2] + 0.5 * v[4]) * field.height)};
  return a;
}

Status read_label_file(const fs::path& path, Field& field,
                       const std::optional<std::vector<std::string>>& classes) {
  auto text = read_text_file(path);
  if (!text) return tl::unexpected(text.error());
  std::istringstream lines(*text);
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    const auto tok = tokens_of(line);
    if (tok.empty()) continue;
    auto box = parse_label_line(tok, path.string() + ":" + std::to_string(n), field, classes);
    if (!box) return tl::unexpected(box.error());
    field.boxes.push_back(*box);
  }
  return {};
}

Status read_split(const YoloSplit& split, const std::optional<std::vector<std::string>>& classes,
                  std::vector<Field>& out) {
  auto files = list_files(split.images);
  if (!files) return tl::unexpected(files.error());
  std::map<std::string, std::size_t> by_stem;  // stem -> index into out
  for (const auto& f : *files) {
    if (!is_image_file(f)) continue;
    const std::string stem = f.stem().string();
    if (by_stem.count(stem))
      return fail(ErrorCode::kConflict, f.string(), "one image per label stem \"" + stem + "\"",
                  "also " + out[by_stem[stem]].image_path);
    auto info = probe_image_file(f);
    if (!info) return tl::unexpected(info.error());
    Field field;
    field.image_path = f.string();
    field.split = split.name;
    field.width = info->width;
    field.height = info->height;
    by_stem[stem] = out.size();
    out.push_back(std::move(field));
  }
  std::error_code ec;
  if (!fs::is_directory(split.labels, ec)) return {};  // no labels at all: fields without boxes
  auto labels = list_files(split.labels);
  if (!labels) return tl::unexpected(labels.error());
  for (const auto& l : *labels) {
    if (l.extension() != ".txt") continue;
    auto it = by_stem.find(l.stem().string());
    if (it == by_stem.end())
      return fail(ErrorCode::kNotFound, l.string(),
                  "an image named " + l.stem().string() + ".* in " + split.images.string(), "none");
    auto ok = read_label_file(l, out[it->second], classes);
    if (!ok) return ok;
  }
  return {};
}

}  // namespace

Result<FieldDataset> read_yolo(const std::string& dir_name, const std::string& split) {
  const fs::path dir(dir_name);
  std::optional<std::vector<std::string>> classes;
  std::error_code ec;
  if (fs::is_regular_file(dir / "classes.txt", ec)) {
    auto c = read_class_list(dir / "classes.txt");
    if (!c) return tl::unexpected(c.error());
    classes = std::move(*c);
  }
  auto splits = find_splits(dir, split);
  if (!splits) return tl::unexpected(splits.error());
  FieldDataset ds;
  for (const auto& s : *splits) {
    auto ok = read_split(s, classes, ds.fields);
    if (!ok) return tl::unexpected(ok.error());
  }
  if (classes) {
    ds.classes = std::move(*classes);
  } else {
    // No class list: name the classes by their ids, up to the largest id used.
    int max_id = -1;
    for (const auto& f : ds.fields)
      for (const auto& b : f.boxes) max_id = std::max(max_id, b.class_id);
    for (int i = 0; i <= max_id; ++i) ds.classes.push_back(std::to_string(i));
  }
  return ds;
}

Result<WriteSummary> write_yolo(const FieldDataset& ds, const std::string& dir_name) {
  const fs::path dir(dir_name);
  auto summary = begin_field_write(ds, dir, /*per_split=*/true, "YOLO label file");
  if (!summary) return summary;
  for (Field field : ds.fields) {
    if (auto ok = fill_field_size(field); !ok) return tl::unexpected(ok.error());
    const fs::path src(field.image_path);
    const fs::path image_dir = dir / "images" / field.split;
    const fs::path label_dir = dir / "labels" / field.split;
    if (auto ok = make_dirs(image_dir); !ok) return tl::unexpected(ok.error());
    if (auto ok = make_dirs(label_dir); !ok) return tl::unexpected(ok.error());
    auto placed = link_or_copy(src, image_dir / src.filename());
    if (!placed) return tl::unexpected(placed.error());
    count_placement(*summary, *placed);
    std::string text;
    char line[160];
    for (const auto& b : field.boxes) {
      const double w = field.width, h = field.height;
      const double x1 = b.box.x1, y1 = b.box.y1, x2 = b.box.x2, y2 = b.box.y2;
      std::snprintf(line, sizeof line, "%d %.6f %.6f %.6f %.6f\n", b.class_id, 0.5 * (x1 + x2) / w,
                    0.5 * (y1 + y2) / h, (x2 - x1) / w, (y2 - y1) / h);
      text += line;
      ++summary->boxes;
    }
    if (auto ok = write_text_file(label_dir / (src.stem().string() + ".txt"), text); !ok)
      return tl::unexpected(ok.error());
    ++summary->annotation_files;
    ++summary->images;
  }
  return summary;
}

}  // namespace ms
