#pragma once
// Stain standardisation of a cell image before the classifier: another lab's camera white balance
// and stain strength and hue are mapped onto the training lab's, per image, before the network.
// tools/gpu/train_robust_classifier.py (stain_standardise) is the training twin; the two are held
// equal by tests/golden/stain/standardise.json.
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace ms {

struct StainStandardisation {
  // The training lab's background colour (RGB on [0,1]) and the 99th percentile of each channel's
  // optical density relative to the background (the darkest stain, the nucleus).
  std::vector<float> background;
  std::vector<float> od_p99;
  // Pixels whose R+G+B (on [0,1]) is below black_sum are a scanner's padding and take the
  // background colour; the background is the mean of pixels at or above this brightness quantile.
  float black_sum = 40.f / 255.f;
  float background_quantile = 0.85f;
  float od_quantile = 0.99f;
  float min_background = 0.05f;  // per channel, so a dark image cannot divide by zero
  float min_od = 0.05f;          // an image without stain is not stretched without bound
  template <class V>
  void visit(V& v) {
    v("background", background); v("od_p99", od_p99); v("black_sum", black_sum);
    v("background_quantile", background_quantile); v("od_quantile", od_quantile);
    v("min_background", min_background); v("min_od", min_od);
  }
};

// Empty when s is usable, else what is wrong with it (for a model file's error message).
std::string stain_standardisation_problem(const StainStandardisation& s);

// What one image's stain looks like: its background colour (RGB on [0,1]; near-black pixels, a
// scanner's padding, are left out) and each channel's od_quantile of the optical density relative
// to that background.
struct StainMeasure {
  float background[3];
  float od_quantile[3];
};
// bgr: CV_8UC3 (OpenCV's BGR order). s supplies the thresholds only.
StainMeasure measure_stain(const cv::Mat& bgr, const StainStandardisation& s);

// Writes 3 planes [R,G,B] of rows x cols values on [0,1]: the image's optical density per channel
// scaled so that its od_quantile equals the reference's, on the reference's background.
void stain_standardise(const cv::Mat& bgr, const StainStandardisation& s, float* rgb_planes);

// The training lab's reference from its cells as the network sees them (the input-size views):
// per channel the lower median over the images of their background and od quantile, the default
// thresholds otherwise. Throws on an empty list.
StainStandardisation stain_reference(const std::vector<cv::Mat>& bgr_views);

}  // namespace ms
