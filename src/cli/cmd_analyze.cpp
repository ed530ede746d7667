// `marrowscope analyze IMAGE_OR_DIR...`: detect, crop and classify every nucleated cell in each
// field, then count the differential. Unreadable files are reported and skipped; the exit status
// is non-zero only when nothing could be analysed.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <opencv2/imgproc.hpp>

#include "cli/app.h"
#include "core/config.h"
#include "core/image.h"
#include "core/paths.h"
#include "data/formats/formats.h"
#include "models/runtime.h"
#include "pipeline/field_json.h"
#include "pipeline/pipeline.h"
#include "pipeline/slide_analysis.h"
#include "report/differential.h"
#include "report/rule_set.h"
#include "report/taxonomy.h"

namespace ms::cli {
namespace fs = std::filesystem;

namespace {

struct AnalyzeArgs {
  std::vector<std::string> inputs;
  std::string json_out, csv_out, crops_dir, draw_dir, labelme_dir;
  std::string detector, classifier, taxonomy, specimen = "peripheral_blood", device = "cpu";
  std::string region, region_um;  // a whole slide's rectangle: level-0 pixels or microns
  std::vector<std::string> sets;
  bool quiet = false;
};

// One input field: its path as given (joined with the directory it was found in) and the
// sub-folder of that directory it came from ("" for a file named on the command line), which
// keeps side outputs of equally named fields in different folders apart.
struct InputField {
  std::string path;
  std::string sub_dir;
};

// Directories contribute their regular image files (sorted, recursive); a path named explicitly
// is always tried, so a bad one is reported. In a directory, a file is a field when its first
// bytes are an image or its name says it is one, so a broken "x.png" is reported while a label
// file or README beside the fields is passed over in silence.
std::vector<InputField> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<InputField> paths;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (!fs::is_directory(in, ec)) {
      paths.push_back({in, ""});
      continue;
    }
    std::vector<InputField> found;
    for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::ifstream f(it->path(), std::ios::binary);
      std::uint8_t head[16] = {};
      f.read(reinterpret_cast<char*>(head), sizeof head);
      if (has_image_extension(it->path().string()) ||
          sniff_image_format(head, static_cast<size_t>(f.gcount())) != ImageFormat::kUnknown)
        found.push_back({it->path().string(), it->path().parent_path().lexically_relative(in).string()});
    }
    for (auto& f : found)
      if (f.sub_dir == ".") f.sub_dir.clear();
    std::sort(found.begin(), found.end(), [](const InputField& a, const InputField& b) { return a.path < b.path; });
    paths.insert(paths.end(), found.begin(), found.end());
  }
  return paths;
}

cv::Scalar hex_to_bgr(const std::string& hex) {
  if (hex.size() != 7 || hex[0] != '#') return {0, 200, 0};
  const long v = std::strtol(hex.c_str() + 1, nullptr, 16);
  return {double(v & 0xFF), double((v >> 8) & 0xFF), double((v >> 16) & 0xFF)};
}

// Writes the per-field crops and drawing for one analysed field (image: the decoded field).
void write_side_outputs(const AnalyzeArgs& a, const Pipeline& pipeline, const Taxonomy& taxonomy,
                        const InputField& in, const FieldResult& r, const cv::Mat& image) {
  const std::string stem = fs::path(r.image).stem().string();
  if (!a.crops_dir.empty()) {
    // DIR/<class>/<sub_dir with '_' for '/'>_<stem>_<cell>.png: a folder-per-class tree that
    // train-classifier reads as it is.
    std::string prefix = in.sub_dir;
    std::replace(prefix.begin(), prefix.end(), '/', '_');
    if (!prefix.empty()) prefix += "_";
    for (size_t i = 0; i < r.cells.size(); ++i) {
      const auto& c = r.cells[i];
      const fs::path dir = fs::path(a.crops_dir) / c.class_name;
      fs::create_directories(dir);
      value_or_throw(write_image((dir / (prefix + stem + "_" + std::to_string(i) + ".png")).string(),
                                 pipeline.crop(image, c.box, r.rbc_side)));
    }
  }
  if (!a.draw_dir.empty()) {
    cv::Mat canvas = image.clone();
    for (const auto& c : r.cells) {
      const CellClass* cls = taxonomy.find(c.class_name);
      const cv::Scalar colour = hex_to_bgr(cls ? cls->colour : "");
      cv::rectangle(canvas, cv::Point(int(c.box.x1), int(c.box.y1)), cv::Point(int(c.box.x2), int(c.box.y2)),
                    colour, 2);
      char label[96];
      std::snprintf(label, sizeof label, "%s %.2f%s", c.class_name.c_str(), c.probability, c.flagged ? " ?" : "");
      cv::putText(canvas, label, cv::Point(int(c.box.x1), std::max(12, int(c.box.y1) - 4)),
                  cv::FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv::LINE_AA);
    }
    const fs::path dir = fs::path(a.draw_dir) / in.sub_dir;
    fs::create_directories(dir);
    value_or_throw(write_image((dir / (stem + ".jpg")).string(), canvas));
  }
}

// The predictions as an annotated field for the labelme writer: one rectangle per cell labelled
// with its suggested class, in the split (sub-folder) the field came from.
Field labelme_field(const InputField& in, const FieldResult& r, const std::vector<std::string>& classes) {
  Field f;
  f.image_path = r.image;
  f.split = in.sub_dir;
  f.width = r.width;
  f.height = r.height;
  for (const auto& c : r.cells) {
    const auto it = std::find(classes.begin(), classes.end(), c.class_name);
    f.boxes.push_back({c.box, static_cast<int>(it - classes.begin()), c.probability});
  }
  return f;
}

int run_analyze(const AnalyzeArgs& a) {
  init_torch_runtime();
  const auto t0 = std::chrono::steady_clock::now();
  Json overrides = Json::object();
  for (const auto& s : a.sets) {
    if (s.rfind("pipeline.", 0) != 0)
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "--set " + s + ": expected a key under pipeline. (e.g. pipeline.classify_batch=64)");
    value_or_throw(apply_override(overrides, s));
  }
  PipelineOptions options = config_from_json<PipelineOptions>(
      overrides.contains("pipeline") ? overrides["pipeline"] : Json::object(), "--set pipeline");
  const bool slide_mode = !a.region.empty() || !a.region_um.empty();
  if (slide_mode) {
    if (!a.region.empty() && !a.region_um.empty())
      throw MarrowError(ErrorCode::kInvalidArgument, "--region and --region-um: expected one of them, found both");
    if (a.inputs.size() != 1)
      throw MarrowError(ErrorCode::kInvalidArgument, "--region: expected one slide file, found " +
                                                         std::to_string(a.inputs.size()) + " inputs");
    if (!a.crops_dir.empty() || !a.draw_dir.empty() || !a.labelme_dir.empty())
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "--region: --crops, --draw and --labelme write whole fields; use --json or --csv for slides");
  }
  const auto inputs = slide_mode ? std::vector<InputField>{{a.inputs.front(), ""}} : expand_inputs(a.inputs);
  if (inputs.empty()) throw MarrowError(ErrorCode::kNotFound, "analyze: no image files in the inputs");
  const Specimen specimen = value_or_throw(parse_specimen(a.specimen));
  // Bone marrow defaults to the marrow vocabulary, blood to the classifier's own classes.
  const std::string taxonomy_path =
      !a.taxonomy.empty() ? a.taxonomy
                          : config_path(specimen == Specimen::kBoneMarrow ? "taxonomy/marrow.json" : "taxonomy/pbc11.json");
  const Taxonomy taxonomy = value_or_throw(load_taxonomy(taxonomy_path));
  auto pipeline = value_or_throw(Pipeline::load(
      a.detector.empty() ? default_model_dir("detector") : a.detector,
      a.classifier.empty() ? default_model_dir("classifier") : a.classifier, options, a.device));
  // Every class the classifier can say must be countable, or the differential would fail after
  // the whole batch had run.
  for (const auto& c : pipeline->cell_classes())
    if (!taxonomy.find(c))
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "--taxonomy " + taxonomy_path + ": expected every classifier class, found no \"" + c +
                            "\" (pass a taxonomy that names the classifier's classes)");

  std::vector<std::string> paths;
  for (const auto& in : inputs) paths.push_back(in.path);
  Json images = Json::array();
  std::map<std::string, int> counts;
  size_t analysed = 0, failed = 0, cells = 0, flagged = 0;
  // Output files may go to folders that do not exist yet.
  for (const auto& out : {a.json_out, a.csv_out}) {
    std::error_code ec;
    if (!out.empty() && fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path(), ec);
  }
  std::ofstream csv;
  if (!a.csv_out.empty()) {
    csv.open(a.csv_out, std::ios::binary | std::ios::trunc);
    if (!csv) throw MarrowError(ErrorCode::kIo, a.csv_out + ": cannot write file");
    csv << cells_csv_header();
  }
  FieldDataset labelme;
  labelme.classes = pipeline->cell_classes();
  size_t index = 0;
  const auto on_result = [&](FieldResult&& r, const cv::Mat& image) {
    const InputField& in = inputs[index++];
    if (r.ok()) {
      ++analysed;
      cells += r.cells.size();
      for (const auto& c : r.cells) {
        ++counts[c.class_name];
        flagged += c.flagged ? 1 : 0;
      }
      write_side_outputs(a, *pipeline, taxonomy, in, r, image);
      if (!a.labelme_dir.empty()) labelme.fields.push_back(labelme_field(in, r, labelme.classes));
      if (csv) csv << cells_to_csv_rows(r);
    } else {
      ++failed;
      std::fprintf(stderr, "%sskipped %s\n", a.quiet ? "" : "\r", r.error.c_str());
    }
    images.push_back(field_to_json(r));
    if (!a.quiet) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[%zu/%zu] %zu cells, %.1f fields/s   ", analysed + failed, paths.size(), cells,
                   (analysed + failed) / std::max(s, 1e-9));
    }
  };
  if (slide_mode) {
    // The region is read and analysed chunk by chunk; cells keep level-0 slide coordinates.
    const auto slide = value_or_throw(SlideReader::open(inputs.front().path));
    if (!a.region_um.empty() && slide->mpp() <= 0)
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "--region-um: " + inputs.front().path + " records no microns per pixel; use --region in pixels");
    const SlideRegion region = value_or_throw(a.region_um.empty()
                                                  ? parse_slide_region(a.region, slide->width(), slide->height())
                                                  : parse_slide_region(a.region_um, slide->width(), slide->height(),
                                                                       slide->mpp()));
    FieldResult r = value_or_throw(analyze_slide_region(*pipeline, *slide, region, {}, [&](size_t done, size_t total) {
      if (!a.quiet) std::fprintf(stderr, "\rchunk %zu/%zu   ", done, total);
      return true;
    }));
    if (!a.quiet) std::fprintf(stderr, "\n");
    on_result(std::move(r), cv::Mat());
  } else {
    pipeline->analyze_files(paths, on_result);
  }
  if (!a.quiet) std::fprintf(stderr, "\n");
  if (csv) {
    csv.flush();
    if (!csv) throw MarrowError(ErrorCode::kIo, a.csv_out + ": write failed");
  }

  DifferentialInput din;
  din.counts = counts;
  din.specimen = specimen;
  din.unreviewed = static_cast<int>(cells);  // nothing is reviewed in a batch run
  // Classes the classifier cannot name are review-only; blasts it cannot name are "not assessed".
  const auto classifier_classes = pipeline->cell_classes();
  din.classifier_classes.emplace(classifier_classes.begin(), classifier_classes.end());
  const Differential diff = value_or_throw(compute_differential(taxonomy, din));
  Json differential = differential_to_json(diff);
  Json suggestions = Json::array();
  for (const auto& s : suggest_all(diff)) suggestions.push_back(suggestion_to_json(s));
  differential["suggestions"] = suggestions;

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto versions = pipeline->versions();
  Json summary = {{"fields", analysed},
                  {"failed", failed},
                  {"cells", cells},
                  {"flagged", flagged},
                  {"seconds", seconds},
                  {"fields_per_second", analysed / std::max(seconds, 1e-9)},
                  {"cells_per_hour", cells / std::max(seconds, 1e-9) * 3600.0},
                  {"models", {{"detector", versions.detector}, {"classifier", versions.classifier}}}};
  if (!a.json_out.empty())
    value_or_throw(write_json_file(a.json_out, {{"images", images}, {"differential", differential},
                                                {"summary", summary}}));
  // After the JSON, so a labelme problem (two fields with one name in one folder) loses nothing.
  if (!a.labelme_dir.empty()) value_or_throw(write_labelme(labelme, a.labelme_dir));
  std::printf("%zu fields (%zu skipped), %zu cells (%zu flagged), %.2f s, %.1f fields/s, %.0f cells/hour\n",
              analysed, failed, cells, flagged, seconds, analysed / std::max(seconds, 1e-9),
              cells / std::max(seconds, 1e-9) * 3600.0);
  if (a.json_out.empty()) {
    for (const auto& row : diff.rows)
      if (row.count > 0) std::printf("  %-24s %5d  %s\n", row.id.c_str(), row.count, row.display.c_str());
  }
  return analysed > 0 ? 0 : 1;
}

}  // namespace

void register_analyze(CLI::App& app) {
  auto args = std::make_shared<AnalyzeArgs>();
  auto* cmd = app.add_subcommand("analyze", "Detect, classify and count the cells of smear fields");
  cmd->add_option("inputs", args->inputs, "Field images or directories of them")->required();
  cmd->add_option("--json", args->json_out, "Write images, cells, differential and summary as JSON");
  cmd->add_option("--csv", args->csv_out, "Write one CSV row per cell");
  cmd->add_option("--crops", args->crops_dir, "Write each cell's crop under DIR/<class>/");
  cmd->add_option("--draw", args->draw_dir, "Write each field with its boxes drawn");
  cmd->add_option("--labelme", args->labelme_dir, "Write predictions as labelme JSON, each beside a link to its field, for correction");
  cmd->add_option("--region", args->region, "Analyse this rectangle of one whole slide: x,y,w,h in level-0 pixels");
  cmd->add_option("--region-um", args->region_um, "As --region, in microns (the slide must record its microns per pixel)");
  cmd->add_option("--detector", args->detector, "Detector model folder (default: shipped)");
  cmd->add_option("--classifier", args->classifier, "Classifier model folder (default: shipped)");
  cmd->add_option("--taxonomy", args->taxonomy,
                  "Taxonomy JSON (default: configs/taxonomy/marrow.json for bone_marrow, pbc11.json for blood)");
  cmd->add_option("--specimen", args->specimen, "bone_marrow | peripheral_blood")
      ->check(CLI::IsMember({"bone_marrow", "peripheral_blood"}));
  cmd->add_option("--device", args->device, "cpu | cuda");
  cmd->add_option("--set", args->sets, "Override pipeline options, e.g. --set pipeline.classify_batch=64");
  cmd->add_flag("--quiet", args->quiet, "No progress line");
  cmd->callback([args] {
    const int rc = run_analyze(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
    if (ext == e) return true;
  return false;
}

}  // namespace ms::cli
