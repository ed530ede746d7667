#pragma once
// Image decoding by content (magic bytes), never by file extension: txl-pbc holds JPEG bytes in
// .png files, and uploads arrive with any name. Limits on bytes and on header-declared pixels are
// checked before any pixel buffer is allocated, so a decompression bomb is refused cheaply.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"

namespace ms {

enum class ImageFormat { kUnknown, kJpeg, kPng, kBmp, kTiff };
std::string_view image_format_name(ImageFormat f);

// The largest image the app decodes anywhere (the default limit: stitched fields).
inline constexpr std::int64_t kMaxImagePixels = 100'000'000;

struct ImageLimits {
  std::size_t max_bytes = 256u << 20;        // 256 MiB of encoded bytes
  std::int64_t max_pixels = kMaxImagePixels;  // 100 MP (a 10k x 10k stitched field)
  int max_side = 30000;
};

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
};

// Identifies the format from the first bytes.
ImageFormat sniff_image_format(const std::uint8_t* data, std::size_t size);

// Reads the declared size from the header without decoding pixels. `name` only labels errors.
Result<ImageInfo> probe_image(const std::uint8_t* data, std::size_t size, const std::string& name);

// kTooLarge naming `name` and the limits when width x height is over them; kCorruptInput when
// either side is not positive. decode_image checks the size the header declares with it before
// decoding, and the size the decoder produced after (a header the probe reads differently from
// the decoder must not get a larger image through).
Status check_image_size(int width, int height, const ImageLimits& limits, const std::string& name);

// Decodes to 8-bit BGR (3 channels; grey and alpha are converted, 16 bits scaled to 8). `name`
// labels errors. A TIFF whose first directory lists a tag twice is kCorruptInput: decoders
// disagree on which copy counts, so its declared size cannot be trusted.
Result<cv::Mat> decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                             const ImageLimits& limits = {});
Result<cv::Mat> decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name,
                             const ImageLimits& limits = {});
// Reads a file (refusing it before reading when it is over max_bytes) and decodes it.
Result<cv::Mat> read_image(const std::string& path, const ImageLimits& limits = {});

Result<std::vector<std::uint8_t>> read_file_bytes(const std::string& path,
                                                  std::size_t max_bytes = SIZE_MAX);
// Encodes BGR as .jpg / .png by the extension of `ext` (".jpg", ".png").
Result<std::vector<std::uint8_t>> encode_image(const cv::Mat& bgr, const std::string& ext,
                                               int jpeg_quality = 92);
Status write_image(const std::string& path, const cv::Mat& bgr);

// OpenCV refuses to decode images over OPENCV_IO_MAX_IMAGE_PIXELS (2^30 by default), its own
// last line behind the limits above. libopencv_imgcodecs reads that variable once, while it is
// being loaded, so it must be in the environment the process starts with; setting it later
// changes nothing. decoder_pixel_limit_in_effect() tells whether the environment caps it at
// `max_pixels` or lower. ensure_decoder_pixel_limit() is for the first line of main(), before
// any thread starts: when the cap is not in effect it sets the variable and re-executes the
// program (/proc/self/exe, the same arguments), which then starts with it; it returns only when
// the cap was already in effect (true) or the re-execution failed (false: the app's own limits
// still apply; the caller may log it).
bool decoder_pixel_limit_in_effect(std::int64_t max_pixels = kMaxImagePixels);
bool ensure_decoder_pixel_limit(char** argv, std::int64_t max_pixels = kMaxImagePixels);

}  // namespace ms
