#include "data/formats/format_files.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace ms::formats_detail {

namespace {
constexpr std::size_t kHeaderBytes = 64 * 1024;

Result<std::vector<std::uint8_t>> read_prefix(const fs::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, path.string() + ": cannot open file");
  std::vector<std::uint8_t> bytes(max_bytes);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(max_bytes));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

template <typename Keep>
Result<std::vector<fs::path>> list_entries(const fs::path& dir, Keep keep) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::kNotFound, dir.string(), "a folder", "nothing at that path");
  std::vector<fs::path> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (keep(*it)) out.push_back(it->path());
  if (ec) return fail(ErrorCode::kIo, dir.string() + ": cannot list the folder: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

Result<std::vector<fs::path>> list_files(const fs::path& dir) {
  return list_entries(dir, [](const fs::directory_entry& e) {
    std::error_code ec;
    return e.is_regular_file(ec);
  });
}

Result<std::vector<fs::path>> list_dirs(const fs::path& dir) {
  return list_entries(dir, [](const fs::directory_entry& e) {
    std::error_code ec;
    return e.is_directory(ec);
  });
}

bool is_image_file(const fs::path& path) {
  auto bytes = read_prefix(path, 16);
  return bytes && sniff_image_format(bytes->data(), bytes->size()) != ImageFormat::kUnknown;
}

Result<ImageInfo> probe_image_file(const fs::path& path) {
  auto bytes = read_prefix(path, kHeaderBytes);
  if (!bytes) return tl::unexpected(bytes.error());
  auto info = probe_image(bytes->data(), bytes->size(), path.string());
  if (!info && bytes->size() == kHeaderBytes &&
      sniff_image_format(bytes->data(), bytes->size()) == ImageFormat::kJpeg) {
    // The frame header lies beyond the first 64 KiB (large EXIF / ICC segments): read it all.
    auto all = read_file_bytes(path.string(), ImageLimits{}.max_bytes);
    if (!all) return tl::unexpected(all.error());
    info = probe_image(all->data(), all->size(), path.string());
  }
  if (info && (info->width <= 0 || info->height <= 0))
    return fail(ErrorCode::kCorruptInput, path.string(), "positive image dimensions",
                std::to_string(info->width) + "x" + std::to_string(info->height));
  return info;
}

Status fill_field_size(Field& field) {
  if (field.width > 0 && field.height > 0) return {};
  auto info = probe_image_file(field.image_path);
  if (!info) return tl::unexpected(info.error());
  field.width = info->width;
  field.height = info->height;
  return {};
}

Result<Placement> link_or_copy(const fs::path& src, const fs::path& dst) {
  std::error_code ec;
  if (!fs::is_regular_file(src, ec))
    return fail(ErrorCode::kNotFound, src.string(), "an image file to place at " + dst.string(),
                "nothing at that path");
  if (fs::exists(dst, ec)) {
    if (fs::equivalent(src, dst, ec)) return Placement::kAlreadyPresent;
    fs::remove(dst, ec);
    if (ec) return fail(ErrorCode::kIo, dst.string() + ": cannot replace it: " + ec.message());
  }
  fs::create_hard_link(src, dst, ec);
  if (!ec) return Placement::kLinked;
  std::error_code copy_ec;
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing, copy_ec);
  if (copy_ec)
    return fail(ErrorCode::kIo, dst.string() + ": cannot link (" + ec.message() + ") or copy (" +
                                    copy_ec.message() + ") " + src.string());
  return Placement::kCopied;
}

void count_placement(WriteSummary& summary, Placement p) {
  switch (p) {
    case Placement::kLinked: ++summary.images_linked; break;
    case Placement::kCopied: ++summary.images_copied; break;
    case Placement::kAlreadyPresent: ++summary.images_already_present; break;
  }
}

Status make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir.string() + ": cannot create the folder: " + ec.message());
  return {};
}

Result<std::string> read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, path.string() + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  // Windows editors prepend a UTF-8 byte-order mark; it is not part of the first token.
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  return text;
}

Status write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail(ErrorCode::kIo, path.string() + ": cannot write file");
  out << text;
  out.close();
  if (!out) return fail(ErrorCode::kIo, path.string() + ": write failed");
  return {};
}

Result<std::vector<std::string>> read_class_list(const fs::path& path) {
  auto text = read_text_file(path);
  if (!text) return tl::unexpected(text.error());
  std::vector<std::string> classes;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    classes.push_back(line);
  }
  while (!classes.empty() && classes.back().empty()) classes.pop_back();
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (classes[i].empty())
      return fail(ErrorCode::kInvalidArgument, path.string() + ":" + std::to_string(i + 1),
                  "a class name", "an empty line");
    for (std::size_t j = 0; j < i; ++j)
      if (classes[j] == classes[i])
        return fail(ErrorCode::kInvalidArgument, path.string() + ":" + std::to_string(i + 1),
                    "a class name not listed before",
                    "\"" + classes[i] + "\" again (line " + std::to_string(j + 1) + ")");
  }
  return classes;
}

Status write_class_list(const fs::path& path, const std::vector<std::string>& classes) {
  std::string text;
  for (const auto& c : classes) text += c + "\n";
  return write_text_file(path, text);
}

Result<FieldDataset> resolve_labels(const fs::path& dir, std::vector<LabelledField> fields) {
  FieldDataset ds;
  const fs::path list = dir / "classes.txt";
  std::error_code ec;
  if (fs::is_regular_file(list, ec)) {
    auto classes = read_class_list(list);
    if (!classes) return tl::unexpected(classes.error());
    ds.classes = std::move(*classes);
  } else {
    std::set<std::string> distinct;
    for (const auto& f : fields)
      for (const auto& b : f.boxes) distinct.insert(b.label);
    ds.classes.assign(distinct.begin(), distinct.end());
  }
  for (auto& f : fields) {
    for (const auto& b : f.boxes) {
      const int id = ds.class_index(b.label);
      if (id < 0)
        return fail(ErrorCode::kInvalidArgument, b.where, "a class listed in " + list.string(),
                    "\"" + b.label + "\"");
      f.field.boxes.push_back(BoxAnnotation{b.box, id, 1.f});
    }
    ds.fields.push_back(std::move(f.field));
  }
  return ds;
}

Status check_class_ids(const FieldDataset& ds) {
  for (const auto& f : ds.fields)
    for (const auto& b : f.boxes)
      if (b.class_id < 0 || b.class_id >= static_cast<int>(ds.classes.size()))
        return fail(ErrorCode::kInvalidArgument, f.image_path,
                    "class ids in 0.." + std::to_string(ds.classes.size()) + "-1",
                    std::to_string(b.class_id));
  return {};
}

Result<WriteSummary> begin_field_write(const FieldDataset& ds, const fs::path& dir, bool per_split,
                                       const std::string& what) {
  if (auto ok = check_class_ids(ds); !ok) return tl::unexpected(ok.error());
  std::vector<std::string> keys, sources;
  for (const auto& f : ds.fields) {
    const fs::path stem = fs::path(f.image_path).stem();
    keys.push_back((per_split ? fs::path(f.split) / stem : stem).string());
    sources.push_back(f.image_path);
  }
  if (auto ok = check_unique_names(keys, sources, what); !ok) return tl::unexpected(ok.error());
  if (auto ok = make_dirs(dir); !ok) return tl::unexpected(ok.error());
  if (auto ok = write_class_list(dir / "classes.txt", ds.classes); !ok)
    return tl::unexpected(ok.error());
  WriteSummary summary;
  summary.destination = dir.string();
  return summary;
}

std::string format_float(float v) {
  std::array<char, 32> buf{};
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), r.ptr);
}

double float_for_json(float v) { return std::strtod(format_float(v).c_str(), nullptr); }

bool parse_number(const std::string& token, double& out) {
  if (token.empty()) return false;
  const char* begin = token.data();
  const char* end = begin + token.size();
  if (*begin == '+') ++begin;  // from_chars refuses a leading '+', which some writers emit
  auto r = std::from_chars(begin, end, out);
  return r.ec == std::errc() && r.ptr == end && std::isfinite(out);
}

Status check_unique_names(const std::vector<std::string>& keys,
                          const std::vector<std::string>& sources, const std::string& what) {
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto [it, inserted] = seen.emplace(keys[i], i);
    if (!inserted)
      return fail(ErrorCode::kConflict, what + " " + keys[i], "one source image",
                  "two: " + sources[it->second] + " and " + sources[i]);
  }
  return {};
}

std::string describe_json(const Json& j) {
  switch (j.type()) {
    case Json::value_t::string: {
      std::string s = j.get<std::string>();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "string \"" + s + "\"";
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
    case Json::value_t::boolean: return json_type_name(j) + " " + j.dump();
    case Json::value_t::array: return "array of " + std::to_string(j.size());
    default: return json_type_name(j);
  }
}

tl::unexpected<Error> json_error(const JsonSite& site, const std::string& key,
                                 const std::string& expected, const std::string& found) {
  const std::string where = key.empty() ? site.path : site.at(key);
  return fail(ErrorCode::kInvalidArgument, site.file + (where.empty() ? "" : ": " + where), expected,
              found);
}

namespace {
Result<const Json*> member(const Json& obj, const std::string& key, const JsonSite& site,
                           const char* expected) {
  auto it = obj.find(key);
  if (it == obj.end()) return json_error(site, key, expected, "no such key");
  return &*it;
}
}  // namespace

Result<double> json_number(const Json& obj, const std::string& key, const JsonSite& site) {
  auto m = member(obj, key, site, "a number");
  if (!m) return tl::unexpected(m.error());
  if (!(*m)->is_number()) return json_error(site, key, "a number", describe_json(**m));
  const double v = (*m)->get<double>();
  if (!std::isfinite(v)) return json_error(site, key, "a finite number", (*m)->dump());
  return v;
}

Result<std::int64_t> json_integer(const Json& obj, const std::string& key, const JsonSite& site) {
  auto m = member(obj, key, site, "an integer");
  if (!m) return tl::unexpected(m.error());
  if ((*m)->is_number_integer()) return (*m)->get<std::int64_t>();
  // Some exporters write ids and sizes as 12.0.
  if ((*m)->is_number_float()) {
    const double v = (*m)->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15)
      return static_cast<std::int64_t>(v);
  }
  return json_error(site, key, "an integer", describe_json(**m));
}

Result<std::string> json_string(const Json& obj, const std::string& key, const JsonSite& site) {
  auto m = member(obj, key, site, "a string");
  if (!m) return tl::unexpected(m.error());
  if (!(*m)->is_string()) return json_error(site, key, "a string", describe_json(**m));
  return (*m)->get<std::string>();
}

Result<const Json*> json_array(const Json& obj, const std::string& key, const JsonSite& site) {
  auto m = member(obj, key, site, "an array");
  if (!m) return tl::unexpected(m.error());
  if (!(*m)->is_array()) return json_error(site, key, "an array", describe_json(**m));
  return *m;
}

Status json_expect_object(const Json& j, const JsonSite& site) {
  if (!j.is_object()) return json_error(site, "", "an object", describe_json(j));
  return {};
}

Status json_image_size(const Json& obj, const std::string& width_key, const std::string& height_key,
                       const JsonSite& site, Field& field) {
  if (!obj.contains(width_key) && !obj.contains(height_key)) return {};
  auto w = json_integer(obj, width_key, site);
  if (!w) return tl::unexpected(w.error());
  auto h = json_integer(obj, height_key, site);
  if (!h) return tl::unexpected(h.error());
  if (*w < 0 || *h < 0 || *w > 1000000 || *h > 1000000)
    return json_error(site, width_key, "a width and height in 0..1000000",
                      std::to_string(*w) + "x" + std::to_string(*h));
  field.width = static_cast<int>(*w);
  field.height = static_cast<int>(*h);
  return {};
}

}  // namespace ms::formats_detail
