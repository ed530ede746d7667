// `marrowscope eval-detector`: COCO-style AP of a detector folder on annotated fields.
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/app.h"
#include "core/config.h"
#include "engine/detector/detector_evaluator.h"
#include "engine/detector/field_source.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"

namespace ms::cli {

void register_eval_detector(CLI::App& app) {
  struct Args {
    std::string model, data, format = "yolo", split, class_map, json, device = "cpu";
    int batch = 4;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval-detector", "Evaluate a detector (AP, AP50, AP75, AP90, AR100) on annotated fields");
  cmd->add_option("--model", args->model, "detector folder (model.pt + model.json); default: the shipped one");
  cmd->add_option("--data", args->data, "dataset folder (COCO: the JSON file)")->required();
  cmd->add_option("--format", args->format, "yolo | voc | coco | labelme");
  cmd->add_option("--split", args->split, "split to read (YOLO: images/<split>, labels/<split>)");
  cmd->add_option("--class-map", args->class_map,
                  "dataset class -> model class, 'Platelets=Platelet,RBC=' (empty target ignores the class); "
                  "names like 'White Blood Cell (WBC)' also match the model class in parentheses");
  cmd->add_option("--json", args->json, "write the metrics JSON here")->required();
  cmd->add_option("--batch", args->batch, "images per forward pass");
  cmd->add_option("--device", args->device, "cpu | cuda[:N]");
  cmd->callback([args] {
    init_torch_runtime();
    const std::string dir = args->model.empty() ? default_detector_dir() : args->model;
    auto det = DetectorPredictor::load(dir, args->device);
    if (!det) throw MarrowError(det.error());
    auto& predictor = **det;
    auto fields = read_detection_fields({args->data, args->format, args->split, args->class_map}, predictor.classes());
    if (!fields) throw MarrowError(fields.error());
    DetectionEvalOptions eo;
    eo.classes = predictor.classes();
    auto ev = evaluate_fields([&](const std::vector<cv::Mat>& imgs) { return predictor.detect(imgs); }, *fields,
                              args->batch, eo);
    if (!ev) throw MarrowError(ev.error());
    Json j = detection_metrics_json(ev->metrics);
    j["images"] = ev->images;
    j["images_per_second"] = ev->images_per_second;
    j["model"] = dir;
    j["model_version"] = predictor.version();
    j["data"] = args->data;
    j["split"] = args->split;
    if (auto s = write_json_file(args->json, j); !s) throw MarrowError(s.error());
    std::cout << fmt::format("{} images, {:.2f} images/s: AP {:.4f} AP50 {:.4f} AP75 {:.4f} AP90 {:.4f} AR100 {:.4f}\n",
                             ev->images, ev->images_per_second, ev->metrics.ap, ev->metrics.ap50, ev->metrics.ap75,
                             ev->metrics.ap90, ev->metrics.ar100);
    for (const auto& c : ev->metrics.per_class)
      std::cout << fmt::format("  {:<10} AP {:.4f} AP50 {:.4f} AP75 {:.4f} AP90 {:.4f} AR100 {:.4f} ({} boxes)\n", c.name,
                               c.ap, c.ap50, c.ap75, c.ap90, c.ar100, c.num_truth);
    std::cout << "metrics written to " << args->json << "\n";
  });
}

}  // namespace ms::cli
