#include <gtest/gtest.h>

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
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
