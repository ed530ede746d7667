// `marrowscope stats`: what a dataset holds (images, sizes, boxes or cells per class).
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/app.h"
#include "core/config.h"
#include "core/error.h"
#include "data/dataset_stats.h"
#include "data/formats/formats.h"

namespace ms::cli {

namespace {
struct StatsArgs {
  std::string dataset, format, split, images, json_out;
};

void run_stats(const StatsArgs& a) {
  const AnnotationFormat format = a.format.empty()
                                      ? value_or_throw(detect_annotation_format(a.dataset))
                                      : value_or_throw(parse_annotation_format(a.format));
  DatasetStats s;
  if (format == AnnotationFormat::kFolder) {
    if (!a.split.empty())
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "--split: expected no split for a folder-per-class tree, found " + a.split);
    s = value_or_throw(cell_stats(value_or_throw(read_folder_tree(a.dataset))));
  } else {
    FieldReadOptions options;
    options.split = a.split;
    options.image_root = a.images;
    s = field_stats(value_or_throw(read_fields(format, a.dataset, options)));
  }
  s.format = std::string(annotation_format_name(format));
  s.split = a.split;
  std::cout << "dataset: " << a.dataset << (a.format.empty() ? " (format detected)" : "") << "\n"
            << stats_to_text(s);
  if (!a.json_out.empty()) {
    value_or_throw(write_json_file(a.json_out, stats_to_json(s)));
    std::cout << "wrote " << a.json_out << "\n";
  }
}
}  // namespace

void register_stats(CLI::App& app) {
  auto args = std::make_shared<StatsArgs>();
  auto* cmd = app.add_subcommand(
      "stats", "Count images, image sizes, and boxes or cells per class in a dataset");
  cmd->add_option("DATASET", args->dataset, "Dataset folder, or a COCO .json file")->required();
  cmd->add_option("--format", args->format,
                  "yolo|voc|coco|labelme|folder; detected when absent: a .json file is coco; a "
                  "folder with images/ and labels/ is yolo, with Annotations/ voc, with labelme "
                  "*.json files labelme, with image sub-folders folder");
  cmd->add_option("--split", args->split, "Count only this split");
  cmd->add_option("--images", args->images,
                  "coco: folder its file_name entries are relative to (default: the JSON's)");
  cmd->add_option("--json", args->json_out, "Also write the counts as JSON to this file");
  cmd->callback([args] { run_stats(*args); });
}

}  // namespace ms::cli
