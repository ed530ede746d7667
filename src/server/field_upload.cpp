#include "server/field_upload.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "net/http_parse.h"

namespace ms::server {

std::string clean_filename(const std::string& name) {
  std::string base = name;
  const auto slash = base.find_last_of("/\\");
  if (slash != std::string::npos) base = base.substr(slash + 1);
  std::string out;
  for (char c : base)
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  out = out.substr(0, 255);
  // Names are stored as text (PostgreSQL refuses bytes that are not UTF-8) and shown in JSON.
  if (!net::is_valid_utf8(out))
    for (auto& c : out)
      if (static_cast<unsigned char>(c) >= 0x80) c = '_';
  if (out.empty() || out == "." || out == "..") out = "upload";
  return out;
}

Result<cv::Mat> decode_upload(const std::string& filename, std::string_view bytes,
                              const ImageLimits& limits) {
  const std::string name = "file '" + clean_filename(filename) + "'";
  if (bytes.empty()) return fail(ErrorCode::kInvalidArgument, name, "image bytes", "an empty file");
  if (bytes.size() > limits.max_bytes)
    return fail(ErrorCode::kTooLarge, name, "at most " + std::to_string(limits.max_bytes) + " bytes",
                std::to_string(bytes.size()) + " bytes");
  return decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name, limits);
}

Result<CheckedField> check_field_image(const std::string& filename, std::string_view bytes,
                                       const ImageLimits& limits) {
  auto mat = decode_upload(filename, bytes, limits);
  if (!mat) return tl::unexpected(mat.error());
  CheckedField out;
  out.filename = clean_filename(filename);
  out.format = sniff_image_format(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  out.width = mat->cols;
  out.height = mat->rows;
  const double scale = std::min(1.0, static_cast<double>(kThumbnailSide) / std::max(mat->cols, mat->rows));
  cv::Mat thumb;
  cv::resize(*mat, thumb,
             cv::Size(std::max(1, static_cast<int>(mat->cols * scale + 0.5)),
                      std::max(1, static_cast<int>(mat->rows * scale + 0.5))),
             0, 0, cv::INTER_AREA);
  auto jpeg = encode_image(thumb, ".jpg", 85);
  if (!jpeg) return tl::unexpected(jpeg.error());
  out.thumbnail_jpeg.assign(jpeg->begin(), jpeg->end());
  return out;
}

}  // namespace ms::server
