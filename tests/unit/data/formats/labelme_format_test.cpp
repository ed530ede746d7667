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

TEST(LabelmeFormat, WriteThenReadGivesTheSameFieldsAndSplits) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  auto w = write_labelme(ds, tmp / "lm");
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(w->images, 3);
  EXPECT_EQ(w->annotation_files, 3);
  EXPECT_EQ(w->images_linked, 3);
  EXPECT_TRUE(fs::equivalent(tmp.path() / "src/train/a.png", tmp.path() / "lm/train/a.png"));

  auto j = read_json_file(tmp / "lm/train/a.json");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["imagePath"], "a.png");
  EXPECT_TRUE((*j)["imageData"].is_null());
  EXPECT_EQ((*j)["imageWidth"], 64);
  EXPECT_EQ((*j)["imageHeight"], 48);
  EXPECT_EQ((*j)["shapes"][0]["shape_type"], "rectangle");
  EXPECT_EQ((*j)["shapes"][0]["label"], "White Blood Cell (WBC)");
  EXPECT_EQ((*j)["shapes"][0]["points"], Json({{4.25, 6.5}, {20.75, 22.0}}));

  auto back = read_labelme(tmp / "lm");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  testing::expect_same_fields(ds, *back, 0.f);

  auto val = read_labelme(tmp / "lm", "val");
  ASSERT_TRUE(val.has_value()) << val.error().message;
  EXPECT_EQ(val->fields.size(), 2u);
  EXPECT_EQ(val->classes, ds.classes);  // classes.txt at the dataset root fixes the order
}

TEST(LabelmeFormat, ReadsRectanglePolygonAndCircleFromALabelmeFile) {
  ScratchDir tmp;
  fs::create_directories(tmp.path() / "lm/ann");
  fs::copy_file(kGolden / "labelme/smear_002.json", tmp.path() / "lm/ann/smear_002.json");
  testing::write_field_image(tmp.path() / "lm/images/smear_002.png", 64, 48);
  auto ds = read_labelme(tmp / "lm");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->classes, (std::vector<std::string>{"Platelet", "RBC", "WBC"}));
  ASSERT_EQ(ds->fields.size(), 1u);
  const Field& f = ds->fields[0];
  // imagePath "..\\images\\smear_002.png" is relative to the JSON, with Windows separators.
  EXPECT_TRUE(fs::equivalent(f.image_path, tmp.path() / "lm/images/smear_002.png"));
  EXPECT_EQ(f.split, "ann");
  ASSERT_EQ(f.boxes.size(), 3u);
  EXPECT_EQ(f.boxes[0].class_id, 2);
  EXPECT_EQ(f.boxes[0].box, (Box{4.25f, 6.5f, 20.5f, 22.f}));  // corners in either order
  EXPECT_EQ(f.boxes[1].class_id, 1);
  EXPECT_EQ(f.boxes[1].box, (Box{30, 10, 50, 40}));  // polygon -> its bounding box
  EXPECT_EQ(f.boxes[2].class_id, 0);
  EXPECT_EQ(f.boxes[2].box, (Box{5, 35, 15, 45}));  // circle of radius 5 about (10, 40)
}

struct BadLabelme {
  const char* name;
  const char* shapes;  // the value of "shapes"
  const char* message;
};
class LabelmeBadJson : public ::testing::TestWithParam<BadLabelme> {};

TEST_P(LabelmeBadJson, ErrorNamesFileAndJsonPath) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "lm/x.png", 20, 20);
  write_text(tmp.path() / "lm/x.json", std::string(R"({"imagePath":"x.png","imageWidth":20,"imageHeight":20,"shapes":)") +
                                            GetParam().shapes + "}");
  auto ds = read_labelme(tmp / "lm");
  ASSERT_FALSE(ds.has_value());
  const std::string& m = ds.error().message;
  EXPECT_NE(m.find("lm/x.json: "), std::string::npos) << m;
  EXPECT_NE(m.find(GetParam().message), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LabelmeBadJson,
    ::testing::Values(
        BadLabelme{"Point", R"([{"label":"c","points":[[1,2]],"shape_type":"point"}])",
                   "shapes[0].shape_type: expected rectangle, polygon or circle, found \"point\""},
        BadLabelme{"RectangleThreePoints",
                   R"([{"label":"c","points":[[1,2],[3,4]],"shape_type":"rectangle"},
                       {"label":"c","points":[[1,2],[3,4],[5,6]],"shape_type":"rectangle"}])",
                   "shapes[1].points: expected 2 points for a rectangle, found 3"},
        BadLabelme{"PolygonTwoPoints", R"([{"label":"c","points":[[1,2],[3,4]]}])",
                   "shapes[0].points: expected at least 3 points for a polygon, found 2"},
        BadLabelme{"PointNotPair", R"([{"label":"c","points":[[1,2],[3]],"shape_type":"rectangle"}])",
                   "shapes[0].points[1]: expected a point [x, y] of 2 numbers, found array of 1"},
        BadLabelme{"Degenerate", R"([{"label":"c","points":[[1,2],[1,8]],"shape_type":"rectangle"}])",
                   "shapes[0].points: expected a shape with positive width and height"},
        BadLabelme{"NoLabel", R"([{"points":[[1,2],[3,4]],"shape_type":"rectangle"}])",
                   "shapes[0].label: expected a string, found no such key"},
        BadLabelme{"ShapesObject", R"({"label":"c"})", "shapes: expected an array, found object"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(LabelmeFormat, MissingImagePathAndUnlistedLabelAreErrors) {
  ScratchDir tmp;
  write_text(tmp.path() / "a/x.json", R"({"shapes":[]})");
  auto r = read_labelme(tmp / "a");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("x.json: imagePath: expected a string, found no such key"),
            std::string::npos)
      << r.error().message;

  testing::write_field_image(tmp.path() / "b/x.png", 20, 20);
  write_text(tmp.path() / "b/classes.txt", "WBC\n");
  write_text(tmp.path() / "b/x.json",
             R"({"imagePath":"x.png","shapes":[{"label":"Blast","points":[[1,2],[3,4]],"shape_type":"rectangle"}]})");
  auto u = read_labelme(tmp / "b");
  ASSERT_FALSE(u.has_value());
  EXPECT_NE(u.error().message.find("x.json: shapes[0].label: expected a class listed in"),
            std::string::npos)
      << u.error().message;
}

}  // namespace
}  // namespace ms
