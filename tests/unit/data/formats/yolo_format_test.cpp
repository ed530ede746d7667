#include <gtest/gtest.h>

#include "data/formats/formats.h"
#include "unit/data/formats/format_fixture.h"

namespace ms {
namespace {

using testing::ScratchDir;
using testing::write_text;
namespace fs = std::filesystem;

TEST(YoloFormat, WriteThenReadGivesTheSameFields) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  auto w = write_yolo(ds, tmp / "yolo");
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(w->images, 3);
  EXPECT_EQ(w->boxes, 5);
  EXPECT_EQ(w->annotation_files, 3);
  // Same file system: every image is a hard link to its source, not a copy.
  EXPECT_EQ(w->images_linked, 3);
  EXPECT_EQ(w->images_copied, 0);
  EXPECT_TRUE(fs::equivalent(tmp.path() / "src/val/b.png", tmp.path() / "yolo/images/val/b.png"));
  EXPECT_EQ(testing::read_text(tmp.path() / "yolo/classes.txt"), "White Blood Cell (WBC)\nRBC\nPlatelet\n");
  // The field without boxes still gets its (empty) label file.
  EXPECT_EQ(testing::read_text(tmp.path() / "yolo/labels/val/c.txt"), "");

  auto back = read_yolo(tmp / "yolo");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  testing::expect_same_fields(ds, *back, 1e-3f);
  // The paths read point at the written images.
  EXPECT_EQ(fs::path(testing::find_field(*back, "b.png")->image_path),
            tmp.path() / "yolo/images/val/b.png");

  // Writing again over the same folder changes nothing and reports the images as present.
  auto again = write_yolo(*back, tmp / "yolo");
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->images_already_present, 3);
}

TEST(YoloFormat, LabelLinesAreNormalisedCentreAndSize) {
  ScratchDir tmp;
  FieldDataset ds;
  ds.classes = {"cell"};
  Field f;
  f.image_path = tmp / "in/f.png";
  testing::write_field_image(f.image_path, 100, 50);
  f.boxes = {{Box{10, 5, 30, 25}, 0, 1.f}};  // sizes unknown (0): the writer reads the header
  ds.fields = {f};
  ASSERT_TRUE(write_yolo(ds, tmp / "out").has_value());
  EXPECT_EQ(testing::read_text(tmp.path() / "out/labels/f.txt"), "0 0.200000 0.300000 0.200000 0.400000\n");
}

TEST(YoloFormat, ReadsOneSplitOnly) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  ASSERT_TRUE(write_yolo(ds, tmp / "yolo").has_value());
  auto val = read_yolo(tmp / "yolo", "val");
  ASSERT_TRUE(val.has_value()) << val.error().message;
  ASSERT_EQ(val->fields.size(), 2u);
  for (const auto& f : val->fields) EXPECT_EQ(f.split, "val");
  auto missing = read_yolo(tmp / "yolo", "test");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("splits present: train, val"), std::string::npos)
      << missing.error().message;
}

TEST(YoloFormat, FlatLayoutWithoutClassListNamesClassesByIdAndSkipsNonImages) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "d/images/x.png", 20, 10);
  testing::write_field_image(tmp.path() / "d/images/y.bmp", 20, 10);  // PNG bytes, .bmp name
  testing::write_field_image(tmp.path() / "d/images/empty.png", 8, 8);
  write_text(tmp.path() / "d/images/notes.txt", "not an image\n");
  write_text(tmp.path() / "d/labels/x.txt", "2 0.5 0.5 0.5 0.5\n\n  \n");
  write_text(tmp.path() / "d/labels/y.txt", "\xEF\xBB\xBF" "0 0.25 0.5 0.5 1\r\n");  // BOM, CRLF
  auto ds = read_yolo(tmp / "d");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->classes, (std::vector<std::string>{"0", "1", "2"}));
  ASSERT_EQ(ds->fields.size(), 3u);  // empty.png, x.png, y.bmp; notes.txt skipped
  const Field* x = testing::find_field(*ds, "x.png");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->split, "");
  ASSERT_EQ(x->boxes.size(), 1u);
  EXPECT_EQ(x->boxes[0].class_id, 2);
  EXPECT_FLOAT_EQ(x->boxes[0].box.x1, 5.f);
  EXPECT_FLOAT_EQ(x->boxes[0].box.y2, 7.5f);
  const Field* y = testing::find_field(*ds, "y.bmp");
  ASSERT_NE(y, nullptr);
  ASSERT_EQ(y->boxes.size(), 1u);
  EXPECT_FLOAT_EQ(y->boxes[0].box.x1, 0.f);
  EXPECT_FLOAT_EQ(y->boxes[0].box.y2, 10.f);
  EXPECT_TRUE(testing::find_field(*ds, "empty.png")->boxes.empty());
}

// One malformed label file per case; the error must name the file and line.
struct BadLabel {
  const char* name;
  const char* text;
  const char* message;  // expected substring
};

class YoloBadLabel : public ::testing::TestWithParam<BadLabel> {};

TEST_P(YoloBadLabel, ErrorNamesFileAndLine) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "d/images/val/x.png", 32, 32);
  write_text(tmp.path() / "d/classes.txt", "WBC\nRBC\nPlatelet\n");
  write_text(tmp.path() / "d/labels/val/x.txt", GetParam().text);
  auto ds = read_yolo(tmp / "d");
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(ds.error().message.find(GetParam().message), std::string::npos) << ds.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, YoloBadLabel,
    ::testing::Values(
        BadLabel{"FourNumbers", "0 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n1 0.5 0.5 0.1\n",
                 "labels/val/x.txt:3: expected 5 numbers, found 4"},
        BadLabel{"SixNumbers", "0 0.5 0.5 0.1 0.1 0.9\n", "labels/val/x.txt:1: expected 5 numbers, found 6"},
        BadLabel{"NotANumber", "\n0 0.5 abc 0.1 0.1\n",
                 "labels/val/x.txt:2: expected a number for cy (column 3), found \"abc\""},
        BadLabel{"ClassOutOfRange", "3 0.5 0.5 0.1 0.1\n",
                 "labels/val/x.txt:1: expected a class id in 0..2 (classes.txt), found 3"},
        BadLabel{"FractionalClass", "1.5 0.5 0.5 0.1 0.1\n",
                 "labels/val/x.txt:1: expected a class id (a whole number >= 0), found 1.5"},
        BadLabel{"ZeroWidth", "0 0.5 0.5 0 0.1\n",
                 "labels/val/x.txt:1: expected a positive width and height, found w=0 h=0.1"},
        BadLabel{"Infinite", "0 inf 0.5 0.1 0.1\n", "labels/val/x.txt:1: expected a number for cx"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(YoloFormat, LabelWithoutImageIsAnError) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "d/images/train/x.png", 16, 16);
  write_text(tmp.path() / "d/labels/train/ghost.txt", "0 0.5 0.5 0.1 0.1\n");
  auto ds = read_yolo(tmp / "d");
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code, ErrorCode::kNotFound);
  EXPECT_NE(ds.error().message.find("labels/train/ghost.txt: expected an image named ghost.*"),
            std::string::npos)
      << ds.error().message;
}

TEST(YoloFormat, CorruptImageIsAnErrorNamingIt) {
  ScratchDir tmp;
  // A PNG signature followed by garbage: recognised as an image, but the header is broken.
  write_text(tmp.path() / "d/images/bad.png", std::string("\x89PNG\r\n\x1a\n", 8) + "garbage");
  fs::create_directories(tmp.path() / "d/labels");
  auto ds = read_yolo(tmp / "d");
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code, ErrorCode::kCorruptInput);
  EXPECT_NE(ds.error().message.find("images/bad.png"), std::string::npos) << ds.error().message;
}

TEST(YoloFormat, MissingFolderAndBadClassListAreErrors) {
  ScratchDir tmp;
  auto none = read_yolo(tmp / "nothing");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);

  testing::write_field_image(tmp.path() / "d/images/x.png", 16, 16);
  write_text(tmp.path() / "d/classes.txt", "WBC\nRBC\nWBC\n");
  auto dup = read_yolo(tmp / "d");
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().message.find("classes.txt:3: expected a class name not listed before"),
            std::string::npos)
      << dup.error().message;
}

TEST(YoloFormat, TwoImagesWithOneStemAreAnErrorOnWriteAndRead) {
  ScratchDir tmp;
  FieldDataset ds;
  ds.classes = {"cell"};
  Field a, b;
  a.image_path = tmp / "one/x.png";
  b.image_path = tmp / "two/x.jpg";
  testing::write_field_image(a.image_path, 8, 8);
  testing::write_field_image(b.image_path, 8, 8);
  ds.fields = {a, b};
  auto w = write_yolo(ds, tmp / "out");
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code, ErrorCode::kConflict);

  fs::create_directories(tmp.path() / "d/images");
  fs::copy_file(a.image_path, tmp.path() / "d/images/x.png");
  fs::copy_file(b.image_path, tmp.path() / "d/images/x.jpg");
  auto r = read_yolo(tmp / "d");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
}

TEST(YoloFormat, ReadsTxlPbcValidationSplit) {
  const std::string data = testing::shared_data_dir();
  if (data.empty()) GTEST_SKIP() << "shared data absent";
  auto ds = read_yolo(data + "/txl-pbc", "val");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->fields.size(), 252u);
  EXPECT_EQ(ds->classes.size(), 3u);
  std::size_t boxes = 0;
  for (const auto& f : ds->fields) {
    EXPECT_GT(f.width, 0) << f.image_path;
    EXPECT_GT(f.height, 0) << f.image_path;
    boxes += f.boxes.size();
  }
  EXPECT_GT(boxes, 252u);
}

}  // namespace
}  // namespace ms
