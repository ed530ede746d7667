// Pascal VOC XML (Everingham et al., IJCV 2010, devkit layout): DIR/Annotations/<id>.xml,
// DIR/JPEGImages/<filename>, DIR/ImageSets/Main/<split>.txt. See formats.h.
#include <map>
#include <set>
#include <sstream>

#include <tinyxml2.h>

#include "data/formats/format_files.h"
#include "data/formats/formats.h"

namespace ms {

using namespace formats_detail;

namespace {

std::string at_line(const std::string& file, const tinyxml2::XMLElement* e) {
  return file + ":" + std::to_string(e->GetLineNum());
}

// Text of a child element, trimmed; nullptr child -> nullopt.
bool child_text(const tinyxml2::XMLElement* parent, const char* name, std::string& out) {
  const tinyxml2::XMLElement* c = parent->FirstChildElement(name);
  if (!c) return false;
  out = c->GetText() ? c->GetText() : "";
  const auto b = out.find_first_not_of(" \t\r\n");
  const auto e = out.find_last_not_of(" \t\r\n");
  out = b == std::string::npos ? "" : out.substr(b, e - b + 1);
  return true;
}

Result<double> child_number(const tinyxml2::XMLElement* parent, const char* name,
                            const std::string& file, const std::string& path) {
  std::string text;
  if (!child_text(parent, name, text))
    return fail(ErrorCode::kInvalidArgument, at_line(file, parent) + ": " + path + "/<" + name + ">",
                "an element", "none");
  double v = 0;
  if (!parse_number(text, v))
    return fail(ErrorCode::kInvalidArgument,
                at_line(file, parent->FirstChildElement(name)) + ": " + path + "/<" + name + ">",
                "a number", "\"" + text + "\"");
  return v;
}

// Finds the image for an annotation without <filename>: JPEGImages/<stem>.* holding image bytes.
Result<fs::path> image_by_stem(const fs::path& images, const std::string& stem, const std::string& xml) {
  auto files = list_files(images);
  if (!files) return tl::unexpected(files.error());
  for (const auto& f : *files)
    if (f.stem() == stem && is_image_file(f)) return f;
  return fail(ErrorCode::kNotFound, xml, "an image " + stem + ".* in " + images.string(), "none");
}

Result<LabelledField> parse_voc_xml(const fs::path& xml_path, const fs::path& images) {
  const std::string file = xml_path.string();
  tinyxml2::XMLDocument doc;
  if (doc.LoadFile(file.c_str()) != tinyxml2::XML_SUCCESS) {
    // ErrorStr() is "Error=<name> ErrorID=<n> (0x..) Line number=<n>[: <detail>]": keep the detail.
    const std::string full = doc.ErrorStr();
    const auto colon = full.find(": ");
    return fail(ErrorCode::kCorruptInput, file + ":" + std::to_string(doc.ErrorLineNum()),
                "well-formed XML",
                std::string(doc.ErrorName()) +
                    (colon == std::string::npos ? "" : " (" + full.substr(colon + 2) + ")"));
  }
  const tinyxml2::XMLElement* root = doc.RootElement();
  if (!root || std::string(root->Name()) != "annotation")
    return fail(ErrorCode::kInvalidArgument, file, "an <annotation> root element",
                root ? "<" + std::string(root->Name()) + ">" : "none");
  LabelledField out;
  std::string filename;
  if (child_text(root, "filename", filename) && !filename.empty()) {
    out.field.image_path = (images / filename).string();
  } else {
    auto found = image_by_stem(images, xml_path.stem().string(), file);
    if (!found) return tl::unexpected(found.error());
    out.field.image_path = found->string();
  }
  if (const auto* size = root->FirstChildElement("size")) {
    auto w = child_number(size, "width", file, "<size>");
    if (!w) return tl::unexpected(w.error());
    auto h = child_number(size, "height", file, "<size>");
    if (!h) return tl::unexpected(h.error());
    if (*w < 0 || *h < 0 || *w > 1e6 || *h > 1e6)
      return fail(ErrorCode::kInvalidArgument, at_line(file, size) + ": <size>",
                  "a width and height >= 0", std::to_string(*w) + "x" + std::to_string(*h));
    out.field.width = static_cast<int>(*w);
    out.field.height = static_cast<int>(*h);
  }
  for (const auto* obj = root->FirstChildElement("object"); obj;
       obj = obj->NextSiblingElement("object")) {
    LabelledBox o;
    o.where = at_line(file, obj) + ": <object>/<name>";
    if (!child_text(obj, "name", o.label) || o.label.empty())
      return fail(ErrorCode::kInvalidArgument, at_line(file, obj) + ": <object>/<name>",
                  "a class name", "none");
    const auto* bnd = obj->FirstChildElement("bndbox");
    if (!bnd)
      return fail(ErrorCode::kInvalidArgument, at_line(file, obj) + ": <object>/<bndbox>",
                  "an element", "none");
    double v[4];
    static const char* kNames[4] = {"xmin", "ymin", "xmax", "ymax"};
    for (int i = 0; i < 4; ++i) {
      auto n = child_number(bnd, kNames[i], file, "<object>/<bndbox>");
      if (!n) return tl::unexpected(n.error());
      v[i] = *n;
    }
    if (v[2] <= v[0] || v[3] <= v[1])
      return fail(ErrorCode::kInvalidArgument, at_line(file, bnd) + ": <object>/<bndbox>",
                  "xmax > xmin and ymax > ymin",
                  "xmin=" + format_float(float(v[0])) + " xmax=" + format_float(float(v[2])) +
                      " ymin=" + format_float(float(v[1])) + " ymax=" + format_float(float(v[3])));
    o.box = Box{float(v[0]), float(v[1]), float(v[2]), float(v[3])};
    out.boxes.push_back(std::move(o));
  }
  return out;
}

// id -> split from ImageSets/Main/<split>.txt. VOC's trainval.txt repeats train.txt + val.txt, so
// it is used only when neither of those exists; class files (<class>_<split>.txt) are skipped.
Result<std::map<std::string, std::string>> read_image_sets(const fs::path& dir) {
  std::map<std::string, std::string> split_of;
  const fs::path sets = dir / "ImageSets" / "Main";
  std::error_code ec;
  if (!fs::is_directory(sets, ec)) return split_of;
  auto files = list_files(sets);
  if (!files) return tl::unexpected(files.error());
  std::set<std::string> names;
  for (const auto& f : *files)
    if (f.extension() == ".txt" && f.stem().string().find('_') == std::string::npos)
      names.insert(f.stem().string());
  if (names.count("trainval") && (names.count("train") || names.count("val"))) names.erase("trainval");
  for (const auto& name : names) {
    const fs::path list = sets / (name + ".txt");
    auto text = read_text_file(list);
    if (!text) return tl::unexpected(text.error());
    std::istringstream lines(*text);
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      std::istringstream tok(line);
      std::string id;
      if (!(tok >> id)) continue;
      auto [it, inserted] = split_of.emplace(id, name);
      if (!inserted)
        return fail(ErrorCode::kInvalidArgument, list.string() + ":" + std::to_string(n),
                    "an id in one split only", "\"" + id + "\" also in " + it->second + ".txt");
    }
  }
  return split_of;
}

void add_text(tinyxml2::XMLDocument& doc, tinyxml2::XMLElement* parent, const char* name,
              const std::string& text) {
  auto* e = doc.NewElement(name);
  e->SetText(text.c_str());
  parent->InsertEndChild(e);
}

}  // namespace

Result<FieldDataset> read_voc(const std::string& dir_name, const std::string& split) {
  const fs::path dir(dir_name);
  auto split_of = read_image_sets(dir);
  if (!split_of) return tl::unexpected(split_of.error());
  if (!split.empty()) {
    bool any = false;
    for (const auto& [id, s] : *split_of) any = any || s == split;
    if (!any)
      return fail(ErrorCode::kNotFound, (dir / "ImageSets" / "Main" / (split + ".txt")).string(),
                  "a list of the ids in split " + split, "no such list (or an empty one)");
  }
  auto xmls = list_files(dir / "Annotations");
  if (!xmls) return tl::unexpected(xmls.error());
  std::vector<LabelledField> files;
  std::set<std::string> seen_ids;
  for (const auto& x : *xmls) {
    if (x.extension() != ".xml") continue;
    const std::string id = x.stem().string();
    seen_ids.insert(id);
    auto it = split_of->find(id);
    const std::string field_split = it == split_of->end() ? "" : it->second;
    if (!split.empty() && field_split != split) continue;
    auto f = parse_voc_xml(x, dir / "JPEGImages");
    if (!f) return tl::unexpected(f.error());
    f->field.split = field_split;
    if (auto ok = fill_field_size(f->field); !ok) return tl::unexpected(ok.error());
    files.push_back(std::move(*f));
  }
  for (const auto& [id, s] : *split_of)
    if ((split.empty() || s == split) && !seen_ids.count(id))
      return fail(ErrorCode::kNotFound, (dir / "ImageSets" / "Main" / (s + ".txt")).string(),
                  "Annotations/" + id + ".xml for the listed id " + id, "no such file");
  return resolve_labels(dir, std::move(files));
}

Result<WriteSummary> write_voc(const FieldDataset& ds, const std::string& dir_name) {
  const fs::path dir(dir_name);
  for (const auto& f : ds.fields)
    if (f.split.find('_') != std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "VOC split of " + f.image_path,
                  "a name without '_' (readers take <class>_<split>.txt for per-class lists)",
                  "\"" + f.split + "\"");
  // VOC keeps every split in one JPEGImages/Annotations pair, so ids must be unique overall.
  auto summary = begin_field_write(ds, dir, /*per_split=*/false, "VOC id");
  if (!summary) return summary;
  for (const char* sub : {"Annotations", "JPEGImages"})
    if (auto ok = make_dirs(dir / sub); !ok) return tl::unexpected(ok.error());
  std::map<std::string, std::string> split_lists;
  for (Field field : ds.fields) {
    if (auto ok = fill_field_size(field); !ok) return tl::unexpected(ok.error());
    const fs::path src(field.image_path);
    auto placed = link_or_copy(src, dir / "JPEGImages" / src.filename());
    if (!placed) return tl::unexpected(placed.error());
    count_placement(*summary, *placed);

    tinyxml2::XMLDocument doc;
    auto* root = doc.NewElement("annotation");
    doc.InsertEndChild(root);
    add_text(doc, root, "folder", "JPEGImages");
    add_text(doc, root, "filename", src.filename().string());
    auto* size = doc.NewElement("size");
    root->InsertEndChild(size);
    add_text(doc, size, "width", std::to_string(field.width));
    add_text(doc, size, "height", std::to_string(field.height));
    add_text(doc, root, "segmented", "0");
    for (const auto& b : field.boxes) {
      auto* obj = doc.NewElement("object");
      root->InsertEndChild(obj);
      add_text(doc, obj, "name", ds.classes[b.class_id]);
      add_text(doc, obj, "pose", "Unspecified");
      add_text(doc, obj, "truncated", "0");
      add_text(doc, obj, "difficult", "0");
      auto* bnd = doc.NewElement("bndbox");
      obj->InsertEndChild(bnd);
      add_text(doc, bnd, "xmin", format_float(b.box.x1));
      add_text(doc, bnd, "ymin", format_float(b.box.y1));
      add_text(doc, bnd, "xmax", format_float(b.box.x2));
      add_text(doc, bnd, "ymax", format_float(b.box.y2));
      ++summary->boxes;
    }
    const fs::path xml = dir / "Annotations" / (src.stem().string() + ".xml");
    if (doc.SaveFile(xml.string().c_str()) != tinyxml2::XML_SUCCESS)
      return fail(ErrorCode::kIo, xml.string() + ": cannot write file: " + doc.ErrorStr());
    ++summary->annotation_files;
    ++summary->images;
    if (!field.split.empty()) split_lists[field.split] += src.stem().string() + "\n";
  }
  if (!split_lists.empty()) {
    if (auto ok = make_dirs(dir / "ImageSets" / "Main"); !ok) return tl::unexpected(ok.error());
    for (const auto& [name, ids] : split_lists)
      if (auto ok = write_text_file(dir / "ImageSets" / "Main" / (name + ".txt"), ids); !ok)
        return tl::unexpected(ok.error());
  }
  return summary;
}

}  // namespace ms
