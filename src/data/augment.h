#pragma once
// Box-aware, seeded augmentations. Every transform takes the image (8-bit BGR) and its boxes
// (xyxy, pixels of that image) and returns both transformed, so boxes follow the pixels.
// Randomness comes only from the std::mt19937 passed in: the same seed gives the same output.
#include <random>
#include <vector>

#include <opencv2/core.hpp>

#include "core/box.h"

namespace ms {

struct AugmentSample {
  cv::Mat image;            // CV_8UC3 BGR
  std::vector<Box> boxes;   // xyxy, pixels of `image`
  std::vector<int> labels;  // one per box (kept in step when boxes are dropped)
};

// Deterministic geometric transforms.
AugmentSample hflip(const AugmentSample& s);
AugmentSample vflip(const AugmentSample& s);
AugmentSample rotate90(const AugmentSample& s, int quarter_turns);  // counter-clockwise
// Arbitrary angle (degrees, counter-clockwise) about the centre, same canvas size; boxes become
// the axis-aligned hull of their rotated corners... shrunk toward an inscribed ellipse (cells are
// round), clipped; boxes left with < min_visible of their area are dropped.
AugmentSample rotate(const AugmentSample& s, float degrees, float min_visible = 0.4f);
// Scales by `scale` then crops/pads to the original size at offset (dx, dy) in the scaled image.
AugmentSample scale_crop(const AugmentSample& s, float scale, int dx, int dy, float min_visible = 0.4f);

// Photometric (boxes unchanged).
cv::Mat gaussian_noise(const cv::Mat& img, float sigma, std::mt19937& rng);
cv::Mat salt_pepper_noise(const cv::Mat& img, float amount, std::mt19937& rng);
cv::Mat poisson_noise(const cv::Mat& img, float peak, std::mt19937& rng);
cv::Mat adjust_brightness(const cv::Mat& img, float delta);       // add delta*255
cv::Mat adjust_contrast(const cv::Mat& img, float factor);        // about the mean grey
cv::Mat adjust_hue(const cv::Mat& img, float degrees);            // rotate hue
cv::Mat adjust_saturation(const cv::Mat& img, float factor);

// A seeded random pipeline with probabilities and ranges (config struct, visit() for JSON).
struct AugmentOptions {
  float hflip = 0.5f, vflip = 0.5f, rot90 = 0.5f;
  float rotate_prob = 0.f, rotate_degrees = 0.f;
  float scale_prob = 0.f, scale_min = 1.f, scale_max = 1.f;
  float brightness = 0.f, contrast = 0.f, saturation = 0.f, hue_degrees = 0.f;
  float gaussian_prob = 0.f, gaussian_sigma = 0.f;
  float salt_pepper_prob = 0.f, salt_pepper_amount = 0.f;
  float poisson_prob = 0.f, poisson_peak = 0.f;
  template <class V>
  void visit(V& v) {
    v("hflip", hflip); v("vflip", vflip); v("rot90", rot90);
    v("rotate_prob", rotate_prob); v("rotate_degrees", rotate_degrees);
    v("scale_prob", scale_prob); v("scale_min", scale_min); v("scale_max", scale_max);
    v("brightness", brightness); v("contrast", contrast); v("saturation", saturation);
    v("hue_degrees", hue_degrees);
    v("gaussian_prob", gaussian_prob); v("gaussian_sigma", gaussian_sigma);
    v("salt_pepper_prob", salt_pepper_prob); v("salt_pepper_amount", salt_pepper_amount);
    v("poisson_prob", poisson_prob); v("poisson_peak", poisson_peak);
  }
};
AugmentSample random_augment(const AugmentSample& s, const AugmentOptions& o, std::mt19937& rng);

}  // namespace ms
