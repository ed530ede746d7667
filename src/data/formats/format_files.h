#pragma once
// Internal to src/data/formats: the file-system and JSON plumbing every format shares (listing
// folders, probing image headers, hard-link-else-copy, class lists, JSON field access with error
// messages that name the file and the JSON path). Not part of the public API (formats.h).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/image.h"
#include "data/annotation.h"
#include "data/formats/formats.h"

namespace ms::formats_detail {

namespace fs = std::filesystem;

// Regular files directly in `dir`, sorted by name. A missing folder is kNotFound naming it.
Result<std::vector<fs::path>> list_files(const fs::path& dir);
// Sub-folders directly in `dir`, sorted by name.
Result<std::vector<fs::path>> list_dirs(const fs::path& dir);

// True when the file's first bytes are a JPEG, PNG, BMP or TIFF signature (content, not name).
bool is_image_file(const fs::path& path);
// Width and height from the image header; reads the first 64 KiB (all of the file only when a
// JPEG's size marker lies further in, e.g. after a large EXIF block). Errors name the file.
Result<ImageInfo> probe_image_file(const fs::path& path);
// Probes the field's image when its width or height is unknown (0).
Status fill_field_size(Field& field);

enum class Placement { kLinked, kCopied, kAlreadyPresent };
// Creates `dst` as a hard link to `src`, or a copy when linking fails (other file system, no
// permission). An existing `dst` that is the same file is left alone; another file is replaced.
Result<Placement> link_or_copy(const fs::path& src, const fs::path& dst);
void count_placement(WriteSummary& summary, Placement p);

Status make_dirs(const fs::path& dir);
// The file's text, without a leading UTF-8 byte-order mark.
Result<std::string> read_text_file(const fs::path& path);
Status write_text_file(const fs::path& path, const std::string& text);

// classes.txt: one name a line, verbatim (a trailing '\r' and trailing blank lines dropped).
Result<std::vector<std::string>> read_class_list(const fs::path& path);
Status write_class_list(const fs::path& path, const std::vector<std::string>& classes);

// A box still named by its label, for formats without a class list of their own (VOC, labelme).
struct LabelledBox {
  std::string label;
  std::string where;  // "<file>:<line>: <object>/<name>" or "<file>: shapes[2].label", for errors
  Box box;
};
struct LabelledField {
  Field field;  // boxes empty until the labels are resolved
  std::vector<LabelledBox> boxes;
};
// Classes come from `dir`/classes.txt when present, else from the sorted distinct labels; each
// box then gets its class id. A label missing from classes.txt is an error naming its `where`.
Result<FieldDataset> resolve_labels(const fs::path& dir, std::vector<LabelledField> fields);

// Checks before a field writer writes anything: class ids inside the class list, and no two
// fields that would land on one output name (image stem, within a split when `per_split`).
// Then creates `dir` and writes `dir`/classes.txt. `what` names the output file kind in errors.
Result<WriteSummary> begin_field_write(const FieldDataset& ds, const fs::path& dir, bool per_split,
                                       const std::string& what);
Status check_class_ids(const FieldDataset& ds);

// Shortest decimal text that reads back as exactly `v` ("12.5", "3", "0.1").
std::string format_float(float v);
// The double whose shortest text is that of `v`, so JSON shows 0.1 rather than 0.100000001.
double float_for_json(float v);
// Parses a whole token as a finite number.
bool parse_number(const std::string& token, double& out);

// Two sources written to one path would overwrite each other: keys[i] is where sources[i] goes.
Status check_unique_names(const std::vector<std::string>& keys, const std::vector<std::string>& sources,
                          const std::string& what);

// Typed access to a JSON member; errors read "<file>: <path>.<key>: expected ..., found ...".
struct JsonSite {
  std::string file;
  std::string path;  // JSON path of the object being read, "" for the root
  std::string at(const std::string& key) const { return path.empty() ? key : path + "." + key; }
  std::string at(std::size_t index) const { return path + "[" + std::to_string(index) + "]"; }
  JsonSite child(const std::string& key) const { return {file, at(key)}; }
  JsonSite child(std::size_t index) const { return {file, at(index)}; }
};
std::string describe_json(const Json& j);  // "string \"abc\"", "number 3.5", "array of 3", ...
tl::unexpected<Error> json_error(const JsonSite& site, const std::string& key,
                                 const std::string& expected, const std::string& found);
Result<double> json_number(const Json& obj, const std::string& key, const JsonSite& site);
Result<std::int64_t> json_integer(const Json& obj, const std::string& key, const JsonSite& site);
Result<std::string> json_string(const Json& obj, const std::string& key, const JsonSite& site);
Result<const Json*> json_array(const Json& obj, const std::string& key, const JsonSite& site);
// The root (or an element) must be an object.
Status json_expect_object(const Json& j, const JsonSite& site);
// Reads an image size given as two integer keys (COCO width/height, labelme imageWidth/
// imageHeight) into the field when either key is present; both must then be in 0..1000000.
Status json_image_size(const Json& obj, const std::string& width_key, const std::string& height_key,
                       const JsonSite& site, Field& field);

}  // namespace ms::formats_detail
