// Image sniffing, header probing and decoding (core/image.h) on arbitrary bytes, as an upload.
// Properties: decoding never allocates past the limits, the decoded size is the probed size (the
// limits are checked on the probed size, so a decoder that disagreed would bypass them), and the
// result is always 8-bit BGR.
#include <cstdint>
#include <string>

#include "core/image.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Small limits keep each run fast; the checks are the same code as with the defaults.
  ms::ImageLimits limits;
  limits.max_bytes = 1u << 20;
  limits.max_pixels = 4'000'000;
  limits.max_side = 4096;
  const ms::ImageFormat sniffed = ms::sniff_image_format(data, size);
  auto info = ms::probe_image(data, size, "upload");
  if (info) FUZZ_CHECK(info->format == sniffed && sniffed != ms::ImageFormat::kUnknown);
  auto mat = ms::decode_image(data, size, "upload", limits);
  if (mat) {
    FUZZ_CHECK(info);
    FUZZ_CHECK(mat->type() == CV_8UC3);
    FUZZ_CHECK(mat->cols == info->width && mat->rows == info->height);
    FUZZ_CHECK(mat->cols <= limits.max_side && mat->rows <= limits.max_side);
    FUZZ_CHECK(std::int64_t(mat->cols) * mat->rows <= limits.max_pixels);
  } else {
    FUZZ_CHECK(!mat.error().message.empty());
  }
  return 0;
}
