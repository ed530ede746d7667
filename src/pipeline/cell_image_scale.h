#pragma once
// Single-cell images come at any magnification and framing (another lab's camera, a 120 px crop
// or a 360 px one). The classifier was taught cells framed as the field pipeline frames its crops:
// a square crop_rbc_sides red-cell sides wide, centred on the cell. Before classifying, a cell
// image is framed the same way, from the scale the image itself shows (the median side of the red
// cells the detector finds in it) or, when it shows too few, from a declared microns-per-pixel.
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/box.h"

namespace ms {

// The median red-cell box side in micrometres, used to turn a declared microns-per-pixel into
// the red-cell ruler: a normal erythrocyte is about 7.5 um across (ICSH; 6.7-7.7 um in smears)
// and the detector's red-cell boxes are tight around it.
inline constexpr float kRedCellSideUm = 7.5f;

struct CellImageScale {
  bool from_red_cells = true;  // measure the image's own red cells (runs the detector on it)
  double um_per_px = 0;        // declared scale, used when the image shows too few red cells; 0: none
  // A declared scale per image (same order as the images), where they differ (images reduced by
  // different factors); an entry > 0 replaces um_per_px for its image.
  std::vector<double> um_per_px_each;
};

// How one image was framed before it was classified.
struct FramedCell {
  cv::Mat crop;                  // what the classifier is given
  std::string source = "as_is";  // red_cells | declared | as_is (no scale known: the image whole)
  float rbc_side_px = 0;         // the red-cell ruler used, in the image's pixels (0 for as_is)
  Box box;                       // the white cell it is centred on (the detector's box nearest the
                                 // centre, else the image centre)
  bool cell_found = false;       // the detector found a nucleated cell in the image
};

// The red-cell side in pixels for a declared scale; 0 when the scale is not a positive number.
float red_cell_side_px(double um_per_px);

// Pads with the median colour of the image's border (its background), not black: a cell on a
// wider canvas then looks like a cell photographed with a wider field of view.
cv::Scalar border_median_colour(const cv::Mat& bgr);

}  // namespace ms
