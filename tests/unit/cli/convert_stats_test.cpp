// `marrowscope convert` and `marrowscope stats`, run as the real binary.
#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "core/config.h"
#include "unit/cli/run_cli.h"
#include "unit/data/formats/format_fixture.h"

namespace ms {
namespace {

using testing::run_cli;
using testing::ScratchDir;
namespace fs = std::filesystem;

// Box counts per class name from a COCO JSON file, counted independently of the library.
std::map<std::string, std::int64_t> coco_boxes_per_class(const Json& coco) {
  std::map<std::int64_t, std::string> names;
  for (const auto& c : coco["categories"]) names[c["id"].get<std::int64_t>()] = c["name"];
  std::map<std::string, std::int64_t> counts;
  for (const auto& n : names) counts[n.second] = 0;
  for (const auto& a : coco["annotations"]) ++counts[names.at(a["category_id"].get<std::int64_t>())];
  return counts;
}

std::map<std::string, std::int64_t> stats_boxes_per_class(const Json& stats) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& [name, n] : stats["boxes_per_class"].items()) counts[name] = n.get<std::int64_t>();
  return counts;
}

TEST(CliConvert, YoloToCocoKeepsEveryBoxAndStatsAgree) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  {
    // Two of the fixture's images, with YOLO labels written by hand.
    testing::write_text(tmp.path() / "yolo/classes.txt", "WBC\nRBC\nPlatelet\n");
    fs::create_directories(tmp.path() / "yolo/images/val");
    fs::copy_file(ds.fields[1].image_path, tmp.path() / "yolo/images/val/b.png");  // 80x80
    fs::copy_file(ds.fields[2].image_path, tmp.path() / "yolo/images/val/c.jpg");  // 40x30
    testing::write_text(tmp.path() / "yolo/labels/val/b.txt",
                        "2 0.5 0.5 0.25 0.25\n1 0.1 0.1 0.05 0.05\n1 0.9 0.9 0.1 0.1\n");
  }
  auto conv = run_cli({"convert", "--from", "yolo", "--to", "coco", tmp / "yolo", tmp / "out/val.json",
                       "--split", "val"});
  ASSERT_EQ(conv.status, 0) << conv.output;
  EXPECT_NE(conv.output.find("read yolo"), std::string::npos) << conv.output;
  EXPECT_NE(conv.output.find("2 images, 3 boxes"), std::string::npos) << conv.output;
  EXPECT_NE(conv.output.find("wrote coco"), std::string::npos) << conv.output;

  auto coco = read_json_file(tmp / "out/val.json");
  ASSERT_TRUE(coco.has_value()) << coco.error().message;
  EXPECT_EQ((*coco)["images"].size(), 2u);
  EXPECT_EQ((*coco)["images"][0]["file_name"], "../yolo/images/val/b.png");
  EXPECT_EQ((*coco)["annotations"][0]["bbox"], Json({30.0, 30.0, 20.0, 20.0}));

  auto st = run_cli({"stats", tmp / "yolo", "--split", "val", "--json", tmp / "yolo_stats.json"});
  ASSERT_EQ(st.status, 0) << st.output;
  EXPECT_NE(st.output.find("format: yolo"), std::string::npos) << st.output;
  EXPECT_NE(st.output.find("80x80: 1"), std::string::npos) << st.output;
  auto stats = read_json_file(tmp / "yolo_stats.json");
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ((*stats)["images"], 2);
  EXPECT_EQ((*stats)["images_without_boxes"], 1);
  const std::map<std::string, std::int64_t> expected{{"WBC", 0}, {"RBC", 2}, {"Platelet", 1}};
  EXPECT_EQ(stats_boxes_per_class(*stats), expected);
  EXPECT_EQ(coco_boxes_per_class(*coco), expected);

  // The COCO file reads back through stats with autodetection.
  auto st2 = run_cli({"stats", tmp / "out/val.json", "--json", tmp / "coco_stats.json"});
  ASSERT_EQ(st2.status, 0) << st2.output;
  auto stats2 = read_json_file(tmp / "coco_stats.json");
  ASSERT_TRUE(stats2.has_value());
  EXPECT_EQ((*stats2)["format"], "coco");
  EXPECT_EQ(stats_boxes_per_class(*stats2), expected);
  EXPECT_EQ((*stats2)["image_sizes"], (*stats)["image_sizes"]);
}

TEST(CliConvert, CocoToLabelmeToVocWithImageRoot) {
  ScratchDir tmp;
  const FieldDataset ds = testing::make_field_dataset(tmp.path() / "src");
  ASSERT_EQ(run_cli({"convert", "--from", "yolo", "--to", "labelme", tmp / "nothing", tmp / "x"}).status,
            exit_code_for(ErrorCode::kNotFound));
  // Write a COCO file whose file_name entries are relative to src/ (not the JSON's folder).
  Json coco = {{"images", Json::array()}, {"annotations", Json::array()},
               {"categories", {{{"id", 1}, {"name", "cell"}}}}};
  coco["images"].push_back({{"id", 1}, {"file_name", "train/a.png"}, {"width", 64}, {"height", 48}});
  coco["annotations"].push_back({{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {1, 2, 3, 4}}});
  fs::create_directories(tmp.path() / "meta");
  ASSERT_TRUE(write_json_file(tmp / "meta/c.json", coco).has_value());
  auto lm = run_cli({"convert", "--from", "coco", "--to", "labelme", tmp / "meta/c.json", tmp / "lm",
                     "--images", tmp / "src", "--split", "train"});
  ASSERT_EQ(lm.status, 0) << lm.output;
  EXPECT_NE(lm.output.find("1 hard-linked"), std::string::npos) << lm.output;
  EXPECT_TRUE(fs::equivalent(tmp.path() / "lm/train/a.png", tmp.path() / "src/train/a.png"));
  auto voc = run_cli({"convert", "--from", "labelme", "--to", "voc", tmp / "lm", tmp / "voc"});
  ASSERT_EQ(voc.status, 0) << voc.output;
  const std::string xml = testing::read_text(tmp.path() / "voc/Annotations/a.xml");
  EXPECT_NE(xml.find("<xmin>1</xmin>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<ymax>6</ymax>"), std::string::npos) << xml;
  EXPECT_EQ(testing::read_text(tmp.path() / "voc/ImageSets/Main/train.txt"), "a\n");
}

TEST(CliConvert, MalformedLabelFailsWithFileAndLine) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "d/images/val/x.png", 16, 16);
  testing::write_text(tmp.path() / "d/labels/val/x.txt", "0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n");
  auto r = run_cli({"convert", "--from", "yolo", "--to", "coco", tmp / "d", tmp / "o.json"});
  EXPECT_EQ(r.status, exit_code_for(ErrorCode::kInvalidArgument)) << r.output;
  EXPECT_NE(r.output.find("labels/val/x.txt:2: expected 5 numbers, found 4"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp.path() / "o.json"));

  auto bad_format = run_cli({"convert", "--from", "cvat", "--to", "coco", tmp / "d", tmp / "o.json"});
  EXPECT_NE(bad_format.status, 0);
  EXPECT_NE(bad_format.output.find("expected one of yolo, voc, coco, labelme, folder, found \"cvat\""),
            std::string::npos)
      << bad_format.output;
}

TEST(CliStats, DetectsAFolderTreeAndCountsCells) {
  ScratchDir tmp;
  testing::write_field_image(tmp.path() / "cells/lymphocyte/1.jpg", 36, 36, {}, true);
  testing::write_field_image(tmp.path() / "cells/lymphocyte/2.jpg", 36, 36, {}, true);
  testing::write_field_image(tmp.path() / "cells/basophil/1.jpg", 36, 40, {}, true);
  auto r = run_cli({"stats", tmp / "cells", "--json", tmp / "s.json"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("format: folder"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  1 lymphocyte: 2"), std::string::npos) << r.output;
  auto j = read_json_file(tmp / "s.json");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["cells"], 3);
  EXPECT_EQ((*j)["cells_per_class"]["basophil"], 1);
  EXPECT_EQ((*j)["image_sizes"][0], Json({{"width", 36}, {"height", 36}, {"count", 2}}));
}

// Conversion must not lose data: txl-pbc's val split converted to COCO keeps 252 images and the
// box counts per class that `stats` reports for the YOLO original.
TEST(CliConvert, TxlPbcValidationSplitToCoco) {
  const std::string data = testing::shared_data_dir();
  if (data.empty()) GTEST_SKIP() << "shared data absent";
  ScratchDir tmp;
  auto conv = run_cli({"convert", "--from", "yolo", "--to", "coco", data + "/txl-pbc",
                       tmp / "txl_val.json", "--split", "val"});
  ASSERT_EQ(conv.status, 0) << conv.output;
  auto st = run_cli({"stats", data + "/txl-pbc", "--split", "val", "--json", tmp / "stats.json"});
  ASSERT_EQ(st.status, 0) << st.output;
  auto coco = read_json_file(tmp / "txl_val.json");
  auto stats = read_json_file(tmp / "stats.json");
  ASSERT_TRUE(coco.has_value() && stats.has_value());
  EXPECT_EQ((*coco)["images"].size(), 252u);
  EXPECT_EQ((*stats)["images"], 252);
  const auto from_stats = stats_boxes_per_class(*stats);
  EXPECT_EQ(coco_boxes_per_class(*coco), from_stats);
  std::int64_t total = 0;
  for (const auto& [name, n] : from_stats) total += n;
  EXPECT_EQ(static_cast<std::size_t>(total), (*coco)["annotations"].size());
  EXPECT_EQ(total, (*stats)["boxes"].get<std::int64_t>());
  std::cout << "txl-pbc val: " << (*coco)["images"].size() << " images; boxes per class "
            << (*stats)["boxes_per_class"].dump() << "\n";
}

}  // namespace
}  // namespace ms
