#include <gtest/gtest.h>

#include "data/formats/formats.h"
#include "unit/data/formats/format_fixture.h"

namespace ms {
namespace {

using testing::ScratchDir;
using testing::write_text;
namespace fs = std::filesystem;

const fs::path kGolden = fs::path(MARROWSCOPE_SOURCE_DIR) / "tests/golden/formats";

TEST(VocFormat, WriteThenReadGivesTheSameFieldsAndSplits) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  auto w = write_voc(ds, tmp / "voc");
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(w->images, 3);
  EXPECT_EQ(w->boxes, 5);
  EXPECT_EQ(w->images_linked, 3);
  EXPECT_EQ(testing::read_text(tmp.path() / "voc/ImageSets/Main/val.txt"), "b\nc\n");
  auto back = read_voc(tmp / "voc");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  // Coordinates are written in their shortest exact decimal form: the round trip is exact.
  testing::expect_same_fields(ds, *back, 0.f);

  auto train = read_voc(tmp / "voc", "train");
  ASSERT_TRUE(train.has_value()) << train.error().message;
  ASSERT_EQ(train->fields.size(), 1u);
  EXPECT_EQ(fs::path(train->fields[0].image_path).filename(), "a.png");
  EXPECT_FALSE(read_voc(tmp / "voc", "test").has_value());

  FieldDataset odd = ds;
  odd.fields[0].split = "fold_1";
  auto refused = write_voc(odd, tmp / "voc2");
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("found \"fold_1\""), std::string::npos) << refused.error().message;
}

TEST(VocFormat, ReadsALabelImgFileAndSortsClassesWithoutAClassList) {
  ScratchDir tmp;
  fs::create_directories(tmp.path() / "voc/Annotations");
  fs::copy_file(kGolden / "voc/labelimg_field.xml", tmp.path() / "voc/Annotations/smear_001.xml");
  testing::write_field_image(tmp.path() / "voc/JPEGImages/smear_001.jpg", 64, 48, {}, true);
  auto ds = read_voc(tmp / "voc");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  EXPECT_EQ(ds->classes, (std::vector<std::string>{"RBC", "WBC"}));
  ASSERT_EQ(ds->fields.size(), 1u);
  const Field& f = ds->fields[0];
  EXPECT_EQ(f.split, "");
  EXPECT_EQ(f.width, 64);
  EXPECT_EQ(f.height, 48);
  ASSERT_EQ(f.boxes.size(), 2u);
  EXPECT_EQ(f.boxes[0].class_id, 1);
  EXPECT_EQ(f.boxes[0].box, (Box{4, 6, 21, 22}));
  EXPECT_EQ(f.boxes[1].class_id, 0);
  EXPECT_EQ(f.boxes[1].box, (Box{30, 10, 50.5f, 40}));
}

TEST(VocFormat, MissingSizeAndFilenameAreFoundFromTheImage) {
  ScratchDir tmp;
  write_text(tmp.path() / "voc/Annotations/f.xml",
             "<annotation><object><name>cell</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
             "<xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>");
  testing::write_field_image(tmp.path() / "voc/JPEGImages/f.tif.png", 10, 10);  // stem "f.tif"
  testing::write_field_image(tmp.path() / "voc/JPEGImages/f.png", 33, 21);
  auto ds = read_voc(tmp / "voc");
  ASSERT_TRUE(ds.has_value()) << ds.error().message;
  ASSERT_EQ(ds->fields.size(), 1u);
  EXPECT_EQ(fs::path(ds->fields[0].image_path).filename(), "f.png");
  EXPECT_EQ(ds->fields[0].width, 33);
  EXPECT_EQ(ds->fields[0].height, 21);
}

struct BadXml {
  const char* name;
  const char* xml;
  const char* message;
};
class VocBadXml : public ::testing::TestWithParam<BadXml> {};

TEST_P(VocBadXml, ErrorNamesFileLineAndElement) {
  ScratchDir tmp;
  write_text(tmp.path() / "voc/Annotations/x.xml", GetParam().xml);
  write_text(tmp.path() / "voc/classes.txt", "WBC\nRBC\n");
  testing::write_field_image(tmp.path() / "voc/JPEGImages/x.png", 20, 20);
  auto ds = read_voc(tmp / "voc");
  ASSERT_FALSE(ds.has_value());
  EXPECT_NE(ds.error().message.find(GetParam().message), std::string::npos) << ds.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, VocBadXml,
    ::testing::Values(
        BadXml{"Unclosed", "<annotation>\n<filename>x.png</filename>\n<object>\n</annotation>\n",
               "Annotations/x.xml:3: expected well-formed XML, found XML_ERROR_MISMATCHED_ELEMENT (XMLElement name=object)"},
        BadXml{"WrongRoot", "<voc><filename>x.png</filename></voc>",
               "Annotations/x.xml: expected an <annotation> root element, found <voc>"},
        BadXml{"NotANumber",
               "<annotation>\n<filename>x.png</filename>\n<object><name>WBC</name>\n<bndbox>\n"
               "<xmin>1</xmin>\n<ymin>two</ymin><xmax>5</xmax><ymax>6</ymax></bndbox></object>\n"
               "</annotation>",
               "Annotations/x.xml:6: <object>/<bndbox>/<ymin>: expected a number, found \"two\""},
        BadXml{"NoBndbox",
               "<annotation><filename>x.png</filename>\n\n<object><name>WBC</name></object></annotation>",
               "Annotations/x.xml:3: <object>/<bndbox>: expected an element, found none"},
        BadXml{"MissingYmax",
               "<annotation><filename>x.png</filename><object><name>WBC</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>5</xmax></bndbox></object></annotation>",
               "<object>/<bndbox>/<ymax>: expected an element, found none"},
        BadXml{"Inverted",
               "<annotation><filename>x.png</filename><object><name>WBC</name><bndbox><xmin>9</xmin>"
               "<ymin>1</ymin><xmax>5</xmax><ymax>3</ymax></bndbox></object></annotation>",
               "expected xmax > xmin and ymax > ymin, found xmin=9 xmax=5"},
        BadXml{"UnknownClass",
               "<annotation><filename>x.png</filename>\n<object><name>Blast</name><bndbox><xmin>1</xmin>"
               "<ymin>1</ymin><xmax>5</xmax><ymax>3</ymax></bndbox></object></annotation>",
               "Annotations/x.xml:2: <object>/<name>: expected a class listed in"},
        BadXml{"MissingImage",
               "<annotation><filename>nope.png</filename><size><width>20</width><height>0</height></size>"
               "</annotation>",
               "JPEGImages/nope.png"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(VocFormat, ListedIdWithoutAnnotationIsAnError) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  ASSERT_TRUE(write_voc(ds, tmp / "voc").has_value());
  write_text(tmp.path() / "voc/ImageSets/Main/val.txt", "b\nc\nlost\n");
  auto r = read_voc(tmp / "voc");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("ImageSets/Main/val.txt: expected Annotations/lost.xml"),
            std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace ms
