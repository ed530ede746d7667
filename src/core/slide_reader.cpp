#include "core/slide_reader.h"

#include "core/scale.h"

#include <openslide.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <opencv2/imgproc.hpp>

namespace ms {

namespace {
openslide_t* handle(void* p) { return static_cast<openslide_t*>(p); }

double property(openslide_t* osr, const char* name) {
  const char* v = openslide_get_property_value(osr, name);
  if (!v) return 0;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return (end != v && std::isfinite(d) && d > 0) ? d : 0;
}

// Microns per pixel from the scanner's property, else from the TIFF resolution tags (pixels per
// centimetre or per inch, as libvips and most TIFF writers record them).
// A scale only when it is one a microscope gives: writers that know none still fill the TIFF
// resolution tags (libvips writes 1 pixel per millimetre, many tools 72 dpi), which would say a
// pixel is hundreds of microns wide.
double plausible(double mpp) { return mpp > 0 && mpp <= kMaxUmPerPx ? mpp : 0; }

double slide_mpp(openslide_t* osr) {
  if (const double m = property(osr, OPENSLIDE_PROPERTY_NAME_MPP_X); m > 0) return plausible(m);
  const double res = property(osr, "tiff.XResolution");
  const char* unit = openslide_get_property_value(osr, "tiff.ResolutionUnit");
  if (res <= 0 || !unit) return 0;
  const std::string u = unit;
  if (u == "centimeter") return plausible(1e4 / res);
  if (u == "inch") return plausible(25400.0 / res);
  return 0;
}
}  // namespace

Result<std::unique_ptr<SlideReader>> SlideReader::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return fail(ErrorCode::kNotFound, path + ": no such slide file");
  const char* vendor = openslide_detect_vendor(path.c_str());
  if (!vendor)
    return fail(ErrorCode::kUnsupportedFormat, path,
                "a whole-slide image (Aperio, Hamamatsu, MIRAX, Leica, Philips or tiled pyramidal TIFF)",
                "a file OpenSlide does not recognise");
  openslide_t* osr = openslide_open(path.c_str());
  if (!osr) return fail(ErrorCode::kUnsupportedFormat, path, "a whole-slide image", "a format OpenSlide cannot open");
  std::unique_ptr<SlideReader> r(new SlideReader());
  r->osr_ = osr;
  r->path_ = path;
  r->vendor_ = vendor;
  if (const char* err = openslide_get_error(osr))
    return fail(ErrorCode::kCorruptInput, path, "a readable slide", err);
  const int32_t n = openslide_get_level_count(osr);
  for (int32_t l = 0; l < n; ++l) {
    SlideLevel lv;
    openslide_get_level_dimensions(osr, l, &lv.width, &lv.height);
    lv.downsample = openslide_get_level_downsample(osr, l);
    if (lv.width <= 0 || lv.height <= 0 || !(lv.downsample >= 1.0)) break;
    r->levels_.push_back(lv);
  }
  if (r->levels_.empty()) return fail(ErrorCode::kCorruptInput, path, "at least one level with pixels", "none");
  r->mpp_ = slide_mpp(osr);
  return r;
}

SlideReader::~SlideReader() {
  if (osr_) openslide_close(handle(osr_));
}

Result<cv::Mat> SlideReader::read_region(int level, std::int64_t x, std::int64_t y, int w, int h) const {
  if (level < 0 || level >= int(levels_.size()))
    return fail(ErrorCode::kInvalidArgument, "slide level", "0 to " + std::to_string(levels_.size() - 1),
                std::to_string(level));
  if (w <= 0 || h <= 0)
    return fail(ErrorCode::kInvalidArgument, "slide region", "a positive width and height",
                std::to_string(w) + "x" + std::to_string(h));
  const std::int64_t pixels = std::int64_t(w) * h;
  if (pixels > kMaxReadPixels)
    return fail(ErrorCode::kTooLarge, "slide region", "at most " + std::to_string(kMaxReadPixels) + " pixels per read",
                std::to_string(w) + "x" + std::to_string(h));
  // The rectangle must touch the slide: a read far outside it is a caller's mistake, not glass.
  const double ds = levels_[size_t(level)].downsample;
  if (x >= width() || y >= height() || x + std::int64_t(w * ds) <= 0 || y + std::int64_t(h * ds) <= 0)
    return fail(ErrorCode::kInvalidArgument, "slide region",
                "a rectangle overlapping the slide (" + std::to_string(width()) + "x" + std::to_string(height()) + ")",
                std::to_string(x) + "," + std::to_string(y) + " " + std::to_string(w) + "x" + std::to_string(h));
  std::int64_t prev = largest_read_.load();
  while (pixels > prev && !largest_read_.compare_exchange_weak(prev, pixels)) {
  }
  // OpenSlide fills premultiplied ARGB words; on a little-endian machine their bytes are B,G,R,A.
  cv::Mat bgra(h, w, CV_8UC4);
  openslide_read_region(handle(osr_), reinterpret_cast<uint32_t*>(bgra.data), x, y, level, w, h);
  if (const char* err = openslide_get_error(handle(osr_)))
    return fail(ErrorCode::kCorruptInput, path_, "readable tiles", err);
  // Composite over white: premultiplied colour c with alpha a shows c + (255 - a) on white glass.
  cv::Mat bgr(h, w, CV_8UC3);
  for (int r = 0; r < h; ++r) {
    const uint8_t* s = bgra.ptr<uint8_t>(r);
    uint8_t* d = bgr.ptr<uint8_t>(r);
    for (int c = 0; c < w; ++c, s += 4, d += 3) {
      const int add = 255 - s[3];
      d[0] = uint8_t(std::min(255, s[0] + add));
      d[1] = uint8_t(std::min(255, s[1] + add));
      d[2] = uint8_t(std::min(255, s[2] + add));
    }
  }
  return bgr;
}

Result<cv::Mat> SlideReader::read_scaled(std::int64_t x, std::int64_t y, std::int64_t w, std::int64_t h, int out_w,
                                         int out_h) const {
  if (w <= 0 || h <= 0 || out_w <= 0 || out_h <= 0)
    return fail(ErrorCode::kInvalidArgument, "scaled slide region", "positive sizes",
                std::to_string(w) + "x" + std::to_string(h) + " -> " + std::to_string(out_w) + "x" + std::to_string(out_h));
  const double want = std::min(double(w) / out_w, double(h) / out_h);  // level-0 px per output px
  // A level's downsample is the mean of its width and height ratios, a little above the power of
  // two when a side was odd on the way down; 2% coarser than wanted is still sharp enough.
  int level = 0;
  for (int l = 0; l < int(levels_.size()); ++l)
    if (levels_[size_t(l)].downsample <= want * 1.02) level = l;
  const double ds = levels_[size_t(level)].downsample;
  const int lw = std::max(1, int(std::ceil(double(w) / ds))), lh = std::max(1, int(std::ceil(double(h) / ds)));
  auto region = read_region(level, x, y, lw, lh);
  if (!region) return region;
  if (lw == out_w && lh == out_h) return region;
  cv::Mat out;
  cv::resize(*region, out, cv::Size(out_w, out_h), 0, 0, cv::INTER_AREA);
  return out;
}

}  // namespace ms
