#include "core/image.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace ms {

std::string_view image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kTiff: return "TIFF";
    default: return "unknown";
  }
}

ImageFormat sniff_image_format(const std::uint8_t* d, std::size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::kJpeg;
  static const std::uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n >= 8 && std::memcmp(d, png, 8) == 0) return ImageFormat::kPng;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return ImageFormat::kBmp;
  if (n >= 4 && ((d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0) ||
                 (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42)))
    return ImageFormat::kTiff;
  return ImageFormat::kUnknown;
}

namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t((p[0] << 8) | p[1]); }
std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}
std::uint16_t le16(const std::uint8_t* p) { return std::uint16_t(p[0] | (p[1] << 8)); }

std::string found_bytes(const std::uint8_t* d, std::size_t n) {
  if (n == 0) return "an empty file (0 bytes)";
  char buf[64];
  std::string s = "bytes";
  for (std::size_t i = 0; i < std::min<std::size_t>(n, 8); ++i) {
    std::snprintf(buf, sizeof buf, " %02X", d[i]);
    s += buf;
  }
  return s;
}

// Walks the JPEG marker segments after SOI (ITU T.81 B.1.1) up to the first marker m for which
// stop(m) holds. Returns its offset, or nullopt with `problem` saying what broke.
template <typename Stop>
std::optional<std::size_t> walk_jpeg_markers(const std::uint8_t* d, std::size_t n, Stop stop,
                                             std::string& problem) {
  std::size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) {
      problem = "garbage where a JPEG marker belongs";
      return std::nullopt;
    }
    const std::uint8_t m = d[i + 1];
    if (m == 0xFF) { ++i; continue; }  // fill byte
    if (stop(m)) return i;
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { i += 2; continue; }  // no length
    const std::uint16_t len = be16(d + i + 2);
    if (len < 2) {
      problem = "a JPEG segment length of " + std::to_string(len);
      return std::nullopt;
    }
    i += 2 + len;
  }
  problem = "a truncated file";
  return std::nullopt;
}

Result<ImageInfo> probe_jpeg(const std::uint8_t* d, std::size_t n, const std::string& name) {
  // The frame header (SOFn, T.81 B.2.2) holds the size; DHT, JPG and DAC share the C0-CF range.
  auto is_sof = [](std::uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; };
  std::string problem;
  const auto sof = walk_jpeg_markers(d, n, is_sof, problem);
  if (sof && *sof + 9 > n) problem = "a truncated file";
  if (!sof || *sof + 9 > n) return fail(ErrorCode::kCorruptInput, name, "a complete JPEG header", problem);
  return ImageInfo{ImageFormat::kJpeg, be16(d + *sof + 7), be16(d + *sof + 5)};
}

const char* tiff_tag_name(std::uint16_t tag) {
  switch (tag) {
    case 256: return "ImageWidth";
    case 257: return "ImageLength";
    case 258: return "BitsPerSample";
    case 259: return "Compression";
    case 262: return "PhotometricInterpretation";
    case 273: return "StripOffsets";
    case 277: return "SamplesPerPixel";
    case 278: return "RowsPerStrip";
    case 279: return "StripByteCounts";
    case 322: return "TileWidth";
    case 323: return "TileLength";
    default: return "";
  }
}

// The first image file directory (TIFF 6.0 section 2). Every entry must lie inside the file and
// every tag appear once: libtiff keeps the first copy of a repeated tag and ignores the rest, so
// an ImageWidth/ImageLength pair listed twice (large first, small later) would pass a check that
// read the other copy while the decoder allocated the large one. ImageWidth and ImageLength are
// one SHORT or LONG each (other types and counts are refused rather than guessed at).
Result<ImageInfo> probe_tiff(const std::uint8_t* d, std::size_t n, const std::string& name) {
  const bool le = d[0] == 'I';
  auto r16 = [&](std::size_t o) { return le ? le16(d + o) : be16(d + o); };
  auto r32 = [&](std::size_t o) { return le ? le32(d + o) : be32(d + o); };
  if (n < 8) return fail(ErrorCode::kCorruptInput, name, "a TIFF header", "a truncated file");
  const std::size_t ifd = r32(4);
  if (ifd + 2 > n) return fail(ErrorCode::kCorruptInput, name, "a TIFF directory inside the file", "an offset past the end");
  const std::uint16_t count = r16(ifd);
  if (ifd + 2 + 12u * count > n)
    return fail(ErrorCode::kCorruptInput, name, "a TIFF directory inside the file",
                std::to_string(count) + " entries running past the end");
  ImageInfo info{ImageFormat::kTiff, 0, 0};
  std::set<std::uint16_t> seen;
  for (std::uint16_t k = 0; k < count; ++k) {
    const std::size_t e = ifd + 2 + 12u * k;
    const std::uint16_t tag = r16(e), type = r16(e + 2);
    const std::uint32_t values = r32(e + 4);
    if (!seen.insert(tag).second) {
      const std::string known = tiff_tag_name(tag);
      return fail(ErrorCode::kCorruptInput, name, "each TIFF tag once in the first directory",
                  "tag " + std::to_string(tag) + (known.empty() ? "" : " (" + known + ")") + " twice");
    }
    if (tag != 256 && tag != 257) continue;
    if ((type != 3 && type != 4) || values != 1)
      return fail(ErrorCode::kCorruptInput, name,
                  std::string("one SHORT or LONG TIFF ") + tiff_tag_name(tag),
                  "type " + std::to_string(type) + ", count " + std::to_string(values));
    const std::uint32_t v = type == 3 ? r16(e + 8) : r32(e + 8);
    if (v > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
      return fail(ErrorCode::kCorruptInput, name, std::string("a TIFF ") + tiff_tag_name(tag) + " within 31 bits",
                  std::to_string(v));
    (tag == 256 ? info.width : info.height) = static_cast<int>(v);
  }
  if (info.width <= 0 || info.height <= 0)
    return fail(ErrorCode::kCorruptInput, name, "TIFF ImageWidth and ImageLength tags", "none");
  return info;
}

// Truncation checks: libjpeg and libpng may return a partly decoded image with only a warning.
// A complete JPEG has an EOI (FF D9) after its first start-of-scan: an EXIF thumbnail carries its
// own EOI inside APP1, before any scan of the main image, so an EOI anywhere does not prove the
// main image complete. Trailing bytes after the EOI (some cameras append data) are allowed.
bool jpeg_has_end(const std::uint8_t* d, std::size_t n) {
  std::string problem;
  const auto sos = walk_jpeg_markers(d, n, [](std::uint8_t m) { return m == 0xDA; }, problem);
  if (!sos) return false;
  for (std::size_t k = n - 1; k > *sos + 2; --k)
    if (d[k - 1] == 0xFF && d[k] == 0xD9) return true;
  return false;
}
bool png_has_end(const std::uint8_t* d, std::size_t n) {
  const std::size_t tail = std::min<std::size_t>(n, 4096);
  for (std::size_t i = n - tail; i + 4 <= n; ++i)
    if (std::memcmp(d + i, "IEND", 4) == 0) return true;
  return false;
}

}  // namespace

Result<ImageInfo> probe_image(const std::uint8_t* d, std::size_t n, const std::string& name) {
  const ImageFormat f = sniff_image_format(d, n);
  switch (f) {
    case ImageFormat::kJpeg: return probe_jpeg(d, n, name);
    case ImageFormat::kPng:
      if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0)
        return fail(ErrorCode::kCorruptInput, name, "a PNG IHDR chunk", "a truncated header");
      return ImageInfo{f, static_cast<int>(be32(d + 16)), static_cast<int>(be32(d + 20))};
    case ImageFormat::kBmp: {
      if (n < 26) return fail(ErrorCode::kCorruptInput, name, "a BMP header", "a truncated header");
      // Signed 32-bit fields (a negative height means top-down rows); widen before negating so
      // a hostile INT_MIN height is an error, not undefined behaviour.
      const std::int64_t w = static_cast<std::int32_t>(le32(d + 18));
      const std::int64_t h = static_cast<std::int32_t>(le32(d + 22));
      const std::int64_t rows = h < 0 ? -h : h;
      if (rows > std::numeric_limits<int>::max())
        return fail(ErrorCode::kCorruptInput, name, "a BMP height within 31 bits", std::to_string(h));
      return ImageInfo{f, static_cast<int>(w), static_cast<int>(rows)};
    }
    case ImageFormat::kTiff: return probe_tiff(d, n, name);
    default:
      return fail(ErrorCode::kUnsupportedFormat, name, "a JPEG, PNG, BMP or TIFF image",
                  found_bytes(d, n));
  }
}

Status check_image_size(int width, int height, const ImageLimits& limits, const std::string& name) {
  const std::string dims = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0)
    return fail(ErrorCode::kCorruptInput, name, "positive image dimensions", dims);
  if (width > limits.max_side || height > limits.max_side ||
      std::int64_t(width) * height > limits.max_pixels)
    return fail(ErrorCode::kTooLarge, name,
                "at most " + std::to_string(limits.max_pixels) + " pixels and " +
                    std::to_string(limits.max_side) + " per side",
                dims);
  return {};
}

namespace {

// 8-bit BGR from what the decoder gave (1, 3 or 4 channels of 8 or 16 bits). Deep or 4-channel
// images are converted a band of rows at a time straight into the result, so the conversion
// holds the decoded image, the result and one band, never a second full-size intermediate.
Result<cv::Mat> to_bgr8(const cv::Mat& decoded, const std::string& name) {
  if (decoded.depth() != CV_8U && decoded.depth() != CV_16U)
    return fail(ErrorCode::kUnsupportedFormat, name, "8 or 16 bits per channel", "another depth");
  const int channels = decoded.channels();
  if (channels != 1 && channels != 3 && channels != 4)
    return fail(ErrorCode::kUnsupportedFormat, name, "1, 3 or 4 channels", std::to_string(channels));
  if (decoded.depth() == CV_8U && channels == 3) return decoded;
  const int code = channels == 1 ? cv::COLOR_GRAY2BGR : channels == 4 ? cv::COLOR_BGRA2BGR : -1;
  cv::Mat bgr(decoded.rows, decoded.cols, CV_8UC3);
  constexpr int kBandRows = 256;
  cv::Mat band8;
  for (int y = 0; y < decoded.rows; y += kBandRows) {
    const cv::Range rows(y, std::min(decoded.rows, y + kBandRows));
    const cv::Mat src = decoded.rowRange(rows);
    cv::Mat dst = bgr.rowRange(rows);
    if (decoded.depth() == CV_16U) {
      src.convertTo(band8, CV_8U, 1.0 / 257.0);
    } else {
      band8 = src;
    }
    if (code < 0) {
      band8.copyTo(dst);
    } else {
      cv::cvtColor(band8, dst, code);  // dst is the right size and type: written in place
    }
  }
  return bgr;
}

}  // namespace

Result<cv::Mat> decode_image(const std::uint8_t* d, std::size_t n, const std::string& name,
                             const ImageLimits& limits) {
  if (n > limits.max_bytes)
    return fail(ErrorCode::kTooLarge, name, "at most " + std::to_string(limits.max_bytes) + " bytes",
                std::to_string(n) + " bytes");
  auto info = probe_image(d, n, name);
  if (!info) return tl::unexpected(info.error());
  if (auto ok = check_image_size(info->width, info->height, limits, name); !ok)
    return tl::unexpected(ok.error());
  if (info->format == ImageFormat::kJpeg && !jpeg_has_end(d, n))
    return fail(ErrorCode::kCorruptInput, name, "a complete JPEG ending in an EOI marker",
                "a truncated file");
  if (info->format == ImageFormat::kPng && !png_has_end(d, n))
    return fail(ErrorCode::kCorruptInput, name, "a complete PNG ending in an IEND chunk",
                "a truncated file");
  cv::Mat decoded;
  try {
    const cv::Mat buf(1, static_cast<int>(n), CV_8UC1, const_cast<std::uint8_t*>(d));
    decoded = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::kCorruptInput, name,
                "a decodable " + std::string(image_format_name(info->format)) + " image",
                std::string("a decoder error: ") + e.what());
  }
  if (decoded.empty())
    return fail(ErrorCode::kCorruptInput, name,
                "a decodable " + std::string(image_format_name(info->format)) + " image",
                "data the decoder rejected");
  // Defence in depth: the decoder's idea of the size is the one that costs memory. Checked before
  // any conversion allocates more.
  if (auto ok = check_image_size(decoded.cols, decoded.rows, limits, name); !ok) {
    decoded.release();
    return tl::unexpected(ok.error());
  }
  return to_bgr8(decoded, name);
}

Result<cv::Mat> decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name,
                             const ImageLimits& limits) {
  return decode_image(bytes.data(), bytes.size(), name, limits);
}

Result<std::vector<std::uint8_t>> read_file_bytes(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return fail(ErrorCode::kNotFound, path + ": no such file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail(ErrorCode::kIo, path + ": cannot read its size: " + ec.message());
  if (size > max_bytes)
    return fail(ErrorCode::kTooLarge, path, "at most " + std::to_string(max_bytes) + " bytes",
                std::to_string(size) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIo, path + ": cannot open file");
  std::vector<std::uint8_t> bytes(size);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    return fail(ErrorCode::kIo, path + ": read failed");
  return bytes;
}

Result<cv::Mat> read_image(const std::string& path, const ImageLimits& limits) {
  auto bytes = read_file_bytes(path, limits.max_bytes);
  if (!bytes) return tl::unexpected(bytes.error());
  return decode_image(*bytes, path, limits);
}

Result<std::vector<std::uint8_t>> encode_image(const cv::Mat& bgr, const std::string& ext,
                                               int jpeg_quality) {
  std::vector<std::uint8_t> out;
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  try {
    if (!cv::imencode(ext, bgr, out, params))
      return fail(ErrorCode::kInternal, "encoding " + ext + " failed");
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::kInvalidArgument, "encoding " + ext + ": " + e.what());
  }
  return out;
}

Status write_image(const std::string& path, const cv::Mat& bgr) {
  auto ext = std::filesystem::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(c));
  auto bytes = encode_image(bgr, ext.empty() ? ".png" : ext);
  if (!bytes) return tl::unexpected(bytes.error());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail(ErrorCode::kIo, path + ": cannot write file: " + std::strerror(errno));
  out.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
  if (!out) return fail(ErrorCode::kIo, path + ": write failed");
  return {};
}

bool decoder_pixel_limit_in_effect(std::int64_t max_pixels) {
  const char* v = std::getenv("OPENCV_IO_MAX_IMAGE_PIXELS");
  if (!v || !*v) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long cap = std::strtoull(v, &end, 10);
  return errno == 0 && end && *end == '\0' && v[0] != '-' && cap > 0 &&
         cap <= static_cast<unsigned long long>(max_pixels);
}

bool ensure_decoder_pixel_limit(char** argv, std::int64_t max_pixels) {
  if (decoder_pixel_limit_in_effect(max_pixels)) return true;
  if (!argv || !argv[0]) return false;
  if (::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(max_pixels).c_str(), 1) != 0) return false;
  ::execv("/proc/self/exe", argv);
  return false;  // execv returned: it failed; this process goes on without the cap
}

}  // namespace ms
