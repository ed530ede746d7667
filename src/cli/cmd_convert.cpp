// `marrowscope convert`: read annotated fields in one format, write them in another.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/app.h"
#include "core/error.h"
#include "data/formats/formats.h"

namespace ms::cli {

namespace {
struct ConvertArgs {
  std::string from, to, input, output, split, images, out_images;
};

void run_convert(const ConvertArgs& a) {
  const AnnotationFormat from = value_or_throw(parse_annotation_format(a.from));
  const AnnotationFormat to = value_or_throw(parse_annotation_format(a.to));
  FieldReadOptions read_options;
  read_options.split = a.split;
  read_options.image_root = a.images;
  const FieldDataset ds = value_or_throw(read_fields(from, a.input, read_options));
  std::size_t boxes = 0;
  for (const auto& f : ds.fields) boxes += f.boxes.size();
  std::cout << "read " << annotation_format_name(from) << " " << a.input << ": " << ds.fields.size()
            << " images, " << boxes << " boxes, " << ds.classes.size() << " classes"
            << (a.split.empty() ? "" : " (split " + a.split + ")") << "\n";
  FieldWriteOptions write_options;
  write_options.image_root = a.out_images;
  const WriteSummary w = value_or_throw(write_fields(ds, to, a.output, write_options));
  std::cout << "wrote " << annotation_format_name(to) << " " << w.destination << ": " << w.images
            << " images, " << w.boxes << " boxes, " << w.annotation_files << " annotation file"
            << (w.annotation_files == 1 ? "" : "s") << "\n";
  if (to != AnnotationFormat::kCoco)
    std::cout << "images: " << w.images_linked << " hard-linked, " << w.images_copied << " copied, "
              << w.images_already_present << " already there\n";
}
}  // namespace

void register_convert(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert annotated fields between YOLO, Pascal VOC, COCO and labelme");
  cmd->add_option("--from", args->from, "Input format: yolo|voc|coco|labelme")->required();
  cmd->add_option("--to", args->to, "Output format: coco|labelme|yolo|voc")->required();
  cmd->add_option("IN", args->input, "Input dataset folder (the .json file for coco)")->required();
  cmd->add_option("OUT", args->output, "Output folder (the .json file for coco)")->required();
  cmd->add_option("--split", args->split,
                  "Read only this split (yolo/voc/labelme); for coco input, the split to assign");
  cmd->add_option("--images", args->images,
                  "coco input: folder its file_name entries are relative to (default: the JSON's)");
  cmd->add_option("--out-images", args->out_images,
                  "coco output: folder to write file_name entries relative to (default: the JSON's)");
  cmd->callback([args] { run_convert(*args); });
}

}  // namespace ms::cli
