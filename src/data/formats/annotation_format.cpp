// Format names, format detection and reading / writing by format. See formats.h.
#include "data/formats/format_files.h"
#include "data/formats/formats.h"

namespace ms {

using namespace formats_detail;

namespace {
constexpr AnnotationFormat kAllFormats[] = {AnnotationFormat::kYolo, AnnotationFormat::kVoc,
                                            AnnotationFormat::kCoco, AnnotationFormat::kLabelme,
                                            AnnotationFormat::kFolder};

// True when some *.json under `dir` (searched depth-first, sorted order not needed) is an object
// with a "shapes" key. Stops at the first JSON that parses, so a labelme tree is recognised fast.
bool has_labelme_json(const fs::path& dir) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->path().extension() != ".json") continue;
    auto j = read_json_file(it->path().string());
    if (j) return j->is_object() && j->contains("shapes");
  }
  return false;
}

bool has_class_folders(const fs::path& dir) {
  auto dirs = list_dirs(dir);
  if (!dirs) return false;
  for (const auto& d : *dirs) {
    auto files = list_files(d);
    if (!files) continue;
    for (const auto& f : *files)
      if (is_image_file(f)) return true;
  }
  return false;
}
}  // namespace

std::string_view annotation_format_name(AnnotationFormat f) {
  switch (f) {
    case AnnotationFormat::kYolo: return "yolo";
    case AnnotationFormat::kVoc: return "voc";
    case AnnotationFormat::kCoco: return "coco";
    case AnnotationFormat::kLabelme: return "labelme";
    case AnnotationFormat::kFolder: return "folder";
  }
  return "unknown";
}

Result<AnnotationFormat> parse_annotation_format(std::string_view name) {
  std::string names;
  for (AnnotationFormat f : kAllFormats) {
    if (annotation_format_name(f) == name) return f;
    names += (names.empty() ? "" : ", ") + std::string(annotation_format_name(f));
  }
  return fail(ErrorCode::kInvalidArgument, "annotation format", "one of " + names,
              "\"" + std::string(name) + "\"");
}

Result<AnnotationFormat> detect_annotation_format(const std::string& path_name) {
  const fs::path path(path_name);
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && path.extension() == ".json") return AnnotationFormat::kCoco;
  if (!fs::is_directory(path, ec))
    return fail(ErrorCode::kNotFound, path_name, "a dataset folder or a COCO .json file",
                "nothing usable at that path");
  if (fs::is_directory(path / "images", ec) && fs::is_directory(path / "labels", ec))
    return AnnotationFormat::kYolo;
  if (fs::is_directory(path / "Annotations", ec)) return AnnotationFormat::kVoc;
  if (has_labelme_json(path)) return AnnotationFormat::kLabelme;
  if (has_class_folders(path)) return AnnotationFormat::kFolder;
  return fail(ErrorCode::kUnsupportedFormat, path_name,
              "images/ + labels/ (yolo), Annotations/ (voc), labelme *.json files, or one image "
              "folder per class",
              "none of these");
}

Result<FieldDataset> read_fields(AnnotationFormat format, const std::string& path,
                                 const FieldReadOptions& options) {
  switch (format) {
    case AnnotationFormat::kYolo: return read_yolo(path, options.split);
    case AnnotationFormat::kVoc: return read_voc(path, options.split);
    case AnnotationFormat::kCoco: return read_coco(path, options.image_root, options.split);
    case AnnotationFormat::kLabelme: return read_labelme(path, options.split);
    case AnnotationFormat::kFolder: break;
  }
  return fail(ErrorCode::kUnsupportedFormat, path, "a format of annotated fields (yolo, voc, coco, labelme)",
              std::string(annotation_format_name(format)) + " (single cells, no boxes)");
}

Result<WriteSummary> write_fields(const FieldDataset& ds, AnnotationFormat format,
                                  const std::string& path, const FieldWriteOptions& options) {
  switch (format) {
    case AnnotationFormat::kYolo: return write_yolo(ds, path);
    case AnnotationFormat::kVoc: return write_voc(ds, path);
    case AnnotationFormat::kCoco: return write_coco(ds, path, options.image_root);
    case AnnotationFormat::kLabelme: return write_labelme(ds, path);
    case AnnotationFormat::kFolder: break;
  }
  return fail(ErrorCode::kUnsupportedFormat, path, "a format of annotated fields (yolo, voc, coco, labelme)",
              std::string(annotation_format_name(format)) + " (single cells, no boxes)");
}

}  // namespace ms
