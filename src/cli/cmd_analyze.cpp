// `marrowscope analyze IMAGE_OR_DIR...`: detect, crop and classify every nucleated cell in each
// field, then count the differential. Unreadable files are reported and skipped; the exit status
// is non-zero only when nothing could be analysed.
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
#include "models/runtime.h"
#include "pipeline/field_json.h"
#include "pipeline/pipeline.h"
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
  std::vector<std::string> sets;
  bool quiet = false;
};

// Directories contribute their regular files whose first bytes are an image (sorted, recursive);
// a path named explicitly is always tried, so a bad one is reported.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> paths;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (!fs::is_directory(in, ec)) {
      paths.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::ifstream f(it->path(), std::ios::binary);
      std::uint8_t head[16] = {};
      f.read(reinterpret_cast<char*>(head), sizeof head);
      if (sniff_image_format(head, static_cast<size_t>(f.gcount())) != ImageFormat::kUnknown)
        found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    paths.insert(paths.end(), found.begin(), found.end());
  }
  return paths;
}

cv::Scalar hex_to_bgr(const std::string& hex) {
  if (hex.size() != 7 || hex[0] != '#') return {0, 200, 0};
  const long v = std::strtol(hex.c_str() + 1, nullptr, 16);
  return {double(v & 0xFF), double((v >> 8) & 0xFF), double((v >> 16) & 0xFF)};
}

std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

// Writes the per-field side outputs (crops, drawings, labelme JSON) for one analysed field.
void write_side_outputs(const AnalyzeArgs& a, const Pipeline& pipeline, const Taxonomy& taxonomy,
                        const FieldResult& r) {
  if (a.crops_dir.empty() && a.draw_dir.empty() && a.labelme_dir.empty()) return;
  auto image = read_image(r.image);
  if (!image) return;
  const std::string stem = stem_of(r.image);
  if (!a.crops_dir.empty()) {
    for (size_t i = 0; i < r.cells.size(); ++i) {
      const auto& c = r.cells[i];
      const fs::path dir = fs::path(a.crops_dir) / c.class_name;
      fs::create_directories(dir);
      value_or_throw(write_image((dir / (stem + "_" + std::to_string(i) + ".png")).string(),
                                 pipeline.crop(*image, c.box)));
    }
  }
  if (!a.draw_dir.empty()) {
    cv::Mat canvas = image->clone();
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
    fs::create_directories(a.draw_dir);
    value_or_throw(write_image((fs::path(a.draw_dir) / (stem + ".jpg")).string(), canvas));
  }
  if (!a.labelme_dir.empty()) {
    // labelme 5 rectangle shapes; imagePath relative to the JSON so labelme opens the field.
    fs::create_directories(a.labelme_dir);
    const fs::path json_path = fs::path(a.labelme_dir) / (stem + ".json");
    Json shapes = Json::array();
    for (const auto& c : r.cells)
      shapes.push_back({{"label", c.class_name},
                        {"points", {{c.box.x1, c.box.y1}, {c.box.x2, c.box.y2}}},
                        {"group_id", nullptr},
                        {"description", "probability " + std::to_string(c.probability)},
                        {"shape_type", "rectangle"},
                        {"flags", Json::object()}});
    const std::string rel = fs::relative(fs::absolute(r.image), fs::absolute(a.labelme_dir)).string();
    Json doc = {{"version", "5.0.1"}, {"flags", Json::object()}, {"shapes", shapes},
                {"imagePath", rel}, {"imageData", nullptr}, {"imageHeight", r.height},
                {"imageWidth", r.width}};
    value_or_throw(write_json_file(json_path.string(), doc));
  }
}

int run_analyze(const AnalyzeArgs& a) {
  init_torch_runtime();
  const auto t0 = std::chrono::steady_clock::now();
  Json overrides = Json::object();
  for (const auto& s : a.sets) value_or_throw(apply_override(overrides, s));
  PipelineOptions options = config_from_json<PipelineOptions>(
      overrides.contains("pipeline") ? overrides["pipeline"] : Json::object(), "--set pipeline");
  const Specimen specimen = value_or_throw(parse_specimen(a.specimen));
  const Taxonomy taxonomy = value_or_throw(
      load_taxonomy(a.taxonomy.empty() ? config_path("taxonomy/pbc11.json") : a.taxonomy));
  auto pipeline = value_or_throw(Pipeline::load(
      a.detector.empty() ? default_model_dir("detector") : a.detector,
      a.classifier.empty() ? default_model_dir("classifier") : a.classifier, options, a.device));

  const auto paths = expand_inputs(a.inputs);
  if (paths.empty()) throw MarrowError(ErrorCode::kNotFound, "analyze: no image files in the inputs");
  Json images = Json::array();
  std::map<std::string, int> counts;
  size_t analysed = 0, failed = 0, cells = 0, flagged = 0;
  std::ofstream csv;
  if (!a.csv_out.empty()) {
    csv.open(a.csv_out, std::ios::binary | std::ios::trunc);
    if (!csv) throw MarrowError(ErrorCode::kIo, a.csv_out + ": cannot write file");
    csv << cells_csv_header();
  }
  pipeline->analyze_files(paths, [&](FieldResult&& r) {
    if (r.ok()) {
      ++analysed;
      cells += r.cells.size();
      for (const auto& c : r.cells) {
        ++counts[c.class_name];
        flagged += c.flagged ? 1 : 0;
      }
      write_side_outputs(a, *pipeline, taxonomy, r);
      if (csv) csv << cells_to_csv_rows(r);
    } else {
      ++failed;
      std::cerr << "skipped " << r.image << ": " << r.error << "\n";
    }
    images.push_back(field_to_json(r));
    if (!a.quiet) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[%zu/%zu] %zu cells, %.1f fields/s   ", analysed + failed, paths.size(), cells,
                   (analysed + failed) / std::max(s, 1e-9));
    }
  });
  if (!a.quiet) std::fprintf(stderr, "\n");

  DifferentialInput din;
  din.counts = counts;
  din.specimen = specimen;
  din.unreviewed = static_cast<int>(cells);  // nothing is reviewed in a batch run
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
  cmd->add_option("--labelme", args->labelme_dir, "Write predictions as labelme JSON for correction");
  cmd->add_option("--detector", args->detector, "Detector model folder (default: shipped)");
  cmd->add_option("--classifier", args->classifier, "Classifier model folder (default: shipped)");
  cmd->add_option("--taxonomy", args->taxonomy, "Taxonomy JSON (default: configs/taxonomy/pbc11.json)");
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

}  // namespace ms::cli
