#pragma once
// Test slides built by the tests themselves: a mosaic of real smear fields (../shared/data/txl-pbc,
// YOLO labels) written as a tiled pyramidal TIFF with libvips (`vips tiffsave --tile --pyramid`,
// Debian libvips-tools), so OpenSlide's generic-TIFF reader and everything above it run on real
// cells whose white-cell boxes are known in slide coordinates.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/box.h"
#include "core/image.h"

namespace ms::testing {

namespace slide_fs = std::filesystem;

inline std::string txl_pbc_root() {
  const slide_fs::path root = slide_fs::path(MARROWSCOPE_SOURCE_DIR "/../shared/data") / "txl-pbc";
  return slide_fs::exists(root / "images" / "val") ? root.string() : std::string();
}

struct MosaicSlide {
  cv::Mat image;                      // BGR, the whole mosaic (small: tests keep it a few MP)
  std::vector<Box> white_cells;       // xyxy, level-0 pixels of the mosaic
  std::vector<std::string> fields;    // source field per grid cell, row-major
  int cell_w = 0, cell_h = 0;         // grid pitch, pixels
};

// cols x rows txl-pbc val fields (sorted by name, from `first`) on a grid whose pitch is the
// largest field's size; the gaps between smaller fields are slide background (white glass).
inline MosaicSlide txl_pbc_mosaic(const std::string& root, int cols, int rows, size_t first = 0) {
  std::vector<slide_fs::path> names;
  for (const auto& e : slide_fs::directory_iterator(slide_fs::path(root) / "images" / "val"))
    names.push_back(e.path());
  std::sort(names.begin(), names.end());
  MosaicSlide m;
  std::vector<cv::Mat> fields;
  for (int i = 0; i < cols * rows && first + size_t(i) < names.size(); ++i) {
    auto img = read_image(names[first + size_t(i)].string());
    if (!img) continue;
    fields.push_back(*img);
    m.fields.push_back(names[first + size_t(i)].string());
    m.cell_w = std::max(m.cell_w, img->cols);
    m.cell_h = std::max(m.cell_h, img->rows);
  }
  m.image = cv::Mat(rows * m.cell_h, cols * m.cell_w, CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < fields.size(); ++i) {
    const int ox = int(i % size_t(cols)) * m.cell_w, oy = int(i / size_t(cols)) * m.cell_h;
    fields[i].copyTo(m.image(cv::Rect(ox, oy, fields[i].cols, fields[i].rows)));
    const slide_fs::path label =
        slide_fs::path(root) / "labels" / "val" / (slide_fs::path(m.fields[i]).stem().string() + ".txt");
    std::ifstream in(label);
    int cls;
    float cx, cy, w, h;
    while (in >> cls >> cx >> cy >> w >> h) {
      if (cls != 0) continue;  // 0 = WBC
      const float W = float(fields[i].cols), H = float(fields[i].rows);
      m.white_cells.push_back(Box::from_cxcywh(cx * W + float(ox), cy * H + float(oy), w * W, h * H));
    }
  }
  return m;
}

// Writes bgr as a tiled (256 px) pyramidal TIFF, deflate-compressed (lossless, so tests can
// compare pixels), recording mpp microns per pixel in the resolution tags. Returns "" on success,
// else what went wrong.
inline std::string write_pyramidal_tiff(const cv::Mat& bgr, const std::string& path, double mpp = 0.25,
                                        const std::string& compression = "deflate") {
  const std::string png = path + ".src.png";
  if (!write_image(png, bgr)) return "cannot write " + png;
  std::ostringstream cmd;
  // libvips takes the resolution in pixels per millimetre and records it per centimetre.
  cmd << "vips tiffsave '" << png << "' '" << path << "' --tile --tile-width 256 --tile-height 256 --pyramid"
      << " --compression " << compression << " --xres " << 1000.0 / mpp << " --yres " << 1000.0 / mpp
      << " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.str().c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    const int rc = pclose(p);
    std::error_code ec;
    slide_fs::remove(png, ec);
    if (rc == 0) return "";
  }
  return "vips tiffsave failed (is libvips-tools installed?): " + out;
}

// The mosaic repeated k x k times (libvips, without building the large image here) as a
// JPEG-compressed (quality 90) tiled pyramidal TIFF at 0.25 um per pixel: the benches' gigapixel
// slides. Writes work/mosaic.png and work/slide.tif; returns "" on success, else what went wrong.
inline std::string write_replicated_slide(const cv::Mat& mosaic, const std::string& work, int k) {
  const std::string png = work + "/mosaic.png", big = work + "/big.v";
  if (!write_image(png, mosaic)) return "cannot write " + png;
  const std::string cmd = "vips replicate " + png + " " + big + " " + std::to_string(k) + " " + std::to_string(k) +
                          " && vips tiffsave " + big + " " + work + "/slide.tif" +
                          " --tile --tile-width 256 --tile-height 256 --pyramid --compression jpeg --Q 90"
                          " --xres 4000 --yres 4000 && rm -f " + big;
  return std::system(cmd.c_str()) == 0 ? "" : "vips failed: " + cmd;
}

}  // namespace ms::testing
