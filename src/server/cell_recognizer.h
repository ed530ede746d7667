#pragma once
// Classifying single-cell crops without detection (the thesis's recognition module). An analysis
// runner that can do this (server/pipeline_runner.h) also implements this interface; the server
// finds it with a dynamic_cast, so the store's AnalysisRunner stays free of image types.
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "pipeline/cell_image_scale.h"
#include "store/analysis_runner.h"

namespace ms::server {

class CellRecognizer {
 public:
  virtual ~CellRecognizer() = default;
  // crops_bgr: 8-bit BGR single-cell images of any size. One result per crop, in order: class,
  // probability, top-k, entropy, flagged; box is the crop's own bounds and det_score 1.
  // Must be safe to call from several threads at once.
  virtual Result<std::vector<store::AnalysedCell>> classify_crops(const std::vector<cv::Mat>& crops_bgr) = 0;
  // Single-cell images of any magnification and framing, framed as the field pipeline frames its
  // crops (pipeline/cell_image_scale.h: by the image's own red cells, else by a declared scale)
  // and then classified. framing[i] says how image i was framed. A recogniser without a detector
  // classifies them as they are.
  struct Framing {
    std::string source = "as_is";  // red_cells | declared | as_is
    float rbc_side_px = 0;         // the red-cell ruler used, in the image's pixels; 0 for as_is
  };
  virtual Result<std::vector<store::AnalysedCell>> classify_cell_images(const std::vector<cv::Mat>& images_bgr,
                                                                        const CellImageScale& scale,
                                                                        std::vector<Framing>& framing) {
    (void)scale;
    framing.assign(images_bgr.size(), Framing{});
    return classify_crops(images_bgr);
  }
  // The classifier's class ids, in its output order.
  virtual std::vector<std::string> classes() const = 0;
  // The classifier's version as analyses record it; empty when the recogniser has none.
  virtual std::string classifier_version() const { return ""; }
};

}  // namespace ms::server
