#pragma once
#include <array>
// Box-aware, seeded augmentations. Every transform takes the image (8-bit BGR) and its boxes
// (xyxy, pixels of that image) and returns both transformed, so boxes follow the pixels.
// Randomness comes only from the std::mt19937 passed in: the same seed gives the same output
// (raw mt19937 words are used, not the implementation-defined std distributions).
//
// Coordinates are continuous (core/box.h): pixel i covers [i, i+1), so a flip maps x to W - x and
// rotations turn about (W/2, H/2). Canvas areas a transform uncovers (arbitrary rotation,
// scale_crop) are filled with the mean colour of the image's outermost pixel frame, which in a
// smear field is background, so no false cell edges appear there.
// Bad parameters (negative sigma, a probability above 1) are broken invariants and throw
// MarrowError; configs read from files go through validate_augment_options() first.
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/box.h"
#include "core/error.h"

namespace ms {

struct AugmentSample {
  cv::Mat image;            // CV_8UC3 BGR
  std::vector<Box> boxes;   // xyxy, pixels of `image`
  std::vector<int> labels;  // one per box (kept in step when boxes are dropped)
};

// Deterministic geometric transforms.
AugmentSample hflip(const AugmentSample& s);
AugmentSample vflip(const AugmentSample& s);
// Counter-clockwise quarter turns (any integer, taken mod 4); odd turns swap width and height.
AugmentSample rotate90(const AugmentSample& s, int quarter_turns);
// One of the 7 non-identity symmetries of the square (horizontal or vertical flip, a flip about
// either diagonal, a 90/180/270-degree turn), uniformly: the thesis's flips and rotations for
// oversampled minority classes (data/sampler.h draws marked augment). Lossless: no
// interpolation, no box ever dropped.
AugmentSample dihedral_augment(const AugmentSample& s, std::mt19937& rng);
// Arbitrary angle (degrees, counter-clockwise) about the centre, same canvas size, bilinear.
// Boxes: the hull of a box's rotated corners is too loose for round cells, so each box is taken
// as the ellipse inscribed in it (semi-axes a = w/2, b = h/2)
// and becomes the bounding box of that ellipse rotated by theta, half-extents
// sqrt(a^2 cos^2 + b^2 sin^2) and sqrt(a^2 sin^2 + b^2 cos^2) (Kalra et al., "Towards Rotation
// Invariance in Object Detection", ICCV 2021). For a round cell this is the true box; the corner
// hull would grow it by up to sqrt(2) at 45 degrees. A box with less than min_visible of its area
// inside the canvas is dropped with its label; a kept box cut by the edge becomes the box of the
// visible part of its ellipse (for a round cell, the box of the visible cap).
AugmentSample rotate(const AugmentSample& s, float degrees, float min_visible = 0.4f);
// Scales by `scale` (> 0) to round(W*scale) x round(H*scale), then takes the W x H window whose
// top-left corner is (dx, dy) in the scaled image (negative or overhanging offsets pad). Boxes
// are scaled, shifted, clipped, and dropped when less than min_visible of their area stays.
AugmentSample scale_crop(const AugmentSample& s, float scale, int dx, int dy, float min_visible = 0.4f);

// Resolution loss, same size out: shrunk by `factor` in (0,1] with area averaging, enlarged back
// bilinearly (boxes unchanged, so it is applied to the image alone).
cv::Mat downsample_blur(const cv::Mat& img, float factor);

// Photometric (boxes unchanged). img: CV_8UC3 BGR; results saturate to [0,255].
// Additive zero-mean Gaussian noise per channel value; sigma is a fraction of full scale
// (0.04 = about 10 grey levels), like brightness below.
cv::Mat gaussian_noise(const cv::Mat& img, float sigma, std::mt19937& rng);
// Replaces a fraction `amount` (0..1) of pixels, half with black and half with white.
cv::Mat salt_pepper_noise(const cv::Mat& img, float amount, std::mt19937& rng);
// Shot noise: a value v becomes 255/peak * Poisson(v/255 * peak), so peak is the photon count of
// a white pixel; the mean is kept and the variance is v*255/peak grey levels^2 (lower peak =
// noisier).
cv::Mat poisson_noise(const cv::Mat& img, float peak, std::mt19937& rng);
// A camera's colour cast: each channel times its own gain (gain_bgr: blue, green, red), rounded.
cv::Mat adjust_channel_gain(const cv::Mat& img, const std::array<float, 3>& gain_bgr);
// Stain-matrix jitter in optical density: each pixel's OD vector od_c = -ln((v_c + 1) / 256) becomes
// M * od (M: 3x3, rows and columns in BGR order) and is turned back into intensities. Unlike a
// gain on intensities, the background (OD about 0) stays background, and the off-diagonal terms
// move each stain's colour by its own amount: a nucleus and a cytoplasm of other hues shift
// differently, as another lab's stain batch or camera filters do. M = identity is the identity
// up to rounding.
cv::Mat adjust_stain_matrix(const cv::Mat& img, const std::array<std::array<float, 3>, 3>& m);
cv::Mat adjust_brightness(const cv::Mat& img, float delta);       // add delta*255
cv::Mat adjust_contrast(const cv::Mat& img, float factor);        // about the mean grey
cv::Mat adjust_hue(const cv::Mat& img, float degrees);            // rotate HSV hue (red+120=green)
// Blends with the image's own grey version (factor 0 = grey, 1 = unchanged), as torchvision.
cv::Mat adjust_saturation(const cv::Mat& img, float factor);

// A seeded random pipeline with probabilities and ranges (config struct, visit() for JSON).
// Order: hflip, vflip, rot90 (1-3 quarter turns), rotate (uniform in +-rotate_degrees), scale_crop
// (scale uniform in [scale_min, scale_max]; the window offset uniform over scale_shift of its free
// range about the centre: 1 = anywhere, 0 = centred, which keeps a single cell in view when
// zooming in), a resolution loss (with downsample_prob: shrunk by a factor uniform in
// [downsample_min, 1] with area averaging and enlarged back bilinearly, as a camera with fewer
// pixels per micron or a softer focus sees the cell), a stain-matrix jitter (with stain_jitter_prob:
// every entry of M = I + E drawn with E uniform in +-stain_jitter), then a colour cast (with
// channel_gain_prob, each channel's gain uniform in 1 +- channel_gain), brightness (delta
// uniform in +-brightness), contrast and saturation (factor uniform in 1 +- value), hue (uniform
// in +-hue_degrees), Gaussian, Poisson and salt-and-pepper noise, each with its probability.
// Options at 0 draw no random numbers.
struct AugmentOptions {
  float hflip = 0.5f, vflip = 0.5f, rot90 = 0.5f;
  float rotate_prob = 0.f, rotate_degrees = 0.f;
  float scale_prob = 0.f, scale_min = 1.f, scale_max = 1.f, scale_shift = 1.f;
  float downsample_prob = 0.f, downsample_min = 1.f;
  float stain_jitter_prob = 0.f, stain_jitter = 0.f;
  float channel_gain_prob = 0.f, channel_gain = 0.f;
  float brightness = 0.f, contrast = 0.f, saturation = 0.f, hue_degrees = 0.f;
  float gaussian_prob = 0.f, gaussian_sigma = 0.f;
  float salt_pepper_prob = 0.f, salt_pepper_amount = 0.f;
  float poisson_prob = 0.f, poisson_peak = 0.f;
  template <class V>
  void visit(V& v) {
    v("hflip", hflip); v("vflip", vflip); v("rot90", rot90);
    v("rotate_prob", rotate_prob); v("rotate_degrees", rotate_degrees);
    v("scale_prob", scale_prob); v("scale_min", scale_min); v("scale_max", scale_max);
    v("scale_shift", scale_shift);
    v("downsample_prob", downsample_prob); v("downsample_min", downsample_min);
    v("stain_jitter_prob", stain_jitter_prob); v("stain_jitter", stain_jitter);
    v("channel_gain_prob", channel_gain_prob); v("channel_gain", channel_gain);
    v("brightness", brightness); v("contrast", contrast); v("saturation", saturation);
    v("hue_degrees", hue_degrees);
    v("gaussian_prob", gaussian_prob); v("gaussian_sigma", gaussian_sigma);
    v("salt_pepper_prob", salt_pepper_prob); v("salt_pepper_amount", salt_pepper_amount);
    v("poisson_prob", poisson_prob); v("poisson_peak", poisson_peak);
  }
};
// Checks ranges (probabilities in [0,1], non-negative magnitudes, 0 < scale_min <= scale_max,
// scale_shift in [0,1], downsample_min in (0,1], stain_jitter in [0,1), contrast and saturation
// <= 1, poisson_peak > 0 when used); the message names `source` and the key.
Status validate_augment_options(const AugmentOptions& o, const std::string& source);
// Throws MarrowError (kInvalidArgument) for options validate_augment_options() rejects.
AugmentSample random_augment(const AugmentSample& s, const AugmentOptions& o, std::mt19937& rng);

}  // namespace ms
