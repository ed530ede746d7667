#pragma once
// Synthetic detector data that a tiny RetinaNet learns in seconds (engine and CLI tests).
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>

#include "core/box.h"
#include "core/image.h"
#include "data/annotation.h"

namespace ms::testing {

// Fields of 128x128 grey-ish background with 1-3 discs: red discs (class 0, radius 14-22) and
// blue discs (class 1, radius 8-11); boxes are the discs' exact extents.
inline FieldDataset disc_fields(const std::string& dir, int count, uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  FieldDataset ds;
  ds.classes = {"red", "blue"};
  for (int i = 0; i < count; ++i) {
    cv::Mat img(128, 128, CV_8UC3, cv::Scalar(200, 205, 210));
    Field f;
    f.image_path = dir + "/f" + std::to_string(i) + ".png";
    f.width = f.height = 128;
    const int n = 1 + static_cast<int>(rng() % 3);
    std::vector<Box> placed;
    for (int k = 0; k < n; ++k) {
      const int cls = static_cast<int>(rng() % 2);
      const int r = cls == 0 ? 14 + static_cast<int>(rng() % 9) : 8 + static_cast<int>(rng() % 4);
      for (int attempt = 0; attempt < 20; ++attempt) {
        const int cx = r + static_cast<int>(rng() % static_cast<uint32_t>(128 - 2 * r));
        const int cy = r + static_cast<int>(rng() % static_cast<uint32_t>(128 - 2 * r));
        const Box b{static_cast<float>(cx - r), static_cast<float>(cy - r), static_cast<float>(cx + r + 1),
                    static_cast<float>(cy + r + 1)};
        bool overlaps = false;
        for (const auto& p : placed) overlaps = overlaps || iou(p, b) > 0.f;
        if (overlaps) continue;
        cv::circle(img, {cx, cy}, r, cls == 0 ? cv::Scalar(40, 40, 190) : cv::Scalar(170, 60, 30), cv::FILLED);
        placed.push_back(b);
        f.boxes.push_back({b, cls, 1.f});
        break;
      }
    }
    if (!write_image(f.image_path, img)) throw std::runtime_error("cannot write " + f.image_path);
    ds.fields.push_back(f);
  }
  return ds;
}

}  // namespace ms::testing
