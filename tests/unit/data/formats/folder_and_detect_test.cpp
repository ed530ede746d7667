#include <gtest/gtest.h>

#include "data/dataset_stats.h"
#include "data/formats/formats.h"
#include "unit/data/formats/format_fixture.h"

namespace ms {
namespace {

using testing::ScratchDir;
using testing::write_text;
namespace fs = std::filesystem;

// Two classes; a text file with an image name is skipped, a PNG with an odd name is kept.
void make_cell_tree(const fs::path& dir) {
  testing::write_field_image(dir / "monocyte/m1.jpg", 12, 12, {}, true);
  testing::write_field_image(dir / "basophil/b2.png", 10, 12);
  testing::write_field_image(dir / "basophil/b1.png", 10, 12);
  testing::write_field_image(dir / "basophil/b3.data", 16, 16);
  write_text(dir / "basophil/readme.jpg", "this is text, not a JPEG\n");
  write_text(dir / "notes.txt", "top-level files are not classes\n");
}

TEST(FolderFormat, ReadsSortedClassFoldersAndSkipsNonImagesByContent) {
  ScratchDir tmp;
  make_cell_tree(tmp.path() / "cells");
  auto ds = read_folder_tree(tmp / "cells");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->classes, (std::vector<std::string>{"basophil", "monocyte"}));
  ASSERT_EQ(ds->cells.size(), 4u);
  EXPECT_EQ(fs::path(ds->cells[0].image_path).filename(), "b1.png");
  EXPECT_EQ(fs::path(ds->cells[2].image_path).filename(), "b3.data");
  EXPECT_EQ(ds->cells[2].class_id, 0);
  EXPECT_EQ(ds->cells[3].class_id, 1);
}

TEST(FolderFormat, WriteThenReadGivesTheSameCells) {
  ScratchDir tmp;
  make_cell_tree(tmp.path() / "cells");
  auto ds = read_folder_tree(tmp / "cells");
  ASSERT_TRUE(ds.has_value());
  ds->classes.push_back("promyelocyte");  // an empty class keeps its folder and id
  auto w = write_folder_tree(*ds, tmp / "copy");
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(w->images, 4);
  EXPECT_EQ(w->images_linked, 4);
  auto back = read_folder_tree(tmp / "copy");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->classes, ds->classes);
  ASSERT_EQ(back->cells.size(), ds->cells.size());
  for (std::size_t i = 0; i < ds->cells.size(); ++i) {
    EXPECT_EQ(back->cells[i].class_id, ds->cells[i].class_id);
    EXPECT_TRUE(fs::equivalent(back->cells[i].image_path, ds->cells[i].image_path));
  }
}

TEST(FolderFormat, EmptyOrMissingFolderIsAnError) {
  ScratchDir tmp;
  EXPECT_EQ(read_folder_tree(tmp / "none").error().code, ErrorCode::kNotFound);
  fs::create_directories(tmp.path() / "flat");
  EXPECT_EQ(read_folder_tree(tmp / "flat").error().code, ErrorCode::kNotFound);
}

TEST(AnnotationFormat, NamesParseBackAndUnknownNamesListTheChoices) {
  for (auto f : {AnnotationFormat::kYolo, AnnotationFormat::kVoc, AnnotationFormat::kCoco,
                 AnnotationFormat::kLabelme, AnnotationFormat::kFolder})
    EXPECT_EQ(parse_annotation_format(annotation_format_name(f)).value(), f);
  auto bad = parse_annotation_format("cvat");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message,
            "annotation format: expected one of yolo, voc, coco, labelme, folder, found \"cvat\"");
}

TEST(AnnotationFormat, DetectsEveryFormatItWrites) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  ASSERT_TRUE(write_yolo(ds, tmp / "yolo").has_value());
  ASSERT_TRUE(write_voc(ds, tmp / "voc").has_value());
  ASSERT_TRUE(write_coco(ds, tmp / "coco/val.json").has_value());
  ASSERT_TRUE(write_labelme(ds, tmp / "labelme").has_value());
  make_cell_tree(tmp.path() / "cells");
  EXPECT_EQ(detect_annotation_format(tmp / "yolo").value(), AnnotationFormat::kYolo);
  EXPECT_EQ(detect_annotation_format(tmp / "voc").value(), AnnotationFormat::kVoc);
  EXPECT_EQ(detect_annotation_format(tmp / "coco/val.json").value(), AnnotationFormat::kCoco);
  EXPECT_EQ(detect_annotation_format(tmp / "labelme").value(), AnnotationFormat::kLabelme);
  EXPECT_EQ(detect_annotation_format(tmp / "cells").value(), AnnotationFormat::kFolder);
  fs::create_directories(tmp.path() / "empty");
  EXPECT_EQ(detect_annotation_format(tmp / "empty").error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_EQ(detect_annotation_format(tmp / "missing").error().code, ErrorCode::kNotFound);
}

TEST(AnnotationFormat, EveryFormatConvertsToEveryOtherWithoutLoss) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  const AnnotationFormat formats[] = {AnnotationFormat::kYolo, AnnotationFormat::kVoc,
                                      AnnotationFormat::kCoco, AnnotationFormat::kLabelme};
  for (auto from : formats) {
    const std::string from_path =
        tmp / (std::string(annotation_format_name(from)) + (from == AnnotationFormat::kCoco ? "/d.json" : ""));
    ASSERT_TRUE(write_fields(ds, from, from_path).has_value());
    auto read = read_fields(from, from_path);
    ASSERT_TRUE(read.has_value()) << read.error().message;
    for (auto to : formats) {
      const std::string to_path = tmp / (std::string(annotation_format_name(from)) + "_to_" +
                                         std::string(annotation_format_name(to)) +
                                         (to == AnnotationFormat::kCoco ? "/d.json" : ""));
      ASSERT_TRUE(write_fields(*read, to, to_path).has_value()) << from_path << " -> " << to_path;
      auto again = read_fields(to, to_path);
      ASSERT_TRUE(again.has_value()) << again.error().message;
      SCOPED_TRACE(std::string(annotation_format_name(from)) + " -> " + std::string(annotation_format_name(to)));
      const bool splits_kept = from != AnnotationFormat::kCoco && to != AnnotationFormat::kCoco;
      testing::expect_same_fields(ds, *again, 2e-3f, splits_kept);
    }
  }
  EXPECT_EQ(read_fields(AnnotationFormat::kFolder, tmp / "src").error().code,
            ErrorCode::kUnsupportedFormat);
}

TEST(DatasetStats, CountsImagesSizesAndBoxesPerClass) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  const DatasetStats s = field_stats(ds);
  EXPECT_EQ(s.images, 3);
  EXPECT_EQ(s.boxes, 5);
  EXPECT_EQ(s.boxes_per_class, (std::vector<std::int64_t>{2, 2, 1}));
  EXPECT_EQ(s.images_without_boxes, 1);
  EXPECT_EQ(s.images_per_split.at("val"), 2);
  ASSERT_EQ(s.image_sizes.size(), 3u);
  const Json j = stats_to_json(s);
  EXPECT_EQ(j["boxes_per_class"]["RBC"], 2);
  EXPECT_EQ(j["boxes_per_class"]["Platelet"], 1);
  EXPECT_FALSE(j.contains("cells"));
  EXPECT_NE(stats_to_text(s).find("  1 RBC: 2\n"), std::string::npos) << stats_to_text(s);
}

TEST(DatasetStats, CountsCellsAndTheirSizes) {
  ScratchDir tmp;
  make_cell_tree(tmp.path() / "cells");
  auto s = cell_stats(read_folder_tree(tmp / "cells").value());
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->cells, 4);
  EXPECT_EQ(s->cells_per_class, (std::vector<std::int64_t>{3, 1}));
  ASSERT_EQ(s->image_sizes.size(), 3u);
  EXPECT_EQ(s->image_sizes[0].width, 10);  // the most frequent size first
  EXPECT_EQ(s->image_sizes[0].height, 12);
  EXPECT_EQ(s->image_sizes[0].count, 2);
  const Json j = stats_to_json(*s);
  EXPECT_EQ(j["cells_per_class"]["basophil"], 3);
  EXPECT_FALSE(j.contains("boxes"));
}

}  // namespace
}  // namespace ms
