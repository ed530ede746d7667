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
    std::vector<std::string> annotated;
    double score = 0.5;
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
  cmd->add_option("--annotated", args->annotated,
                  "model classes the data annotates completely (a reviewers' export: WBC); detections of the "
                  "others are not scored")->delimiter(',');
  cmd->add_option("--score-threshold", args->score,
                  "operating point for the recall / false boxes line (the pipeline keeps detections >= its "
                  "min_det_score, 0.6 for the shipped detector)");
  cmd->callback([args] {
    init_torch_runtime();
    const std::string dir = args->model.empty() ? default_detector_dir() : args->model;
    auto det = DetectorPredictor::load(dir, args->device);
    if (!det) throw MarrowError(det.error());
    auto& predictor = **det;
    auto fields = read_detection_fields({args->data, args->format, args->split, args->class_map}, predictor.classes());
    if (!fields) throw MarrowError(fields.error());
    std::vector<int> annotated;
    for (const auto& name : args->annotated) {
      const int k = fields->class_index(name);
      if (k < 0) throw MarrowError(ErrorCode::kInvalidArgument, "--annotated: '" + name + "' is not a class of the model");
      annotated.push_back(k);
    }
    for (auto& f : fields->fields) f.annotated_classes = annotated;
    DetectionEvalOptions eo;
    eo.classes = predictor.classes();
    eo.confusion_score_threshold = args->score;
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
    // At the operating point: each class's found share of its boxes (IoU >= 0.5) and the boxes
    // it gave where there was nothing (the confusion matrix's background row and column).
    const auto& cm = ev->metrics.confusion;
    const size_t bg = cm.labels.size() - 1;
    for (size_t k = 0; k < bg; ++k) {
      int64_t truth = 0;
      for (size_t p = 0; p <= bg; ++p) truth += cm.counts[k][p];
      if (truth == 0 && cm.counts[bg][k] == 0) continue;
      const int64_t found = truth - cm.counts[k][bg];
      std::cout << fmt::format("  {:<10} at score >= {}: found {} of {} ({:.4f}), false boxes {} ({:.3f} per field)\n",
                               cm.labels[k], cm.score_threshold, found, truth,
                               truth > 0 ? static_cast<double>(found) / static_cast<double>(truth) : 0.0,
                               cm.counts[bg][k],
                               static_cast<double>(cm.counts[bg][k]) / static_cast<double>(std::max<int64_t>(1, ev->images)));
    }
    std::cout << "metrics written to " << args->json << "\n";
  });
}

}  // namespace ms::cli
