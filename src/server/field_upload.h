#pragma once
// Checks uploaded images by their content (core/image.h: magic bytes, header-declared size, full
// decode): field images (which also get a thumbnail) and recognition crops alike. Nothing is
// stored here.
#include <string>
#include <string_view>

#include "core/image.h"

namespace ms::server {

struct CheckedField {
  std::string filename;
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0, height = 0;
  std::string thumbnail_jpeg;  // longer side kThumbnailSide pixels (never enlarged)
};
inline constexpr int kThumbnailSide = 256;

// Decodes one uploaded file to 8-bit BGR. Errors: an empty file kInvalidArgument (400), over
// limits.max_bytes or the pixel limits kTooLarge (413), not an image kUnsupportedFormat (415), a
// damaged image kCorruptInput (422); each message names the file ("file 'a.png': ...").
Result<cv::Mat> decode_upload(const std::string& filename, std::string_view bytes,
                              const ImageLimits& limits);
// decode_upload, then the field's format, size and thumbnail; the same errors.
Result<CheckedField> check_field_image(const std::string& filename, std::string_view bytes,
                                       const ImageLimits& limits);
// A filename safe to store and show: no directories, no control characters, at most 255 bytes.
std::string clean_filename(const std::string& name);

}  // namespace ms::server
