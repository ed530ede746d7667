#include <gtest/gtest.h>

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <cstdlib>
#include <random>

#include <opencv2/imgproc.hpp>

#include "core/image.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// A small BGR test card: a gradient with a coloured disc, so decoders cannot pass by accident.
cv::Mat test_card(int w = 64, int h = 48) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 4), uchar(y * 5), uchar(x + y));
  cv::circle(img, {w / 2, h / 2}, h / 4, cv::Scalar(30, 60, 220), cv::FILLED);
  return img;
}

std::vector<std::uint8_t> encoded(const std::string& ext, const cv::Mat& img = test_card()) {
  return value_or_throw(encode_image(img, ext));
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("ms_image_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                             static_cast<std::streamsize>(bytes.size()));
    return p;
  }

 private:
  fs::path path_;
};

void put_be32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(std::uint8_t(x >> s));
}

// A PNG whose IHDR declares w x h (with a correct CRC) followed by IEND: valid headers, no pixels.
std::vector<std::uint8_t> png_header_only(std::uint32_t w, std::uint32_t h) {
  std::vector<std::uint8_t> v{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  std::vector<std::uint8_t> ihdr{'I', 'H', 'D', 'R'};
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  for (std::uint8_t b : {8, 2, 0, 0, 0}) ihdr.push_back(b);  // 8-bit RGB
  auto crc = [](const std::vector<std::uint8_t>& d) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::uint8_t b : d) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  put_be32(v, 13);
  v.insert(v.end(), ihdr.begin(), ihdr.end());
  put_be32(v, crc(ihdr));
  put_be32(v, 0);
  const std::vector<std::uint8_t> iend{'I', 'E', 'N', 'D'};
  v.insert(v.end(), iend.begin(), iend.end());
  put_be32(v, crc(iend));
  return v;
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(Image, SniffsEveryFormatByContent) {
  for (const auto& [ext, fmt] : std::vector<std::pair<std::string, ImageFormat>>{
           {".jpg", ImageFormat::kJpeg}, {".png", ImageFormat::kPng},
           {".bmp", ImageFormat::kBmp},  {".tiff", ImageFormat::kTiff}}) {
    SCOPED_TRACE(ext);
    const auto bytes = encoded(ext);
    EXPECT_EQ(sniff_image_format(bytes.data(), bytes.size()), fmt);
    const auto info = probe_image(bytes.data(), bytes.size(), "card" + ext);
    ASSERT_TRUE(info.has_value()) << info.error().message;
    EXPECT_EQ(info->width, 64);
    EXPECT_EQ(info->height, 48);
  }
}

TEST(Image, LosslessFormatsRoundTripExactly) {
  const cv::Mat card = test_card();
  for (const std::string ext : {".png", ".bmp", ".tiff"}) {
    SCOPED_TRACE(ext);
    const auto img = decode_image(encoded(ext, card), "card" + ext);
    ASSERT_TRUE(img.has_value()) << img.error().message;
    ASSERT_EQ(img->type(), CV_8UC3);
    EXPECT_EQ(cv::norm(*img, card, cv::NORM_INF), 0.0);
  }
  const auto jpg = decode_image(encoded(".jpg", card), "card.jpg");
  ASSERT_TRUE(jpg.has_value());
  EXPECT_LT(cv::norm(*jpg, card, cv::NORM_L1) / card.total() / 3, 4.0);  // lossy but close
}

TEST(Image, GreyAlphaAndSixteenBitBecomeEightBitBgr) {
  cv::Mat grey(10, 12, CV_8UC1, cv::Scalar(77));
  auto g = decode_image(encoded(".png", grey), "grey.png");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->type(), CV_8UC3);
  EXPECT_EQ(g->at<cv::Vec3b>(5, 5), cv::Vec3b(77, 77, 77));
  cv::Mat bgra(10, 12, CV_8UC4, cv::Scalar(10, 20, 30, 128));
  auto a = decode_image(encoded(".png", bgra), "alpha.png");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
  cv::Mat deep(10, 12, CV_16UC3, cv::Scalar(257 * 9, 257 * 99, 257 * 199));
  auto d = decode_image(encoded(".png", deep), "deep.png");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->at<cv::Vec3b>(0, 0), cv::Vec3b(9, 99, 199));
}

TEST(Image, JpegBytesInAPngNameDecode) {
  TempDir dir;
  const std::string path = dir.write("field.png", encoded(".jpg"));
  auto img = read_image(path);
  ASSERT_TRUE(img.has_value()) << img.error().message;
  EXPECT_EQ(img->size(), cv::Size(64, 48));
}

TEST(Image, TxlPbcPngNamedJpegsDecode) {
  const fs::path root = fs::path(MARROWSCOPE_SOURCE_DIR "/../shared/data") / "txl-pbc" / "images" / "val";
  if (!fs::is_directory(root)) GTEST_SKIP() << root << " absent";
  int jpeg_named_png = 0, png = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.path().extension() != ".png" || (jpeg_named_png >= 3 && png >= 1)) continue;
    auto bytes = value_or_throw(read_file_bytes(e.path().string()));
    const ImageFormat f = sniff_image_format(bytes.data(), bytes.size());
    if ((f == ImageFormat::kJpeg && jpeg_named_png >= 3) || (f == ImageFormat::kPng && png >= 1)) continue;
    auto img = decode_image(bytes, e.path().string());
    ASSERT_TRUE(img.has_value()) << img.error().message;
    EXPECT_GT(img->cols, 100);
    (f == ImageFormat::kJpeg ? jpeg_named_png : png)++;
  }
  EXPECT_EQ(jpeg_named_png, 3);
}

TEST(Image, TruncatedFilesAreCorruptInput) {
  for (const std::string ext : {".jpg", ".png"}) {
    auto bytes = encoded(ext);
    for (std::size_t keep : {bytes.size() / 2, bytes.size() - 3, std::size_t{30}, std::size_t{12}}) {
      SCOPED_TRACE(ext + " keeping " + std::to_string(keep) + " bytes");
      const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + keep);
      auto r = decode_image(cut, "cut" + ext);
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code, ErrorCode::kCorruptInput) << r.error().message;
      EXPECT_NE(r.error().message.find("cut" + ext), std::string::npos);
    }
  }
  for (const std::string ext : {".bmp", ".tiff"}) {
    const auto bytes = encoded(ext);
    for (std::size_t keep : {bytes.size() * 9 / 10, bytes.size() / 2, std::size_t{6}}) {
      SCOPED_TRACE(ext + " keeping " + std::to_string(keep) + " bytes");
      auto r = decode_image(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + keep), "cut" + ext);
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code, ErrorCode::kCorruptInput) << r.error().message;
    }
  }
}

TEST(Image, TruncatedJpegWithAThumbnailIsCorruptInput) {
  // Camera JPEGs carry an EXIF thumbnail (a whole JPEG, EOI included) in APP1 before the main
  // image: its EOI must not make a truncated main image look complete.
  const auto thumb = encoded(".jpg", test_card(16, 12));
  const auto main = encoded(".jpg", test_card(160, 120));
  std::vector<std::uint8_t> file{0xFF, 0xD8, 0xFF, 0xE1};
  const std::size_t app1_len = 2 + 6 + thumb.size();
  file.push_back(std::uint8_t(app1_len >> 8));
  file.push_back(std::uint8_t(app1_len & 0xFF));
  for (char c : std::string("Exif\0\0", 6)) file.push_back(std::uint8_t(c));
  file.insert(file.end(), thumb.begin(), thumb.end());
  file.insert(file.end(), main.begin() + 2, main.end());  // the main image after its SOI
  auto whole = decode_image(file, "camera.jpg");
  ASSERT_TRUE(whole.has_value()) << whole.error().message;
  EXPECT_EQ(whole->size(), cv::Size(160, 120));
  const std::vector<std::uint8_t> cut(file.begin(), file.end() - main.size() / 3);
  auto r = decode_image(cut, "camera.jpg");
  ASSERT_FALSE(r.has_value()) << "a truncated image decoded as " << r->cols << "x" << r->rows;
  EXPECT_EQ(r.error().code, ErrorCode::kCorruptInput);
}

TEST(Image, DecompressionBombIsTooLargeWithoutAllocating) {
  const long before = peak_rss_kib();
  for (std::uint32_t side : {100000u, 20000u}) {
    SCOPED_TRACE(side);
    const auto bomb = png_header_only(side, side);
    auto info = probe_image(bomb.data(), bomb.size(), "bomb.png");
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->width, int(side));
    auto r = decode_image(bomb, "bomb.png");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
    EXPECT_NE(r.error().message.find(std::to_string(side) + "x" + std::to_string(side)), std::string::npos)
        << r.error().message;
  }
  // 20000^2 RGB would be 1.2 GB: the refusal came from the header alone.
  EXPECT_LT(peak_rss_kib() - before, 64 * 1024);

  // The same from a JPEG: patch the SOF0 height and width to 60000.
  auto jpg = encoded(".jpg");
  for (std::size_t i = 2; i + 9 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = jpg[i + 7] = 0xEA;
      jpg[i + 6] = jpg[i + 8] = 0x60;
      break;
    }
  auto j = decode_image(jpg, "bomb.jpg");
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code, ErrorCode::kTooLarge);
  // And a caller's tighter pixel limit applies.
  ImageLimits small;
  small.max_pixels = 1000;
  auto l = decode_image(encoded(".png"), "card.png", small);
  ASSERT_FALSE(l.has_value());
  EXPECT_EQ(l.error().code, ErrorCode::kTooLarge);
}

TEST(Image, GarbageAndEmptyAreUnsupportedNamingTheFile) {
  std::mt19937 rng(17);
  std::vector<std::uint8_t> garbage(500);
  for (auto& b : garbage) b = std::uint8_t(rng());
  garbage[0] = 0x00;  // no format starts with a NUL
  auto r = decode_image(garbage, "upload-17.png");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_NE(r.error().message.find("upload-17.png"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("JPEG, PNG, BMP or TIFF"), std::string::npos);

  auto e = decode_image(std::vector<std::uint8_t>{}, "empty.jpg");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_NE(e.error().message.find("empty.jpg"), std::string::npos);
  EXPECT_NE(e.error().message.find("0 bytes"), std::string::npos) << e.error().message;

  TempDir dir;
  auto f = read_image(dir.write("zero.png", {}));
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_NE(f.error().message.find("zero.png"), std::string::npos);
}

TEST(Image, OverMaxBytesIsTooLarge) {
  ImageLimits limits;
  limits.max_bytes = 100;
  auto r = decode_image(encoded(".png"), "big.png", limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(r.error().message.find("at most 100 bytes"), std::string::npos) << r.error().message;
  TempDir dir;
  auto f = read_image(dir.write("big.png", encoded(".png")), limits);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(f.error().message.find("big.png"), std::string::npos);
  auto missing = read_image("/nonexistent/field.png");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(Image, HostileHeadersAreErrorsNotCrashes) {
  // BMP declaring a height of INT_MIN (its absolute value does not fit an int).
  std::vector<std::uint8_t> bmp(64, 0);
  bmp[0] = 'B';
  bmp[1] = 'M';
  bmp[18] = 16;  // width 16
  bmp[25] = 0x80;  // height 0x80000000
  auto b = decode_image(bmp, "odd.bmp");
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code, ErrorCode::kCorruptInput);
  EXPECT_NE(b.error().message.find("-2147483648"), std::string::npos) << b.error().message;
  // TIFF whose first directory lies past the end.
  std::vector<std::uint8_t> tiff{'I', 'I', 42, 0, 0xFF, 0xFF, 0, 0, 0, 0};
  auto t = decode_image(tiff, "odd.tiff");
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, ErrorCode::kCorruptInput);
  // A JPEG with a non-marker byte where a marker must be.
  std::vector<std::uint8_t> jpg{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34, 0xFF, 0xD9};
  auto j = decode_image(jpg, "odd.jpg");
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code, ErrorCode::kCorruptInput);
  // A PNG header with zero width.
  auto z = decode_image(png_header_only(0, 10), "zero.png");
  ASSERT_FALSE(z.has_value());
  EXPECT_EQ(z.error().code, ErrorCode::kCorruptInput);
  // A valid header whose pixel data is missing: the decoder's refusal is an error too.
  auto p = decode_image(png_header_only(8, 8), "nopixels.png");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::kCorruptInput);
}

// A little-endian baseline TIFF written by hand: 8-bit greyscale, one uncompressed strip of
// `width` x `height` pixels of value 200, with the first-directory entries `entries` (tag, type,
// count, value) followed by the ones a decoder needs (which the caller does not list itself).
struct TiffEntry {
  std::uint16_t tag, type;
  std::uint32_t count, value;
};
std::vector<std::uint8_t> hand_made_tiff(int width, int height, std::vector<TiffEntry> entries) {
  const std::uint32_t pixels = std::uint32_t(width) * std::uint32_t(height);
  const std::uint32_t strip = 8;  // pixel data right after the header
  const std::uint32_t ifd = strip + pixels + (pixels % 2);
  entries.push_back({258, 3, 1, 8});       // BitsPerSample
  entries.push_back({259, 3, 1, 1});       // Compression: none
  entries.push_back({262, 3, 1, 1});       // PhotometricInterpretation: BlackIsZero
  entries.push_back({273, 4, 1, strip});   // StripOffsets
  entries.push_back({277, 3, 1, 1});       // SamplesPerPixel
  entries.push_back({278, 4, 1, std::uint32_t(height)});  // RowsPerStrip
  entries.push_back({279, 4, 1, pixels});  // StripByteCounts
  std::stable_sort(entries.begin(), entries.end(), [](const TiffEntry& a, const TiffEntry& b) { return a.tag < b.tag; });
  std::vector<std::uint8_t> v{'I', 'I', 42, 0};
  auto le16 = [&](std::uint32_t x) { v.push_back(std::uint8_t(x)); v.push_back(std::uint8_t(x >> 8)); };
  auto le32 = [&](std::uint32_t x) { le16(x & 0xFFFF); le16(x >> 16); };
  le32(ifd);
  v.insert(v.end(), pixels, 200);
  if (pixels % 2) v.push_back(0);
  le16(std::uint32_t(entries.size()));
  for (const auto& e : entries) {
    le16(e.tag);
    le16(e.type);
    le32(e.count);
    if (e.type == 3) {  // a SHORT sits in the first two bytes of the value field
      le16(e.value);
      le16(0);
    } else {
      le32(e.value);
    }
  }
  le32(0);  // no next directory
  return v;
}

TEST(Image, HandMadeTiffDecodes) {
  const auto tiff = hand_made_tiff(12, 10, {{256, 4, 1, 12}, {257, 3, 1, 10}});
  auto img = decode_image(tiff, "hand.tif");
  ASSERT_TRUE(img.has_value()) << img.error().message;
  EXPECT_EQ(img->size(), cv::Size(12, 10));
  EXPECT_EQ(img->at<cv::Vec3b>(3, 4), cv::Vec3b(200, 200, 200));
}

TEST(Image, TiffWithDuplicateSizeTagsIsRefusedBeforeDecoding) {
  // libtiff keeps the first ImageWidth/ImageLength of a directory and ignores later copies; a
  // probe that kept the last would check 10 x 10 while the decoder allocated 200 x 150.
  ImageLimits limits;
  limits.max_pixels = 10000;
  limits.max_side = 120;
  const auto tiff = hand_made_tiff(200, 150, {{256, 4, 1, 200}, {256, 4, 1, 10}, {257, 4, 1, 150}, {257, 4, 1, 10}});
  auto r = decode_image(tiff, "twice.tif", limits);
  ASSERT_FALSE(r.has_value()) << "decoded " << r->cols << "x" << r->rows << " past a 10000-pixel limit";
  EXPECT_EQ(r.error().code, ErrorCode::kCorruptInput) << r.error().message;
  EXPECT_NE(r.error().message.find("twice.tif"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("tag 256 (ImageWidth) twice"), std::string::npos) << r.error().message;
  // Small first, large later: refused the same way (which copy counts is not guessed).
  const auto reversed = hand_made_tiff(10, 10, {{256, 4, 1, 10}, {256, 4, 1, 60000}, {257, 4, 1, 10}});
  auto rr = decode_image(reversed, "reversed.tif");
  ASSERT_FALSE(rr.has_value());
  EXPECT_EQ(rr.error().code, ErrorCode::kCorruptInput);
  // Any repeated tag of the first directory, not only the size.
  const auto other = hand_made_tiff(10, 10, {{256, 4, 1, 10}, {257, 4, 1, 10}, {259, 3, 1, 1}});
  auto ro = decode_image(other, "compression.tif");
  ASSERT_FALSE(ro.has_value());
  EXPECT_NE(ro.error().message.find("tag 259 (Compression) twice"), std::string::npos) << ro.error().message;
  // The probe alone says the same (the analysis worker and exports probe through decode_image).
  auto info = probe_image(tiff.data(), tiff.size(), "twice.tif");
  ASSERT_FALSE(info.has_value());
}

TEST(Image, TiffSizeTagsMustBeOneShortOrLong) {
  // ImageWidth as two LONGs: which one a decoder uses is not for the probe to guess.
  auto r = decode_image(hand_made_tiff(10, 10, {{256, 4, 2, 10}, {257, 4, 1, 10}}), "count.tif");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kCorruptInput);
  EXPECT_NE(r.error().message.find("ImageWidth"), std::string::npos) << r.error().message;
  // A directory whose entries run past the end of the file.
  auto bytes = hand_made_tiff(10, 10, {{256, 4, 1, 10}, {257, 4, 1, 10}});
  bytes.resize(bytes.size() - 20);
  auto cut = decode_image(bytes, "cut.tif");
  ASSERT_FALSE(cut.has_value());
  EXPECT_EQ(cut.error().code, ErrorCode::kCorruptInput);
}

TEST(Image, DecodedSizeIsCheckedAgainstTheLimitsToo) {
  // The same check, applied to what the decoder produced (defence in depth behind the probe).
  ImageLimits limits;
  limits.max_pixels = 10000;
  limits.max_side = 120;
  EXPECT_TRUE(check_image_size(100, 100, limits, "ok.png"));
  auto over = check_image_size(200, 150, limits, "decoded.tif");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(over.error().message.find("decoded.tif"), std::string::npos);
  EXPECT_NE(over.error().message.find("200x150"), std::string::npos) << over.error().message;
  EXPECT_EQ(check_image_size(121, 10, limits, "side.png").error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(check_image_size(0, 10, limits, "zero.png").error().code, ErrorCode::kCorruptInput);
}

TEST(Image, SixteenBitAlphaIsConvertedExactlyInBands) {
  // Taller than one conversion band (256 rows), 16-bit BGRA: every row converted, alpha dropped.
  cv::Mat deep(600, 7, CV_16UC4);
  for (int y = 0; y < deep.rows; ++y)
    for (int x = 0; x < deep.cols; ++x)
      deep.at<cv::Vec4w>(y, x) = cv::Vec4w(std::uint16_t(257 * (y % 256)), std::uint16_t(257 * x),
                                           std::uint16_t(257 * 99), std::uint16_t(257 * 7));
  auto d = decode_image(encoded(".png", deep), "deep-alpha.png");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_EQ(d->type(), CV_8UC3);
  ASSERT_EQ(d->size(), cv::Size(7, 600));
  for (int y : {0, 255, 256, 511, 599})
    EXPECT_EQ(d->at<cv::Vec3b>(y, 3), cv::Vec3b(uchar(y % 256), 3, 99)) << "row " << y;
  cv::Mat grey16(300, 5, CV_16UC1, cv::Scalar(257 * 42));
  auto g = decode_image(encoded(".png", grey16), "grey16.png");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->at<cv::Vec3b>(299, 4), cv::Vec3b(42, 42, 42));
}

TEST(Image, DecoderPixelLimitComesFromTheStartEnvironment) {
  const char* before = std::getenv("OPENCV_IO_MAX_IMAGE_PIXELS");
  const std::string saved = before ? before : "";
  ::unsetenv("OPENCV_IO_MAX_IMAGE_PIXELS");
  EXPECT_FALSE(decoder_pixel_limit_in_effect());
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "100000000", 1);
  EXPECT_TRUE(decoder_pixel_limit_in_effect());
  EXPECT_TRUE(decoder_pixel_limit_in_effect(kMaxImagePixels));
  EXPECT_FALSE(decoder_pixel_limit_in_effect(1000));
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "1073741824", 1);
  EXPECT_FALSE(decoder_pixel_limit_in_effect()) << "OpenCV's own default is no cap at our size";
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "lots", 1);
  EXPECT_FALSE(decoder_pixel_limit_in_effect());
  // Already in effect: returns true without re-executing anything.
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "5000", 1);
  char arg0[] = "test";
  char* argv[] = {arg0, nullptr};
  EXPECT_TRUE(ensure_decoder_pixel_limit(argv));
  if (before) ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", saved.c_str(), 1);
  else ::unsetenv("OPENCV_IO_MAX_IMAGE_PIXELS");
}

TEST(Image, WriteImageThenReadImage) {
  TempDir dir;
  const std::string out = dir.path("card.PNG");  // the extension picks the encoder, any case
  ASSERT_TRUE(write_image(out, test_card()));
  auto back = read_image(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(cv::norm(*back, test_card(), cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace ms
