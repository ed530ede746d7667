#pragma once
// Test fixtures for the annotation formats: a scratch folder removed after each test, and small
// synthetic field images (coloured discs on a pale background) whose boxes are known exactly.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "data/annotation.h"

namespace ms::testing {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, unique per process and test, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("marrowscope_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  fs::path path_;
};

inline void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes a width x height field with one filled disc per box (inscribed in the box). `as_jpeg`
// writes JPEG bytes whatever the extension of `path` (txl-pbc has JPEG bytes in .png files).
inline void write_field_image(const fs::path& path, int width, int height,
                              const std::vector<Box>& boxes = {}, bool as_jpeg = false) {
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(230, 220, 235));
  for (const auto& b : boxes)
    cv::ellipse(img, cv::RotatedRect(cv::Point2f(b.cx(), b.cy()), cv::Size2f(b.width(), b.height()), 0),
                cv::Scalar(160, 60, 120), cv::FILLED);
  fs::create_directories(path.parent_path());
  auto bytes = encode_image(img, as_jpeg ? ".jpg" : ".png");
  ASSERT_TRUE(bytes.has_value()) << bytes.error().message;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
}

// Three fields in two splits: sizes 64x48 (PNG), 80x80 (JPEG bytes in a .png), 40x30 (no boxes).
// Boxes have fractional corners so a lossy writer would show.
inline FieldDataset make_field_dataset(const fs::path& image_dir) {
  FieldDataset ds;
  ds.classes = {"White Blood Cell (WBC)", "RBC", "Platelet"};
  Field a;
  a.image_path = (image_dir / "train" / "a.png").string();
  a.split = "train";
  a.width = 64;
  a.height = 48;
  a.boxes = {{Box{4.25f, 6.5f, 20.75f, 22.f}, 0, 1.f}, {Box{30.f, 10.f, 50.5f, 40.125f}, 1, 1.f}};
  Field b;
  b.image_path = (image_dir / "val" / "b.png").string();
  b.split = "val";
  b.width = 80;
  b.height = 80;
  b.boxes = {{Box{0.f, 0.f, 10.5f, 12.f}, 2, 1.f}, {Box{60.f, 61.f, 80.f, 80.f}, 1, 1.f},
             {Box{33.3f, 20.1f, 47.7f, 35.9f}, 0, 1.f}};
  Field c;
  c.image_path = (image_dir / "val" / "c.jpg").string();
  c.split = "val";
  c.width = 40;
  c.height = 30;
  std::vector<Box> ab, bb;
  for (const auto& x : a.boxes) ab.push_back(x.box);
  for (const auto& x : b.boxes) bb.push_back(x.box);
  write_field_image(a.image_path, a.width, a.height, ab);
  write_field_image(b.image_path, b.width, b.height, bb, /*as_jpeg=*/true);
  write_field_image(c.image_path, c.width, c.height, {}, /*as_jpeg=*/true);
  ds.fields = {a, b, c};
  return ds;
}

// The field whose image file has the same name as `image_path`'s, or nullptr.
inline const Field* find_field(const FieldDataset& ds, const std::string& image_path) {
  const auto name = fs::path(image_path).filename();
  for (const auto& f : ds.fields)
    if (fs::path(f.image_path).filename() == name) return &f;
  return nullptr;
}

// Expects the same classes, and per image name the same split, size and boxes (within tol px).
inline void expect_same_fields(const FieldDataset& expected, const FieldDataset& actual, float tol,
                               bool compare_splits = true) {
  EXPECT_EQ(expected.classes, actual.classes);
  ASSERT_EQ(expected.fields.size(), actual.fields.size());
  for (const auto& e : expected.fields) {
    const Field* a = find_field(actual, e.image_path);
    ASSERT_NE(a, nullptr) << e.image_path;
    if (compare_splits) {
      EXPECT_EQ(e.split, a->split) << e.image_path;
    }
    EXPECT_EQ(e.width, a->width) << e.image_path;
    EXPECT_EQ(e.height, a->height) << e.image_path;
    ASSERT_EQ(e.boxes.size(), a->boxes.size()) << e.image_path;
    for (std::size_t i = 0; i < e.boxes.size(); ++i) {
      EXPECT_EQ(e.boxes[i].class_id, a->boxes[i].class_id) << e.image_path << " box " << i;
      EXPECT_NEAR(e.boxes[i].box.x1, a->boxes[i].box.x1, tol) << e.image_path << " box " << i;
      EXPECT_NEAR(e.boxes[i].box.y1, a->boxes[i].box.y1, tol) << e.image_path << " box " << i;
      EXPECT_NEAR(e.boxes[i].box.x2, a->boxes[i].box.x2, tol) << e.image_path << " box " << i;
      EXPECT_NEAR(e.boxes[i].box.y2, a->boxes[i].box.y2, tol) << e.image_path << " box " << i;
      EXPECT_FLOAT_EQ(e.boxes[i].score, a->boxes[i].score) << e.image_path << " box " << i;
    }
  }
}

// The shared data folder, or "" when absent (CI has it at ../shared beside the repository).
inline std::string shared_data_dir() {
  const std::string dir = MARROWSCOPE_SOURCE_DIR "/../shared/data";
  std::error_code ec;
  return fs::is_directory(dir, ec) ? dir : "";
}

}  // namespace ms::testing
