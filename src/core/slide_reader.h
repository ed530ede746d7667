#pragma once
// Whole-slide images (1-20 gigapixels): Aperio .svs, Hamamatsu .ndpi, MIRAX .mrxs, Leica .scn,
// Philips and generic tiled pyramidal TIFF, read through OpenSlide. A slide is never decoded
// whole: every read names a rectangle and is refused above kMaxReadPixels, so memory stays
// bounded by the caller's tile size whatever the slide's size.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"

namespace ms {

struct SlideLevel {
  std::int64_t width = 0, height = 0;  // pixels of this level
  double downsample = 1.0;             // level-0 pixels per pixel of this level
};

class SlideReader {
 public:
  // One read's pixel bound: 16 megapixels (64 MiB of BGRA while OpenSlide fills it).
  static constexpr std::int64_t kMaxReadPixels = 4096LL * 4096LL;

  // kNotFound: no such file; kUnsupportedFormat: not a slide OpenSlide reads (a plain PNG or a
  // single-image TIFF without tiles included); kCorruptInput: a slide OpenSlide failed to read.
  static Result<std::unique_ptr<SlideReader>> open(const std::string& path);
  ~SlideReader();
  SlideReader(const SlideReader&) = delete;
  SlideReader& operator=(const SlideReader&) = delete;

  std::int64_t width() const { return levels_.front().width; }   // level 0
  std::int64_t height() const { return levels_.front().height; }
  const std::vector<SlideLevel>& levels() const { return levels_; }
  // Microns per level-0 pixel: the scanner's value (openslide.mpp-x), else the TIFF resolution
  // tags (centimetre or inch units); 0 when the slide does not say or says an implausible scale
  // (above core/scale.h kMaxUmPerPx: a default resolution, not a microscope's).
  double mpp() const { return mpp_; }
  const std::string& vendor() const { return vendor_; }  // "aperio", "generic-tiff", ...
  const std::string& path() const { return path_; }

  // Reads w x h pixels of `level` whose top-left corner is (x, y) in level-0 pixels, as 8-bit
  // BGR. Parts outside the slide, and transparent parts, come back white (the glass). Thread-safe.
  // kInvalidArgument for a level or rectangle that is out of range, kTooLarge above kMaxReadPixels.
  Result<cv::Mat> read_region(int level, std::int64_t x, std::int64_t y, int w, int h) const;

  // The level-0 rectangle (x, y, w, h) scaled to out_w x out_h pixels (BGR), read from the finest
  // level no finer than the output needs, so an overview of the whole slide reads few pixels.
  Result<cv::Mat> read_scaled(std::int64_t x, std::int64_t y, std::int64_t w, std::int64_t h, int out_w,
                              int out_h) const;

  // The most pixels any one read_region call asked for since open(): tests use it to check that
  // region analysis and tile serving read tile by tile.
  std::int64_t largest_read_pixels() const { return largest_read_.load(); }

 private:
  SlideReader() = default;
  void* osr_ = nullptr;  // openslide_t*
  std::string path_, vendor_;
  std::vector<SlideLevel> levels_;
  double mpp_ = 0;
  mutable std::atomic<std::int64_t> largest_read_{0};
};

}  // namespace ms
