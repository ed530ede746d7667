// The annotation readers (data/formats/formats.h) on an arbitrary annotation file. The first byte
// picks the reader (low two bits: 0 YOLO, 1 Pascal VOC, 2 COCO, 3 labelme); the rest, up to an
// optional NUL byte, is the annotation file, and what follows the NUL is the dataset's
// classes.txt (YOLO, VOC, labelme). Each reader sees a one-image dataset in a scratch folder:
// an 8x6 PNG named a.png in the place its layout expects, and the annotation file beside it.
// Properties: a reader returns a value or an error, never throws or crashes, and every box of a
// dataset it accepts has a class id inside the dataset's class list.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include <opencv2/core.hpp>

#include "core/image.h"
#include "data/formats/formats.h"
#include "fuzz_check.h"
#include "scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using ms::fuzz::write_file;

struct Layout {
  fs::path root;        // the dataset folder (COCO: the folder of the JSON)
  fs::path annotation;  // where the fuzzed annotation file goes
};

Layout layout_for(int reader) {
  const fs::path& base = ms::fuzz::scratch_dir("formats");
  switch (reader) {
    case 0: return {base / "yolo", base / "yolo" / "labels" / "a.txt"};
    case 1: return {base / "voc", base / "voc" / "Annotations" / "a.xml"};
    case 2: return {base / "coco", base / "coco" / "instances.json"};
    default: return {base / "labelme", base / "labelme" / "a.json"};
  }
}

void make_datasets() {
  const cv::Mat pixels(6, 8, CV_8UC3, cv::Scalar(40, 90, 200));
  auto png = ms::encode_image(pixels, ".png");
  FUZZ_CHECK(png);
  const std::string_view bytes(reinterpret_cast<const char*>(png->data()), png->size());
  const fs::path& base = ms::fuzz::scratch_dir("formats");
  for (const fs::path& dir : {base / "yolo" / "images", base / "yolo" / "labels", base / "voc" / "JPEGImages",
                              base / "voc" / "Annotations", base / "coco", base / "labelme"})
    fs::create_directories(dir);
  for (const fs::path& image : {base / "yolo" / "images" / "a.png", base / "voc" / "JPEGImages" / "a.png",
                                base / "coco" / "a.png", base / "labelme" / "a.png"})
    write_file(image, bytes);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A COCO file_name or VOC filename may name any path, /dev/stdin included: never block on it.
  if (!std::freopen("/dev/null", "r", stdin)) std::abort();
  make_datasets();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int reader = data[0] & 3;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t nul = rest.find('\0');
  const Layout at = layout_for(reader);
  write_file(at.annotation, rest.substr(0, nul));
  std::error_code ec;
  if (nul == std::string_view::npos)
    fs::remove(at.root / "classes.txt", ec);
  else
    write_file(at.root / "classes.txt", rest.substr(nul + 1));

  ms::Result<ms::FieldDataset> ds;
  switch (reader) {
    case 0: ds = ms::read_yolo(at.root.string()); break;
    case 1: ds = ms::read_voc(at.root.string()); break;
    case 2: ds = ms::read_coco(at.annotation.string(), "", "train"); break;
    default: ds = ms::read_labelme(at.root.string()); break;
  }
  if (!ds) {
    FUZZ_CHECK(!ds.error().message.empty());
    return 0;
  }
  for (const auto& field : ds->fields)
    for (const auto& b : field.boxes)
      FUZZ_CHECK(b.class_id >= 0 && static_cast<std::size_t>(b.class_id) < ds->classes.size());
  return 0;
}
