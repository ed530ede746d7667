#include "data/augment.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace ms {
namespace {

constexpr float kPi = 3.14159265358979323846f;

void check_sample(const AugmentSample& s) {
  MS_CHECK(!s.image.empty(), "augmentation needs a non-empty image");
  MS_CHECK(s.labels.empty() || s.labels.size() == s.boxes.size(),
           std::to_string(s.labels.size()) + " labels for " + std::to_string(s.boxes.size()) +
               " boxes");
}

void check_bgr(const cv::Mat& img) {
  MS_CHECK(!img.empty() && img.type() == CV_8UC3,
           "expected a non-empty CV_8UC3 image, got type " + std::to_string(img.type()));
}

// Mean colour of the outermost one-pixel frame: the smear background a transform pads with.
cv::Scalar border_mean(const cv::Mat& img) {
  const int w = img.cols, h = img.rows;
  cv::Scalar sum = cv::mean(img.row(0)) * w;
  double n = w;
  if (h > 1) {
    sum += cv::mean(img.row(h - 1)) * w;
    n += w;
  }
  if (h > 2) {
    const cv::Mat inner = img.rowRange(1, h - 1);
    sum += cv::mean(inner.col(0)) * (h - 2);
    n += h - 2;
    if (w > 1) {
      sum += cv::mean(inner.col(w - 1)) * (h - 2);
      n += h - 2;
    }
  }
  return sum / n;
}

// Clips every box to the canvas and keeps those with at least min_visible of their area inside;
// labels follow their boxes. Returns the indices kept.
std::vector<std::size_t> clip_and_filter(AugmentSample& s, float width, float height,
                                         float min_visible) {
  std::vector<Box> boxes;
  std::vector<int> labels;
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < s.boxes.size(); ++i) {
    const Box& b = s.boxes[i];
    const float area = b.area();
    const Box c = clip_box(b, width, height);
    if (area <= 0.f || c.area() <= 0.f || c.area() < min_visible * area) continue;
    boxes.push_back(c);
    kept.push_back(i);
    if (!s.labels.empty()) labels.push_back(s.labels[i]);
  }
  s.boxes = std::move(boxes);
  s.labels = std::move(labels);
  return kept;
}

// Tight box of (the ellipse inscribed in b) intersected with [0,W]x[0,H]. The intersection is
// convex, so its x-extent is the ellipse's x-extent inside the horizontal strip [0,H] (widest at
// the strip's y nearest the centre), clipped to [0,W]; likewise for y. For a round cell cut by
// the canvas edge this is the box of the visible cap, not of the whole cell.
Box clip_ellipse_box(const Box& b, float width, float height) {
  const float cx = b.cx(), cy = b.cy(), a = 0.5f * b.width(), e = 0.5f * b.height();
  if (a <= 0.f || e <= 0.f) return clip_box(b, width, height);
  auto half_chord = [](float semi, float other_semi, float offset) {
    const float t = offset / other_semi;
    return t >= 1.f ? 0.f : semi * std::sqrt(1.f - t * t);
  };
  const float ny = std::clamp(cy, 0.f, height), nx = std::clamp(cx, 0.f, width);
  const float hw = half_chord(a, e, std::abs(ny - cy)), hh = half_chord(e, a, std::abs(nx - cx));
  return clip_box({cx - hw, cy - hh, cx + hw, cy + hh}, width, height);
}

// Randomness is drawn from raw mt19937 words (whose sequence the standard fixes) rather than the
// std distributions (implementation-defined), so a seed gives the same augmentation with any
// standard library.
// Uniform in [0, 1) from the top 24 bits of one draw: exact in float.
float unit_float(std::mt19937& rng) { return static_cast<float>(rng() >> 8) * (1.f / 16777216.f); }
float uniform(std::mt19937& rng, float lo, float hi) { return lo + (hi - lo) * unit_float(rng); }
// Uniform integer in [lo, hi] without modulo bias: words below 2^32 mod n are redrawn.
int uniform_int(std::mt19937& rng, int lo, int hi) {
  const std::uint32_t n = static_cast<std::uint32_t>(static_cast<std::int64_t>(hi) - lo + 1);
  if (n == 0) return static_cast<int>(rng());  // the full 32-bit range
  const std::uint32_t reject_below = (0u - n) % n;
  std::uint32_t x = rng();
  while (x < reject_below) x = rng();
  return static_cast<int>(static_cast<std::int64_t>(lo) + x % n);
}

// Per-value noise as a lookup. The output is a byte, so the exact distribution of the rounded,
// saturated noisy value given the input byte v is a 256-bin histogram; sampling it with Walker's
// alias method (Vose's construction, IEEE TSE 1991) costs one 32-bit draw and one comparison,
// instead of a normal or Poisson variate per channel value.
using BytePmf = std::array<double, 256>;
struct AliasRow {
  std::array<float, 256> keep{};          // probability of keeping the drawn column
  std::array<std::uint8_t, 256> alias{};  // the value taken otherwise
};
using ByteNoise = std::vector<AliasRow>;  // one row per input byte; heap, cached per thread

AliasRow make_alias_row(const BytePmf& pmf) {
  double total = 0.0;
  for (double m : pmf) total += m;
  std::array<double, 256> scaled{};
  std::vector<int> small, large;
  for (int b = 0; b < 256; ++b) {
    scaled[b] = pmf[b] / total * 256.0;
    (scaled[b] < 1.0 ? small : large).push_back(b);
  }
  AliasRow row;
  while (!small.empty() && !large.empty()) {
    const int l = small.back(), g = large.back();
    small.pop_back();
    large.pop_back();
    row.keep[l] = static_cast<float>(scaled[l]);
    row.alias[l] = static_cast<std::uint8_t>(g);
    scaled[g] += scaled[l] - 1.0;
    (scaled[g] < 1.0 ? small : large).push_back(g);
  }
  // Left-overs hold probability 1 up to rounding.
  for (int b : small) row.keep[b] = 1.f, row.alias[b] = static_cast<std::uint8_t>(b);
  for (int b : large) row.keep[b] = 1.f, row.alias[b] = static_cast<std::uint8_t>(b);
  return row;
}

// Histogram of saturate(round(mean + N(0, sigma^2))), sigma in grey levels.
BytePmf gaussian_pmf(double mean, double sigma) {
  auto cdf = [&](double x) { return 0.5 * std::erfc(-(x - mean) / (sigma * std::sqrt(2.0))); };
  BytePmf pmf{};
  double below = 0.0;
  for (int b = 0; b < 255; ++b) {
    const double upto = cdf(b + 0.5);
    pmf[b] = upto - below;
    below = upto;
  }
  pmf[255] = 1.0 - below;
  return pmf;
}

// Histogram of saturate(round(255/peak * K)), K ~ Poisson(lambda = v/255 * peak).
BytePmf poisson_pmf(int v, double peak) {
  const double lambda = v / 255.0 * peak;
  // Beyond ~1e5 photons the Poisson is a normal to within its 1/sqrt(lambda) skew.
  if (lambda > 1e5) return gaussian_pmf(v, std::sqrt(lambda) * 255.0 / peak);
  BytePmf pmf{};
  if (lambda == 0.0) {
    pmf[0] = 1.0;
    return pmf;
  }
  // 12 standard deviations either side hold all but ~1e-30 of the mass.
  const double spread = 12.0 * std::sqrt(lambda) + 20.0;
  const auto lo = static_cast<long>(std::max(0.0, std::floor(lambda - spread)));
  const auto hi = static_cast<long>(std::ceil(lambda + spread));
  const double log_lambda = std::log(lambda);
  for (long k = lo; k <= hi; ++k) {
    const double out = std::min(255.0, std::nearbyint(k * 255.0 / peak));
    pmf[static_cast<std::size_t>(out)] += std::exp(k * log_lambda - lambda - std::lgamma(k + 1.0));
  }
  return pmf;
}

void apply_byte_noise(cv::Mat& img, const ByteNoise& noise, std::mt19937& rng) {
  for (int y = 0; y < img.rows; ++y) {
    auto* p = img.ptr<std::uint8_t>(y);
    for (int i = 0; i < img.cols * img.channels(); ++i) {
      const AliasRow& row = noise[p[i]];
      const std::uint32_t r = rng();
      const std::uint32_t column = r >> 24;                                  // top 8 bits
      const float u = static_cast<float>(r & 0xFFFFFFu) * (1.f / 16777216.f);  // low 24 bits
      p[i] = u < row.keep[column] ? static_cast<std::uint8_t>(column) : row.alias[column];
    }
  }
}

// Draws only when the probability is positive, so disabled options leave the stream untouched.
bool chance(std::mt19937& rng, float p) {
  if (p <= 0.f) return false;
  if (p >= 1.f) return true;
  return uniform(rng, 0.f, 1.f) < p;
}

}  // namespace

AugmentSample hflip(const AugmentSample& s) {
  check_sample(s);
  AugmentSample out{cv::Mat(), s.boxes, s.labels};
  cv::flip(s.image, out.image, 1);
  const float w = static_cast<float>(s.image.cols);
  for (Box& b : out.boxes) b = {w - b.x2, b.y1, w - b.x1, b.y2};
  return out;
}

AugmentSample vflip(const AugmentSample& s) {
  check_sample(s);
  AugmentSample out{cv::Mat(), s.boxes, s.labels};
  cv::flip(s.image, out.image, 0);
  const float h = static_cast<float>(s.image.rows);
  for (Box& b : out.boxes) b = {b.x1, h - b.y2, b.x2, h - b.y1};
  return out;
}

AugmentSample rotate90(const AugmentSample& s, int quarter_turns) {
  check_sample(s);
  const int k = ((quarter_turns % 4) + 4) % 4;
  AugmentSample out{cv::Mat(), s.boxes, s.labels};
  const float w = static_cast<float>(s.image.cols), h = static_cast<float>(s.image.rows);
  // Counter-clockwise on screen (y down): one quarter turn maps (x, y) to (y, W - x); a half
  // turn to (W - x, H - y); three quarter turns to (H - y, x).
  switch (k) {
    case 0: out.image = s.image.clone(); break;
    case 1:
      cv::rotate(s.image, out.image, cv::ROTATE_90_COUNTERCLOCKWISE);
      for (Box& b : out.boxes) b = {b.y1, w - b.x2, b.y2, w - b.x1};
      break;
    case 2:
      cv::rotate(s.image, out.image, cv::ROTATE_180);
      for (Box& b : out.boxes) b = {w - b.x2, h - b.y2, w - b.x1, h - b.y1};
      break;
    default:
      cv::rotate(s.image, out.image, cv::ROTATE_90_CLOCKWISE);
      for (Box& b : out.boxes) b = {h - b.y2, b.x1, h - b.y1, b.x2};
      break;
  }
  return out;
}

AugmentSample dihedral_augment(const AugmentSample& s, std::mt19937& rng) {
  // Element e in 1..7 of D4 = (flip or not) x (0..3 quarter turns), identity excluded.
  const int e = uniform_int(rng, 1, 7);
  const AugmentSample turned = rotate90(s, e % 4);
  return e >= 4 ? hflip(turned) : turned;
}

AugmentSample rotate(const AugmentSample& s, float degrees, float min_visible) {
  check_sample(s);
  MS_CHECK(std::isfinite(degrees), "rotation angle must be finite");
  const int W = s.image.cols, H = s.image.rows;
  // Pixel centres sit at integer indices for OpenCV, so the continuous centre (W/2, H/2) is
  // ((W-1)/2, (H-1)/2) in index space. A positive angle turns counter-clockwise on screen.
  const cv::Mat m = cv::getRotationMatrix2D(cv::Point2f((W - 1) * 0.5f, (H - 1) * 0.5f), degrees, 1.0);
  AugmentSample out{cv::Mat(), {}, {}};
  cv::warpAffine(s.image, out.image, m, s.image.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                 border_mean(s.image));
  const float t = degrees * kPi / 180.f;
  const float c = std::cos(t), sn = std::sin(t);
  const float ox = W * 0.5f, oy = H * 0.5f;
  out.boxes.reserve(s.boxes.size());
  for (const Box& b : s.boxes) {
    const float px = b.cx() - ox, py = b.cy() - oy;
    // The same map as the matrix above: x' = c x + s y, y' = -s x + c y about the centre.
    const float cx = ox + c * px + sn * py, cy = oy - sn * px + c * py;
    const float a = 0.5f * b.width(), e = 0.5f * b.height();
    const float hx = std::sqrt(a * a * c * c + e * e * sn * sn);
    const float hy = std::sqrt(a * a * sn * sn + e * e * c * c);
    out.boxes.push_back({cx - hx, cy - hy, cx + hx, cy + hy});
  }
  out.labels = s.labels;
  const std::vector<Box> unclipped = out.boxes;
  const auto kept = clip_and_filter(out, static_cast<float>(W), static_cast<float>(H), min_visible);
  // Kept boxes cut by the canvas shrink to the visible part of their cell's ellipse.
  for (std::size_t i = 0; i < out.boxes.size(); ++i)
    out.boxes[i] = clip_ellipse_box(unclipped[kept[i]], static_cast<float>(W), static_cast<float>(H));
  return out;
}

AugmentSample scale_crop(const AugmentSample& s, float scale, int dx, int dy, float min_visible) {
  check_sample(s);
  MS_CHECK(std::isfinite(scale) && scale > 0.f, "scale must be positive, got " + std::to_string(scale));
  const int W = s.image.cols, H = s.image.rows;
  const int sw = std::max(1, static_cast<int>(std::lround(W * scale)));
  const int sh = std::max(1, static_cast<int>(std::lround(H * scale)));
  cv::Mat scaled;
  if (sw == W && sh == H) {
    scaled = s.image;
  } else {
    cv::resize(s.image, scaled, cv::Size(sw, sh), 0, 0, scale < 1.f ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  AugmentSample out{cv::Mat(H, W, s.image.type(), border_mean(s.image)), s.boxes, s.labels};
  const cv::Rect window(dx, dy, W, H);
  const cv::Rect have = window & cv::Rect(0, 0, sw, sh);
  if (have.area() > 0) scaled(have).copyTo(out.image(cv::Rect(have.x - dx, have.y - dy, have.width, have.height)));
  // The actual per-axis factors (after rounding the size) keep boxes on the resized pixels.
  const float fx = static_cast<float>(sw) / W, fy = static_cast<float>(sh) / H;
  for (Box& b : out.boxes) b = {b.x1 * fx - dx, b.y1 * fy - dy, b.x2 * fx - dx, b.y2 * fy - dy};
  clip_and_filter(out, static_cast<float>(W), static_cast<float>(H), min_visible);
  return out;
}

cv::Mat gaussian_noise(const cv::Mat& img, float sigma, std::mt19937& rng) {
  check_bgr(img);
  MS_CHECK(std::isfinite(sigma) && sigma >= 0.f, "Gaussian sigma must be >= 0");
  cv::Mat out = img.clone();
  if (sigma == 0.f) return out;
  thread_local float cached_sigma = -1.f;
  thread_local ByteNoise table;
  if (cached_sigma != sigma) {
    table.resize(256);
    for (int v = 0; v < 256; ++v) table[v] = make_alias_row(gaussian_pmf(v, sigma * 255.0));
    cached_sigma = sigma;
  }
  apply_byte_noise(out, table, rng);
  return out;
}

cv::Mat salt_pepper_noise(const cv::Mat& img, float amount, std::mt19937& rng) {
  check_bgr(img);
  MS_CHECK(amount >= 0.f && amount <= 1.f, "salt-and-pepper amount must be in [0,1]");
  cv::Mat out = img.clone();
  if (amount == 0.f) return out;
  for (int y = 0; y < out.rows; ++y) {
    auto* p = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < out.cols; ++x) {
      const float r = unit_float(rng);
      if (r < 0.5f * amount) p[x] = cv::Vec3b(0, 0, 0);
      else if (r < amount) p[x] = cv::Vec3b(255, 255, 255);
    }
  }
  return out;
}

cv::Mat poisson_noise(const cv::Mat& img, float peak, std::mt19937& rng) {
  check_bgr(img);
  MS_CHECK(std::isfinite(peak) && peak > 0.f, "Poisson peak must be > 0");
  thread_local float cached_peak = -1.f;
  thread_local ByteNoise table;
  if (cached_peak != peak) {
    table.resize(256);
    for (int v = 0; v < 256; ++v) table[v] = make_alias_row(poisson_pmf(v, peak));
    cached_peak = peak;
  }
  cv::Mat out = img.clone();
  apply_byte_noise(out, table, rng);
  return out;
}

cv::Mat adjust_channel_gain(const cv::Mat& img, const std::array<float, 3>& gain_bgr) {
  check_bgr(img);
  for (float g : gain_bgr) MS_CHECK(g >= 0.f && std::isfinite(g), "channel gains must be finite and >= 0");
  cv::Mat out;
  cv::multiply(img, cv::Scalar(gain_bgr[0], gain_bgr[1], gain_bgr[2]), out);
  return out;
}

cv::Mat adjust_stain_matrix(const cv::Mat& img, const std::array<std::array<float, 3>, 3>& m) {
  check_bgr(img);
  for (const auto& row : m)
    for (float v : row) MS_CHECK(std::isfinite(v), "stain matrix entries must be finite");
  std::array<float, 256> od{};
  for (int v = 0; v < 256; ++v) od[v] = -std::log((v + 1.f) / 256.f);
  cv::Mat out(img.size(), CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    const auto* src = img.ptr<cv::Vec3b>(y);
    auto* dst = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < img.cols; ++x) {
      const float o[3] = {od[src[x][0]], od[src[x][1]], od[src[x][2]]};
      for (int c = 0; c < 3; ++c) {
        const float d = std::max(0.f, m[c][0] * o[0] + m[c][1] * o[1] + m[c][2] * o[2]);
        dst[x][c] = cv::saturate_cast<uchar>(256.f * std::exp(-d) - 1.f);
      }
    }
  }
  return out;
}

cv::Mat adjust_brightness(const cv::Mat& img, float delta) {
  check_bgr(img);
  cv::Mat out;
  img.convertTo(out, -1, 1.0, delta * 255.0);
  return out;
}

cv::Mat adjust_contrast(const cv::Mat& img, float factor) {
  check_bgr(img);
  MS_CHECK(factor >= 0.f, "contrast factor must be >= 0");
  // torchvision's rule: blend with the mean grey level, v' = mean + factor * (v - mean).
  cv::Mat grey;
  cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
  const double mean = cv::mean(grey)[0];
  cv::Mat out;
  img.convertTo(out, -1, factor, mean * (1.0 - factor));
  return out;
}

cv::Mat adjust_hue(const cv::Mat& img, float degrees) {
  check_bgr(img);
  MS_CHECK(std::isfinite(degrees), "hue shift must be finite");
  // HSV hue rotation done in place per pixel: max and min channel (V and chroma) stay, only the
  // hue sector and position move (the hexcone model, Smith, SIGGRAPH 1978). Same result as
  // OpenCV's float HSV round trip, without converting the image three times.
  float shift = std::fmod(degrees, 360.f) / 60.f;
  if (shift < 0.f) shift += 6.f;
  cv::Mat out = img.clone();
  for (int y = 0; y < out.rows; ++y) {
    auto* p = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < out.cols; ++x) {
      const float b = p[x][0], g = p[x][1], r = p[x][2];
      const float mx = std::max({r, g, b}), mn = std::min({r, g, b}), c = mx - mn;
      if (c == 0.f) continue;  // grey: no hue
      float h;  // sector units, [0, 6)
      if (mx == r) h = (g - b) / c;
      else if (mx == g) h = (b - r) / c + 2.f;
      else h = (r - g) / c + 4.f;
      h += shift;
      h = std::fmod(h + 12.f, 6.f);
      const int sector = std::min(5, static_cast<int>(h));
      const float f = h - sector;
      // The rising or falling middle channel of the sector.
      const float up = mn + c * f, down = mn + c * (1.f - f);
      float rr, gg, bb;
      switch (sector) {
        case 0: rr = mx, gg = up, bb = mn; break;
        case 1: rr = down, gg = mx, bb = mn; break;
        case 2: rr = mn, gg = mx, bb = up; break;
        case 3: rr = mn, gg = down, bb = mx; break;
        case 4: rr = up, gg = mn, bb = mx; break;
        default: rr = mx, gg = mn, bb = down; break;
      }
      p[x] = cv::Vec3b(cv::saturate_cast<std::uint8_t>(bb), cv::saturate_cast<std::uint8_t>(gg),
                       cv::saturate_cast<std::uint8_t>(rr));
    }
  }
  return out;
}

cv::Mat adjust_saturation(const cv::Mat& img, float factor) {
  check_bgr(img);
  MS_CHECK(factor >= 0.f, "saturation factor must be >= 0");
  cv::Mat grey, grey3, out;
  cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(grey, grey3, cv::COLOR_GRAY2BGR);
  cv::addWeighted(img, factor, grey3, 1.0 - factor, 0.0, out);
  return out;
}

cv::Mat downsample_blur(const cv::Mat& img, float factor) {
  MS_CHECK(std::isfinite(factor) && factor > 0.f && factor <= 1.f,
           "downsample factor must be in (0,1], got " + std::to_string(factor));
  const int w = std::max(1, static_cast<int>(std::lround(img.cols * factor)));
  const int h = std::max(1, static_cast<int>(std::lround(img.rows * factor)));
  if (w == img.cols && h == img.rows) return img.clone();
  cv::Mat small, out;
  cv::resize(img, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  cv::resize(small, out, img.size(), 0, 0, cv::INTER_LINEAR);
  return out;
}

Status validate_augment_options(const AugmentOptions& o, const std::string& source) {
  const std::string where = source.empty() ? "augment" : source;
  auto bad = [&](const char* key, const std::string& expected, float v) {
    return fail(ErrorCode::kInvalidArgument, where + "." + key, expected, std::to_string(v));
  };
  const std::pair<const char*, float> probs[] = {
      {"hflip", o.hflip},           {"vflip", o.vflip},
      {"rot90", o.rot90},           {"rotate_prob", o.rotate_prob},
      {"scale_prob", o.scale_prob}, {"scale_shift", o.scale_shift},
      {"downsample_prob", o.downsample_prob}, {"stain_jitter_prob", o.stain_jitter_prob},
      {"gaussian_prob", o.gaussian_prob},
      {"channel_gain_prob", o.channel_gain_prob},
      {"salt_pepper_prob", o.salt_pepper_prob}, {"poisson_prob", o.poisson_prob},
      {"salt_pepper_amount", o.salt_pepper_amount}};
  for (const auto& [key, v] : probs)
    if (!(v >= 0.f && v <= 1.f)) return bad(key, "a value in [0,1]", v);
  const std::pair<const char*, float> magnitudes[] = {
      {"rotate_degrees", o.rotate_degrees}, {"brightness", o.brightness},
      {"hue_degrees", o.hue_degrees},       {"gaussian_sigma", o.gaussian_sigma}};
  for (const auto& [key, v] : magnitudes)
    if (!(v >= 0.f && std::isfinite(v))) return bad(key, "a finite value >= 0", v);
  if (!(o.contrast >= 0.f && o.contrast <= 1.f)) return bad("contrast", "a value in [0,1]", o.contrast);
  if (!(o.channel_gain >= 0.f && o.channel_gain < 1.f))
    return bad("channel_gain", "a value in [0,1) (gains in 1 +- it)", o.channel_gain);
  if (!(o.saturation >= 0.f && o.saturation <= 1.f))
    return bad("saturation", "a value in [0,1]", o.saturation);
  if (!(o.scale_min > 0.f && std::isfinite(o.scale_min))) return bad("scale_min", "a value > 0", o.scale_min);
  if (!(o.scale_max >= o.scale_min && std::isfinite(o.scale_max)))
    return bad("scale_max", "a value >= scale_min (" + std::to_string(o.scale_min) + ")", o.scale_max);
  if (!(o.stain_jitter >= 0.f && o.stain_jitter < 1.f))
    return bad("stain_jitter", "a value in [0,1) (matrix entries I +- it)", o.stain_jitter);
  if (!(o.downsample_min > 0.f && o.downsample_min <= 1.f))
    return bad("downsample_min", "a value in (0,1]", o.downsample_min);
  if (o.poisson_prob > 0.f && !(o.poisson_peak > 0.f && std::isfinite(o.poisson_peak)))
    return bad("poisson_peak", "a value > 0 when poisson_prob > 0", o.poisson_peak);
  return {};
}

AugmentSample random_augment(const AugmentSample& s, const AugmentOptions& o, std::mt19937& rng) {
  check_sample(s);
  const auto valid = validate_augment_options(o, "AugmentOptions");
  if (!valid) throw MarrowError(valid.error());
  AugmentSample out = s;
  out.image = s.image.clone();
  if (chance(rng, o.hflip)) out = hflip(out);
  if (chance(rng, o.vflip)) out = vflip(out);
  if (chance(rng, o.rot90)) out = rotate90(out, uniform_int(rng, 1, 3));
  if (o.rotate_degrees > 0.f && chance(rng, o.rotate_prob))
    out = rotate(out, uniform(rng, -o.rotate_degrees, o.rotate_degrees));
  if (chance(rng, o.scale_prob)) {
    const float scale = o.scale_min < o.scale_max ? uniform(rng, o.scale_min, o.scale_max) : o.scale_min;
    const int W = out.image.cols, H = out.image.rows;
    const int sw = std::max(1, static_cast<int>(std::lround(W * scale)));
    const int sh = std::max(1, static_cast<int>(std::lround(H * scale)));
    // Zoom in: the window lies inside the scaled image; zoom out: the scaled image lies inside
    // the window (negative offsets pad around it). The offset ranges over scale_shift of the
    // free range, centred.
    auto offset = [&](int free) {
      const int lo = std::min(0, free), hi = std::max(0, free);
      const float mid = 0.5f * static_cast<float>(lo + hi), half = 0.5f * o.scale_shift * static_cast<float>(hi - lo);
      const int a = static_cast<int>(std::ceil(mid - half)), b = static_cast<int>(std::floor(mid + half));
      return a <= b ? uniform_int(rng, a, b) : static_cast<int>(std::floor(mid));
    };
    const int dx = offset(sw - W);
    const int dy = offset(sh - H);
    out = scale_crop(out, scale, dx, dy);
  }
  if (o.downsample_min < 1.f && chance(rng, o.downsample_prob))
    out.image = downsample_blur(out.image, uniform(rng, o.downsample_min, 1.f));
  if (out.image.type() != CV_8UC3) return out;  // photometric jitter is defined on BGR only
  if (o.stain_jitter > 0.f && chance(rng, o.stain_jitter_prob)) {
    std::array<std::array<float, 3>, 3> m{};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) m[r][c] = (r == c ? 1.f : 0.f) + uniform(rng, -o.stain_jitter, o.stain_jitter);
    out.image = adjust_stain_matrix(out.image, m);
  }
  if (o.channel_gain > 0.f && chance(rng, o.channel_gain_prob)) {
    std::array<float, 3> gain{};
    for (auto& g : gain) g = uniform(rng, 1.f - o.channel_gain, 1.f + o.channel_gain);
    out.image = adjust_channel_gain(out.image, gain);
  }
  if (o.brightness > 0.f) out.image = adjust_brightness(out.image, uniform(rng, -o.brightness, o.brightness));
  if (o.contrast > 0.f)
    out.image = adjust_contrast(out.image, uniform(rng, 1.f - o.contrast, 1.f + o.contrast));
  if (o.saturation > 0.f)
    out.image = adjust_saturation(out.image, uniform(rng, 1.f - o.saturation, 1.f + o.saturation));
  if (o.hue_degrees > 0.f) out.image = adjust_hue(out.image, uniform(rng, -o.hue_degrees, o.hue_degrees));
  if (o.gaussian_sigma > 0.f && chance(rng, o.gaussian_prob))
    out.image = gaussian_noise(out.image, o.gaussian_sigma, rng);
  if (chance(rng, o.poisson_prob)) out.image = poisson_noise(out.image, o.poisson_peak, rng);
  if (o.salt_pepper_amount > 0.f && chance(rng, o.salt_pepper_prob))
    out.image = salt_pepper_noise(out.image, o.salt_pepper_amount, rng);
  return out;
}

}  // namespace ms
