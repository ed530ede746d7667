#include <gtest/gtest.h>

#include "core/config.h"
#include "data/formats/formats.h"
#include "unit/data/formats/format_fixture.h"

namespace ms {
namespace {

using testing::ScratchDir;
using testing::write_text;
namespace fs = std::filesystem;

const fs::path kGolden = fs::path(MARROWSCOPE_SOURCE_DIR) / "tests/golden/formats";

TEST(CocoFormat, WriteThenReadGivesTheSameFields) {
  ScratchDir tmp;
  FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  ds.fields[1].boxes[0].score = 0.625f;  // a prediction keeps its score
  auto w = write_coco(ds, tmp / "out/val.json", tmp / "src");
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(w->images, 3);
  EXPECT_EQ(w->boxes, 5);
  EXPECT_EQ(w->annotation_files, 1);
  EXPECT_EQ(w->images_linked + w->images_copied, 0);  // COCO writes only its JSON

  auto j = read_json_file(tmp / "out/val.json");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["images"][1]["file_name"], "val/b.png");
  EXPECT_EQ((*j)["categories"][0]["id"], 1);
  EXPECT_EQ((*j)["categories"][0]["name"], "White Blood Cell (WBC)");
  const Json& a0 = (*j)["annotations"][0];
  EXPECT_EQ(a0["id"], 1);
  EXPECT_EQ(a0["image_id"], 1);
  EXPECT_EQ(a0["category_id"], 1);
  EXPECT_EQ(a0["iscrowd"], 0);
  EXPECT_EQ(a0["bbox"], Json({4.25, 6.5, 16.5, 15.5}));
  EXPECT_DOUBLE_EQ(a0["area"].get<double>(), 16.5 * 15.5);
  EXPECT_FALSE(a0.contains("score"));
  EXPECT_DOUBLE_EQ((*j)["annotations"][2]["score"].get<double>(), 0.625);

  // Without --images the writer's root is the JSON's folder; the reader's is the same.
  ASSERT_TRUE(write_coco(ds, tmp / "out/all.json").has_value());
  auto j2 = read_json_file(tmp / "out/all.json");
  EXPECT_EQ((*j2)["images"][0]["file_name"], "../src/train/a.png");

  auto back = read_coco(tmp / "out/val.json", tmp / "src");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  // COCO has no splits: compare everything else; x + w may round by one float ulp.
  testing::expect_same_fields(ds, *back, 1e-4f, /*compare_splits=*/false);
  EXPECT_TRUE(fs::equivalent(back->fields[1].image_path, ds.fields[1].image_path));
  auto back2 = read_coco(tmp / "out/all.json", "", "val");
  ASSERT_TRUE(back2.has_value()) << back2.error().message;
  EXPECT_EQ(back2->fields[0].split, "val");
  EXPECT_TRUE(fs::equivalent(back2->fields[0].image_path, ds.fields[0].image_path));
}

TEST(CocoFormat, ReadsNonContiguousCategoryIdsInIdOrder) {
  const std::string json = (kGolden / "coco/instances_val.json").string();
  // The fixture's images are absent, but their sizes are in the JSON: nothing needs them.
  auto ds = read_coco(json, "/nonexistent/root");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->classes, (std::vector<std::string>{"RBC", "WBC"}));
  ASSERT_EQ(ds->fields.size(), 2u);
  EXPECT_EQ(ds->fields[0].image_path, "/nonexistent/root/fields/smear_003.png");
  EXPECT_EQ(ds->fields[0].width, 64);
  ASSERT_EQ(ds->fields[0].boxes.size(), 2u);
  EXPECT_EQ(ds->fields[0].boxes[0].class_id, 1);
  EXPECT_EQ(ds->fields[0].boxes[0].box, (Box{4.5f, 6.f, 20.5f, 22.25f}));
  EXPECT_EQ(ds->fields[0].boxes[1].class_id, 0);
  ASSERT_EQ(ds->fields[1].boxes.size(), 1u);
  EXPECT_EQ(ds->fields[1].boxes[0].box, (Box{1, 2, 4, 6}));
  EXPECT_FLOAT_EQ(ds->fields[1].boxes[0].score, 0.75f);
}

TEST(CocoFormat, MissingImageSizesAreReadFromTheImages) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "im/x.png", 30, 20);
  write_text(tmp.path() / "c.json",
             R"({"images":[{"id":1,"file_name":"im/x.png"}],"categories":[{"id":1,"name":"c"}]})");
  auto ds = read_coco(tmp / "c.json");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->fields[0].width, 30);
  EXPECT_EQ(ds->fields[0].height, 20);
  EXPECT_TRUE(ds->fields[0].boxes.empty());
}

struct BadCoco {
  const char* name;
  const char* json;
  const char* message;
};
class CocoBadJson : public ::testing::TestWithParam<BadCoco> {};

TEST_P(CocoBadJson, ErrorNamesFileAndJsonPath) {
  ScratchDir tmp;
  write_text(tmp.path() / "bad.json", GetParam().json);
  auto ds = read_coco(tmp / "bad.json");
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code, ErrorCode::kInvalidArgument);
  const std::string& m = ds.error().message;
  EXPECT_NE(m.find("bad.json"), std::string::npos) << m;
  EXPECT_NE(m.find(GetParam().message), std::string::npos) << m;
}

#define COCO_HEAD R"({"images":[{"id":1,"file_name":"a.png","width":10,"height":10}],"categories":[{"id":1,"name":"c"}],)"
INSTANTIATE_TEST_SUITE_P(
    Cases, CocoBadJson,
    ::testing::Values(
        BadCoco{"Syntax", R"({"images": [)", "expected valid JSON"},
        BadCoco{"RootArray", R"([1,2])", "expected an object, found array of 2"},
        BadCoco{"NoCategories", R"({"images":[]})", "categories: expected an array, found no such key"},
        BadCoco{"BboxThreeNumbers",
                COCO_HEAD R"("annotations":[{"image_id":1,"category_id":1,"bbox":[0,0,1,1]},
                                            {"image_id":1,"category_id":1,"bbox":[0,0,1]}]})",
                "annotations[1].bbox: expected [x, y, width, height] (4 numbers), found array of 3"},
        BadCoco{"BboxString",
                COCO_HEAD R"("annotations":[{"image_id":1,"category_id":1,"bbox":[0,"0",1,1]}]})",
                "annotations[0].bbox: expected [x, y, width, height] (4 numbers)"},
        BadCoco{"BboxZeroWidth",
                COCO_HEAD R"("annotations":[{"image_id":1,"category_id":1,"bbox":[0,0,0,1]}]})",
                "annotations[0].bbox: expected a finite box with positive width and height"},
        BadCoco{"UnknownImage",
                COCO_HEAD R"("annotations":[{"image_id":9,"category_id":1,"bbox":[0,0,1,1]}]})",
                "annotations[0].image_id: expected the id of an entry in images, found 9"},
        BadCoco{"UnknownCategory",
                COCO_HEAD R"("annotations":[{"image_id":1,"category_id":2,"bbox":[0,0,1,1]}]})",
                "annotations[0].category_id: expected the id of an entry in categories, found 2"},
        BadCoco{"Crowd",
                COCO_HEAD R"("annotations":[{"image_id":1,"category_id":1,"bbox":[0,0,1,1],"iscrowd":1}]})",
                "annotations[0].iscrowd: expected 0 (a box around one cell), found 1"},
        BadCoco{"FileNameNumber",
                R"({"images":[{"id":1,"file_name":5}],"categories":[]})",
                "images[0].file_name: expected a string, found integer 5"},
        BadCoco{"DuplicateImageId",
                R"({"images":[{"id":1,"file_name":"a","width":1,"height":1},{"id":1,"file_name":"b","width":1,"height":1}],"categories":[]})",
                "images[1].id: expected an id not used by another image, found 1"},
        BadCoco{"DuplicateCategoryName",
                R"({"images":[],"categories":[{"id":1,"name":"c"},{"id":2,"name":"c"}]})",
                "categories[1].name: expected a name not used by another category"},
        BadCoco{"NegativeSize",
                R"({"images":[{"id":1,"file_name":"a","width":-3,"height":1}],"categories":[]})",
                "images[0].width: expected a width and height in 0..1000000, found -3x1"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CocoFormat, MissingFileIsNotFound) {
  auto ds = read_coco("/nonexistent/instances.json");
  ASSERT_FALSE(ds.has_value());
  EXPECT_EQ(ds.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ms
