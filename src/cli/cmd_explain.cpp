// `marrowscope explain IMAGE --out PNG`: what the classifier looked at in one cell (attention
// rollout and the part-selection patches for a ViT, Grad-CAM for a CNN; thesis fig. 5.7-5.8).
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/app.h"
#include "core/config.h"
#include "core/image.h"
#include "engine/classifier/classifier_explain.h"
#include "models/runtime.h"

namespace ms::cli {

void register_explain(CLI::App& app) {
  struct Args {
    std::string image, out, model, device = "cpu", method = "auto", target;
    int scale = 4;
    double alpha = 0.5;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "explain", "Overlay what the classifier attends to on one cell (ViT: attention rollout + parts "
                 "chosen by part selection; CNN: Grad-CAM)");
  cmd->add_option("image", a->image, "single-cell image (any format, decoded by content)")->required();
  cmd->add_option("--out", a->out, "PNG to write: the model's input view, scaled by --scale")->required();
  cmd->add_option("--model", a->model, "classifier folder (default: the shipped one)");
  cmd->add_option("--method", a->method, "auto | rollout | attention | gradcam (auto: rollout for ViT, gradcam for CNN)");
  cmd->add_option("--class", a->target, "explain this class instead of the predicted one");
  cmd->add_option("--scale", a->scale, "output pixels per input pixel (default 4)");
  cmd->add_option("--alpha", a->alpha, "weight of the heat colours, 0..1 (default 0.5)");
  cmd->add_flag("--json", a->json, "print the result as JSON");
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->callback([a] {
    init_torch_runtime();
    ExplainOptions o;
    o.scale = a->scale;
    o.alpha = a->alpha;
    bool known = false;
    for (const auto& [value, name] : enum_names(ExplainMethod{}))
      if (name == a->method) o.method = value, known = true;
    if (!known)
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "--method: expected auto|rollout|attention|gradcam, found \"" + a->method + "\"");
    auto img = read_image(a->image);
    if (!img) throw MarrowError(img.error());
    const std::string dir = a->model.empty() ? default_classifier_dir() : a->model;
    auto pred = ClassifierPredictor::load(dir, a->device);
    if (!pred) throw MarrowError(pred.error());
    const auto& classes = (*pred)->classes();
    if (!a->target.empty()) {
      const auto it = std::find(classes.begin(), classes.end(), a->target);
      if (it == classes.end())
        throw MarrowError(ErrorCode::kInvalidArgument,
                          "--class: expected one of the model's classes, found \"" + a->target + "\"");
      o.target_class = static_cast<int>(it - classes.begin());
    }
    auto e = explain_cell(**pred, *img, o);
    if (!e) throw MarrowError(e.error());
    if (auto s = write_image(a->out, e->overlay); !s) throw MarrowError(s.error());
    Json patches = Json::array();
    for (size_t i = 0; i < e->selected_tokens.size(); ++i) {
      const auto& r = e->selected_patches[i];
      patches.push_back({{"head", i}, {"token", e->selected_tokens[i]}, {"x", r.x}, {"y", r.y},
                         {"width", r.width}, {"height", r.height}});
    }
    Json j = {{"image", a->image},
              {"out", a->out},
              {"method", e->method},
              {"class", classes[e->class_id]},
              {"probability", e->probability},
              {"predicted", classes[e->predicted]},
              {"input_size", e->view.cols},
              {"scale", o.scale},
              {"selected_patches", patches}};
    if (a->json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << a->image << ": " << classes[e->predicted] << " (" << e->probability << "), "
                << e->method << " overlay " << e->overlay.cols << "x" << e->overlay.rows << " ("
                << e->view.cols << " px input x" << o.scale << ")";
      if (!patches.empty()) std::cout << ", " << patches.size() << " selected patches outlined";
      std::cout << " -> " << a->out << "\n";
    }
  });
}

}  // namespace ms::cli
