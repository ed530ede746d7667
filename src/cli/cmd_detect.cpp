// `marrowscope detect`: cells in field images, as text or JSON, optionally drawn.
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cli/app.h"
#include "core/config.h"
#include "core/image.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"

namespace ms::cli {
namespace {

namespace fs = std::filesystem;

cv::Scalar class_colour(int class_id) {
  static const cv::Scalar palette[] = {{60, 20, 220}, {60, 180, 60}, {220, 120, 0}, {0, 200, 255}, {200, 0, 200}};
  return palette[static_cast<size_t>(class_id) % (sizeof palette / sizeof palette[0])];
}

cv::Mat draw(const cv::Mat& image, const std::vector<Detection>& dets, const std::vector<std::string>& classes) {
  cv::Mat out = image.clone();
  const int thick = std::max(1, std::min(image.cols, image.rows) / 300);
  for (const auto& d : dets) {
    const cv::Scalar c = class_colour(d.class_id);
    cv::rectangle(out, cv::Point(static_cast<int>(d.box.x1), static_cast<int>(d.box.y1)),
                  cv::Point(static_cast<int>(d.box.x2), static_cast<int>(d.box.y2)), c, thick);
    cv::putText(out, fmt::format("{} {:.2f}", classes.at(static_cast<size_t>(d.class_id)), d.score),
                cv::Point(static_cast<int>(d.box.x1), std::max(10, static_cast<int>(d.box.y1) - 3)),
                cv::FONT_HERSHEY_SIMPLEX, 0.4 * thick, c, thick);
  }
  return out;
}

}  // namespace

void register_detect(CLI::App& app) {
  struct Args {
    std::vector<std::string> images;
    std::string model, draw_dir, device = "cpu";
    bool json = false;
    float min_score = 0.3f;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("detect", "Detect cells in field images");
  cmd->add_option("IMAGE", args->images, "field images (any format OpenCV decodes; read by content)")->required();
  cmd->add_option("--model", args->model, "detector folder; default: the shipped one");
  cmd->add_flag("--json", args->json, "print JSON instead of text");
  cmd->add_option("--draw", args->draw_dir, "write <OUT_DIR>/<name>.det.png with the boxes drawn");
  cmd->add_option("--min-score", args->min_score, "hide detections below this score (default 0.3)");
  cmd->add_option("--device", args->device, "cpu | cuda[:N]");
  cmd->callback([args] {
    init_torch_runtime();
    const std::string dir = args->model.empty() ? default_detector_dir() : args->model;
    auto det = DetectorPredictor::load(dir, args->device);
    if (!det) throw MarrowError(det.error());
    auto& predictor = **det;
    if (!args->draw_dir.empty()) {
      std::error_code ec;
      fs::create_directories(args->draw_dir, ec);
      if (ec) throw MarrowError(ErrorCode::kIo, args->draw_dir + ": cannot create folder: " + ec.message());
    }
    Json all = Json::array();
    int failures = 0;
    for (const auto& path : args->images) {
      auto img = read_image(path);
      if (!img) {
        ++failures;
        if (args->json) all.push_back({{"image", path}, {"error", img.error().message}});
        else std::cerr << "error: " << img.error().message << "\n";
        continue;
      }
      std::vector<Detection> dets;
      // Keep the batch alive: a range-for over detect(...).at(0) would iterate a reference into a
      // temporary destroyed before the loop body runs (it crashed `detect` on every image).
      const auto batch = predictor.detect({*img});
      for (const auto& d : batch.at(0))
        if (d.score >= args->min_score) dets.push_back(d);
      if (args->json) {
        Json list = Json::array();
        for (const auto& d : dets)
          list.push_back({{"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}},
                          {"class", predictor.classes().at(static_cast<size_t>(d.class_id))},
                          {"class_id", d.class_id},
                          {"score", d.score},
                          {"iou_pred", d.iou}});
        all.push_back({{"image", path}, {"width", img->cols}, {"height", img->rows}, {"detections", list}});
      } else {
        std::cout << path << ": " << dets.size() << " cells\n";
        for (const auto& d : dets)
          std::cout << fmt::format("  {:<9} {:.3f}  [{:.1f}, {:.1f}, {:.1f}, {:.1f}]\n",
                                   predictor.classes().at(static_cast<size_t>(d.class_id)), d.score, d.box.x1,
                                   d.box.y1, d.box.x2, d.box.y2);
      }
      if (!args->draw_dir.empty()) {
        const auto out = (fs::path(args->draw_dir) / (fs::path(path).stem().string() + ".det.png")).string();
        if (auto s = write_image(out, draw(*img, dets, predictor.classes())); !s) throw MarrowError(s.error());
      }
    }
    if (args->json) std::cout << all.dump(2) << "\n";
    if (failures > 0) throw MarrowError(ErrorCode::kCorruptInput, fmt::format("{} of {} images could not be read", failures, args->images.size()));
  });
}

}  // namespace ms::cli
