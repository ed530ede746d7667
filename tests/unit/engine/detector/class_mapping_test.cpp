#include <gtest/gtest.h>

#include "engine/detector/class_mapping.h"

namespace ms {
namespace {

const std::vector<std::string> kModel{"WBC", "RBC", "Platelet"};

TEST(ClassMapping, TxlPbcNamesMatchByParenthesesAndLineNumbers) {
  // txl-pbc's classes.txt, verbatim.
  auto m = map_dataset_classes({"0 White Blood Cell (WBC)", "1 Red Blood Cell (RBC)", "2 Platelet"}, kModel, "");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, (ClassMapping{0, 1, 2}));
}

TEST(ClassMapping, UnmatchedClassesAreListedInTheError) {
  auto m = map_dataset_classes({"WBC", "Platelets", "Smudge"}, kModel, "");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("'Platelets', 'Smudge'"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("--class-map"), std::string::npos);
}

TEST(ClassMapping, ClassMapRenamesAndIgnores) {
  auto m = map_dataset_classes({"WBC", "Platelets", "Smudge"}, kModel, "Platelets=Platelet, Smudge=");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, (ClassMapping{0, 2, -1}));
}

TEST(ClassMapping, RemovedBoxesAreNegativesUnlessMapped) {
  // The training export names removed false boxes not_a_cell: background, never a positive.
  auto m = map_dataset_classes({"WBC", "not_a_cell"}, kModel, "");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, (ClassMapping{0, -1}));
  FieldDataset ds;
  ds.classes = {"WBC", "not_a_cell"};
  ds.fields.push_back({"a.png", "", 10, 10, {{{0, 0, 5, 5}, 0, 1.f}, {{5, 5, 9, 9}, 1, 1.f}}, {}, {}});
  ds.fields.push_back({"b.png", "", 10, 10, {{{1, 1, 6, 6}, 1, 1.f}}, {}, {}});
  const FieldDataset out = remap_fields(ds, *m, kModel);
  ASSERT_EQ(out.fields.size(), 2u);  // a field with only negatives stays: all background
  ASSERT_EQ(out.fields[0].boxes.size(), 1u);
  EXPECT_EQ(out.fields[0].boxes[0].class_id, 0);
  EXPECT_TRUE(out.fields[1].boxes.empty());
  // An explicit map still wins (a lab that trains a not-a-cell class on purpose).
  auto mapped = map_dataset_classes({"not_a_cell"}, kModel, "not_a_cell=Platelet");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, (ClassMapping{2}));
}

TEST(ClassMapping, UndecidedCellsBecomeIgnoreRegionsAndAStarMapsTheRest) {
  // A reviewers' export: one class per cell type, removed boxes and undecided cells.
  const std::vector<std::string> exported{"eosinophil", "lymphocyte", "not_a_cell", "unreviewed", "RBC"};
  auto m = map_dataset_classes(exported, kModel, "*=WBC");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, (ClassMapping{0, 0, kDropClass, kIgnoreRegion, 1})) << "exact names still win over '*'";
  FieldDataset ds;
  ds.classes = exported;
  ds.fields.push_back({"a.png", "", 100, 100,
                       {{{0, 0, 20, 20}, 0, 1.f}, {{30, 30, 50, 50}, 2, 1.f}, {{60, 60, 90, 90}, 3, 1.f}}, {}, {}});
  const FieldDataset out = remap_fields(ds, *m, kModel);
  ASSERT_EQ(out.fields[0].boxes.size(), 1u);
  EXPECT_EQ(out.fields[0].boxes[0].class_id, 0);
  ASSERT_EQ(out.fields[0].ignore.size(), 1u);
  EXPECT_EQ(out.fields[0].ignore[0].x1, 60.f);
  // "*=" ignores every class nothing else names; without '*' they are an error as before.
  auto dropped = map_dataset_classes({"eosinophil", "WBC"}, kModel, "*=");
  ASSERT_TRUE(dropped);
  EXPECT_EQ(*dropped, (ClassMapping{kDropClass, 0}));
  EXPECT_FALSE(map_dataset_classes({"eosinophil"}, kModel, ""));
  EXPECT_FALSE(map_dataset_classes({"eosinophil"}, kModel, "*=Leukocyte"));
}

TEST(ClassMapping, ClassMapTargetMustBeAModelClass) {
  auto m = map_dataset_classes({"WBC"}, kModel, "WBC=Leukocyte");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("Leukocyte"), std::string::npos);
  EXPECT_FALSE(map_dataset_classes({"WBC"}, kModel, "justtext"));
}

TEST(ClassMapping, RemapDropsIgnoredBoxes) {
  FieldDataset ds;
  ds.classes = {"A", "B"};
  ds.fields.push_back({"x.png", "", 10, 10, {{{0, 0, 5, 5}, 0, 1.f}, {{1, 1, 4, 4}, 1, 1.f}}, {}, {}});
  const auto out = remap_fields(ds, {-1, 0}, {"B"});
  ASSERT_EQ(out.fields.size(), 1u);
  ASSERT_EQ(out.fields[0].boxes.size(), 1u);
  EXPECT_EQ(out.fields[0].boxes[0].class_id, 0);
  EXPECT_EQ(out.classes, (std::vector<std::string>{"B"}));
}

}  // namespace
}  // namespace ms
