// Pipeline::frame_cell_images and classify_cell_images (pipeline/cell_image_scale.h): single-cell
// images framed like the field pipeline's crops before they are classified.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pipeline/pipeline.h"

namespace ms {

std::vector<FramedCell> Pipeline::frame_cell_images(const std::vector<cv::Mat>& images, const CellImageScale& scale) {
  std::vector<FramedCell> out(images.size());
  std::vector<std::vector<CellResult>> cells(images.size());
  std::vector<float> rbc_sides(images.size(), 0.f);
  if (scale.from_red_cells) cells = detect_cells(images, rbc_sides);
  for (size_t i = 0; i < images.size(); ++i) {
    const cv::Mat& img = images[i];
    FramedCell& f = out[i];
    const bool own = i < scale.um_per_px_each.size() && scale.um_per_px_each[i] > 0;
    const float declared = red_cell_side_px(own ? scale.um_per_px_each[i] : scale.um_per_px);
    const float cx = img.cols / 2.f, cy = img.rows / 2.f;
    f.box = Box{cx - 1.f, cy - 1.f, cx + 1.f, cy + 1.f};
    float best = std::numeric_limits<float>::max();
    for (const auto& c : cells[i]) {
      const float d = std::hypot(c.box.cx() - cx, c.box.cy() - cy);
      if (d < best) {
        best = d;
        f.box = c.box;
        f.cell_found = true;
      }
    }
    if (rbc_sides[i] > 0.f) {
      f.source = "red_cells";
      f.rbc_side_px = rbc_sides[i];
    } else if (declared > 0.f) {
      f.source = "declared";
      f.rbc_side_px = declared;
    } else {
      f.crop = img;
      continue;
    }
    const float side = options_.crop_rbc_sides * f.rbc_side_px;
    const float longer = std::max(1.f, std::max(f.box.width(), f.box.height()));
    f.crop = crop_square(img, f.box, std::max(0.f, 0.5f * (side / longer - 1.f)), border_median_colour(img));
  }
  return out;
}

std::vector<CellResult> Pipeline::classify_cell_images(const std::vector<cv::Mat>& images, const CellImageScale& scale,
                                                       std::vector<FramedCell>* framing) {
  auto framed = frame_cell_images(images, scale);
  std::vector<cv::Mat> crops;
  crops.reserve(framed.size());
  for (const auto& f : framed) crops.push_back(f.crop);
  auto results = classify_crops(crops);
  for (size_t i = 0; i < results.size(); ++i) results[i].box = framed[i].box;
  if (framing) *framing = std::move(framed);
  return results;
}

}  // namespace ms
