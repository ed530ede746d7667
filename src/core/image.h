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

struct ImageLimits {
  std::size_t max_bytes = 256u << 20;        // 256 MiB of encoded bytes
  std::int64_t max_pixels = 100'000'000;      // 100 MP (a 10k x 10k stitched field)
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

// Decodes to 8-bit BGR (3 channels; grey and alpha are converted). `name` labels errors.
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

}  // namespace ms
