// `marrowscope analyze` as a user runs it: the real binary with tiny trained models on a folder
// of synthetic fields mixed with broken files. Checks the JSON against its documented keys, the
// CSV, crops, drawings and labelme output (read back with our own labelme reader), the messages
// for skipped files and the exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <map>

#include "core/config.h"
#include "data/formats/formats.h"
#include "slide_fixture.h"
#include "unit/pipeline/pipeline_fixture.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> keys(const Json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  std::sort(k.begin(), k.end());
  return k;
}

class AnalyzeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    init_torch_runtime();
    models_ = testing::tiny_models();
    root_ = fs::temp_directory_path() / ("ms_analyze_cli_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    // fields/one.png, fields/sub/two.png (JPEG bytes), fields/sub/three.jpg, and broken files:
    // fields/empty.png (0 bytes), fields/sub/cut.png (truncated), fields/notes.txt (ignored in a
    // folder: neither an image name nor image bytes), fields/fake.jpg (text).
    fs::create_directories(root_ / "fields" / "sub");
    std::mt19937 rng(77);
    for (const char* name : {"one.png", "sub/two.png", "sub/three.jpg"}) {
      fields_[name] = testing::random_field(128, 128, 1 + int(rng() % 3), 2, rng);
      const bool jpeg = std::string(name).find("two") != std::string::npos || std::string(name).find(".jpg") != std::string::npos;
      auto bytes = encode_image(fields_[name].image, jpeg ? ".jpg" : ".png", 97);
      ASSERT_TRUE(bytes);
      std::ofstream(root_ / "fields" / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes->data()), long(bytes->size()));
    }
    std::ofstream(root_ / "fields" / "empty.png").flush();
    const auto png = encode_image(fields_["one.png"].image, ".png");
    ASSERT_TRUE(png);
    std::ofstream(root_ / "fields" / "sub" / "cut.png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png->data()), 50);
    std::ofstream(root_ / "fields" / "notes.txt") << "field notes, not an image\n";
    std::ofstream(root_ / "fields" / "fake.jpg") << "not a jpeg either\n";
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  void SetUp() override { ASSERT_TRUE(fs::exists(models_.classifier_dir + "/model.json")); }

  // Runs the binary; returns its exit status, stdout in out_, stderr in err_.
  int analyze(const std::string& args) {
    const std::string cmd = std::string(MARROWSCOPE_BINARY) + " analyze --quiet --detector '" + models_.detector_dir +
                            "' --classifier '" + models_.classifier_dir + "' " + args + " > '" +
                            (root_ / "stdout").string() + "' 2> '" + (root_ / "stderr").string() + "'";
    const int status = std::system(cmd.c_str());
    out_ = slurp(root_ / "stdout");
    err_ = slurp(root_ / "stderr");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string out_, err_;
  static testing::TinyModels models_;
  static fs::path root_;
  static std::map<std::string, testing::SyntheticField> fields_;
};
testing::TinyModels AnalyzeCli::models_;
fs::path AnalyzeCli::root_;
std::map<std::string, testing::SyntheticField> AnalyzeCli::fields_;

TEST_F(AnalyzeCli, WritesEveryOutputAndSkipsBrokenFilesNamingThem) {
  const fs::path out = root_ / "run1";
  const fs::path fields = root_ / "fields";
  const std::string missing = (root_ / "missing.png").string();
  const int rc = analyze("'" + fields.string() + "' '" + missing + "' --json '" + (out / "r.json").string() +
                         "' --csv '" + (out / "r.csv").string() + "' --crops '" + (out / "crops").string() +
                         "' --draw '" + (out / "draw").string() + "' --labelme '" + (out / "labelme").string() + "'");
  ASSERT_EQ(rc, 0) << out_ << err_;
  for (const char* bad : {"empty.png", "cut.png", "fake.jpg", "missing.png"})
    EXPECT_NE(err_.find(bad), std::string::npos) << bad << " not reported: " << err_;
  EXPECT_EQ(err_.find("notes.txt"), std::string::npos) << "a text file in a folder is not a field";

  const Json j = Json::parse(slurp(out / "r.json"));
  EXPECT_EQ(keys(j), (std::vector<std::string>{"differential", "images", "summary"}));
  // Fields of a folder in sorted path order, then the named file.
  const std::vector<std::string> order{"empty.png", "fake.jpg", "one.png", "sub/cut.png", "sub/three.jpg",
                                       "sub/two.png"};
  ASSERT_EQ(j["images"].size(), order.size() + 1);
  size_t total_cells = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const Json& im = j["images"][i];
    EXPECT_EQ(im["image"], (fields / order[i]).string());
    if (!fields_.count(order[i])) {
      EXPECT_EQ(keys(im), (std::vector<std::string>{"error", "image"}));
      EXPECT_NE(im["error"].get<std::string>().find(fs::path(order[i]).filename().string()), std::string::npos);
      continue;
    }
    EXPECT_EQ(keys(im), (std::vector<std::string>{"cells", "height", "image", "width"}));
    EXPECT_EQ(im["width"], 128);
    EXPECT_EQ(im["height"], 128);
    const auto white = fields_[order[i]].white_cells();
    ASSERT_EQ(im["cells"].size(), white.size()) << order[i];
    for (const auto& c : im["cells"]) {
      // flag_reason comes with a flag; the tiny classifier has no atypical reference, so no atypical.
      std::vector<std::string> want{"box", "class", "det_class", "det_score", "entropy", "flagged"};
      if (c["flagged"].get<bool>()) want.push_back("flag_reason");
      want.insert(want.end(), {"probability", "top"});
      EXPECT_EQ(keys(c), want);
      EXPECT_EQ(c["box"].size(), 4u);
      EXPECT_EQ(c["det_class"], "WBC");
      EXPECT_EQ(c["top"][0]["class"], c["class"]);
    }
    const auto best = testing::best_ious(white, im["cells"].size(), [&](size_t k) {
      const auto& b = im["cells"][k]["box"];
      return Box{b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
    });
    for (float b : best) EXPECT_GE(b, 0.7f) << order[i];
    total_cells += white.size();
  }
  EXPECT_EQ(j["images"].back()["image"], missing);
  EXPECT_TRUE(j["images"].back().contains("error"));

  const Json& s = j["summary"];
  for (const char* k : {"fields", "cells", "seconds", "fields_per_second", "cells_per_hour"})
    EXPECT_TRUE(s.contains(k)) << "summary." << k;
  EXPECT_EQ(s["fields"], 3);
  EXPECT_EQ(s["failed"], 4);
  EXPECT_EQ(s["cells"], total_cells);
  EXPECT_NEAR(s["fields_per_second"].get<double>(), 3.0 / s["seconds"].get<double>(), 1e-6);
  EXPECT_NEAR(s["cells_per_hour"].get<double>(), 3600.0 * double(total_cells) / s["seconds"].get<double>(), 1e-3);

  // The differential counts the suggested classes.
  int counted = 0;
  for (const auto& row : j["differential"]["rows"]) counted += row["count"].get<int>();
  EXPECT_EQ(counted, int(total_cells));
  EXPECT_TRUE(j["differential"].contains("suggestions"));

  // CSV: header + one row per cell.
  const std::string csv = slurp(out / "r.csv");
  EXPECT_EQ(size_t(std::count(csv.begin(), csv.end(), '\n')), total_cells + 1);
  // Crops: a folder-per-class tree with one crop per cell.
  auto crops = read_folder_tree((out / "crops").string());
  ASSERT_TRUE(crops) << crops.error().message;
  EXPECT_EQ(crops->cells.size(), total_cells);
  // Drawings mirror the input folders.
  EXPECT_TRUE(fs::exists(out / "draw" / "one.jpg"));
  EXPECT_TRUE(fs::exists(out / "draw" / "sub" / "two.jpg"));
  EXPECT_TRUE(fs::exists(out / "draw" / "sub" / "three.jpg"));

  // labelme: our own reader gets back the same boxes and classes, one JSON beside each field.
  auto lm = read_labelme((out / "labelme").string());
  ASSERT_TRUE(lm) << lm.error().message;
  ASSERT_EQ(lm->fields.size(), 3u);
  size_t boxes = 0;
  for (const auto& f : lm->fields) {
    boxes += f.boxes.size();
    const std::string rel = fs::path(f.image_path).lexically_relative(out / "labelme").string();
    ASSERT_TRUE(fields_.count(rel)) << f.image_path;
    EXPECT_EQ(f.width, 128);
    const Json* im = nullptr;
    for (const auto& x : j["images"])
      if (x["image"] == (fields / rel).string()) im = &x;
    ASSERT_NE(im, nullptr);
    ASSERT_EQ(f.boxes.size(), (*im)["cells"].size());
    for (size_t k = 0; k < f.boxes.size(); ++k) {
      const auto& c = (*im)["cells"][k];
      EXPECT_EQ(lm->classes[size_t(f.boxes[k].class_id)], c["class"]);
      EXPECT_NEAR(f.boxes[k].box.x1, c["box"][0].get<float>(), 1e-3f);
      EXPECT_NEAR(f.boxes[k].box.y2, c["box"][3].get<float>(), 1e-3f);
    }
  }
  EXPECT_EQ(boxes, total_cells);
  const Json one = Json::parse(slurp(out / "labelme" / "one.json"));
  EXPECT_EQ(one["imagePath"], "one.png");
  EXPECT_TRUE(fs::exists(out / "labelme" / "one.png"));
  EXPECT_NE(out_.find("3 fields (4 skipped)"), std::string::npos) << out_;
}

TEST_F(AnalyzeCli, ExitStatusIsNonZeroOnlyWhenNothingWasAnalysed) {
  const fs::path out = root_ / "run2";
  fs::create_directories(out);
  const std::string bad = "'" + (root_ / "fields" / "empty.png").string() + "' '" +
                          (root_ / "fields" / "fake.jpg").string() + "'";
  EXPECT_NE(analyze(bad + " --json '" + (out / "bad.json").string() + "'"), 0);
  EXPECT_NE(err_.find("empty.png"), std::string::npos) << err_;
  // The JSON still says what happened to each file.
  const Json j = Json::parse(slurp(out / "bad.json"));
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_TRUE(j["images"][0].contains("error"));
  EXPECT_EQ(j["summary"]["fields"], 0);
  // One good file among bad ones is enough for success.
  EXPECT_EQ(analyze(bad + " '" + (root_ / "fields" / "one.png").string() + "'"), 0) << err_;
  EXPECT_NE(out_.find("1 fields (2 skipped)"), std::string::npos) << out_;
  // Nothing at all to analyse.
  fs::create_directories(root_ / "no_images");
  EXPECT_NE(analyze("'" + (root_ / "no_images").string() + "'"), 0);
  EXPECT_NE(err_.find("no image files"), std::string::npos) << err_;
}

TEST_F(AnalyzeCli, BoneMarrowUsesTheMarrowVocabularyAndNeverCallsUnnamedBlastsAbsent) {
  const fs::path out = root_ / "marrow";
  fs::create_directories(out);
  ASSERT_EQ(analyze("'" + (root_ / "fields" / "one.png").string() + "' '" + (root_ / "fields" / "sub" / "three.jpg").string() +
                    "' --specimen bone_marrow --json '" + (out / "m.json").string() + "'"),
            0)
      << err_;
  const Json d = Json::parse(slurp(out / "m.json"))["differential"];
  EXPECT_EQ(d["taxonomy"], "marrow");
  bool blast_row = false;
  for (const auto& r : d["rows"])
    if (r["id"] == "blast") {
      blast_row = true;
      EXPECT_TRUE(r["review_only"].get<bool>());  // the tiny classifier names no blasts
    }
  EXPECT_TRUE(blast_row);
  // Nothing is reviewed in a batch run: the blast percentage is not assessed, never "not met".
  for (const auto& s : d["suggestions"]) {
    const std::string id = s["rule_id"];
    if (d["denominator"].get<int>() > 0) {
      EXPECT_NE(id.find("blasts_not_assessed"), std::string::npos) << id;
    }
    EXPECT_EQ(s["text"]["en"].get<std::string>().find("criterion met"), std::string::npos) << s.dump();
  }
}

TEST_F(AnalyzeCli, BadOptionsAreErrorsNamingThem) {
  const std::string field = "'" + (root_ / "fields" / "one.png").string() + "'";
  EXPECT_NE(analyze(field + " --set pipeline.tile_overlap=5000"), 0);
  EXPECT_NE(err_.find("pipeline.tile_overlap"), std::string::npos) << err_;
  EXPECT_NE(analyze(field + " --set pipeline.no_such_key=1"), 0);
  EXPECT_NE(err_.find("no_such_key"), std::string::npos) << err_;
  EXPECT_NE(analyze(field + " --set detector.x=1"), 0);
  EXPECT_NE(err_.find("detector.x"), std::string::npos) << err_;
  EXPECT_NE(analyze(field + " --taxonomy '" + (root_ / "no_taxonomy.json").string() + "'"), 0);
  EXPECT_NE(err_.find("no_taxonomy.json"), std::string::npos) << err_;
  // A taxonomy that cannot count one of the classifier's classes is refused before any work.
  auto tax = read_json_file(std::string(MARROWSCOPE_SOURCE_DIR) + "/configs/taxonomy/pbc11.json");
  ASSERT_TRUE(tax) << tax.error().message;
  Json kept = Json::array();
  for (const auto& c : (*tax)["classes"])
    if (c["id"] != "basophil") kept.push_back(c);
  (*tax)["classes"] = kept;
  const fs::path tax_path = root_ / "no_basophils.json";
  ASSERT_TRUE(write_json_file(tax_path.string(), *tax));
  EXPECT_NE(analyze(field + " --taxonomy '" + tax_path.string() + "'"), 0);
  EXPECT_NE(err_.find("basophil"), std::string::npos) << err_;
}

TEST_F(AnalyzeCli, AnalysesARegionOfAWholeSlideInSlideCoordinates) {
  // A 600 x 500 smear as a tiled pyramidal TIFF at 0.5 microns per pixel.
  std::mt19937 rng(3);
  const auto smear = testing::random_field(600, 500, 24, 20, rng);
  const fs::path slide = root_ / "smear.tif";
  ASSERT_EQ(testing::write_pyramidal_tiff(smear.image, slide.string(), 0.5), "");
  const std::string tiled = " --set pipeline.tile_size=128 --set pipeline.tile_overlap=48";
  const fs::path px_json = root_ / "region_px.json", um_json = root_ / "region_um.json";
  ASSERT_EQ(analyze("'" + slide.string() + "' --region 100,50,400,300 --json '" + px_json.string() + "'" + tiled), 0)
      << err_;
  // The same rectangle in microns.
  ASSERT_EQ(analyze("'" + slide.string() + "' --region-um 50,25,200,150 --json '" + um_json.string() + "'" + tiled), 0)
      << err_;
  auto px = read_json_file(px_json.string());
  auto um = read_json_file(um_json.string());
  ASSERT_TRUE(px && um);
  const Json& cells = (*px)["images"][0]["cells"];
  EXPECT_EQ(cells.size(), (*um)["images"][0]["cells"].size());
  size_t inside = 0;
  for (const auto& c : smear.white_cells())
    inside += c.box.x1 >= 100 && c.box.y1 >= 50 && c.box.x2 <= 500 && c.box.y2 <= 350;
  ASSERT_GE(inside, 4u);
  EXPECT_GE(cells.size(), inside);
  size_t found = 0;
  for (const auto& c : smear.white_cells()) {
    if (!(c.box.x1 >= 100 && c.box.y1 >= 50 && c.box.x2 <= 500 && c.box.y2 <= 350)) continue;
    for (const auto& j : cells) {
      const Box b{j["box"][0].get<float>(), j["box"][1].get<float>(), j["box"][2].get<float>(), j["box"][3].get<float>()};
      if (iou(b, c.box) >= 0.7f) {
        ++found;
        break;
      }
    }
  }
  EXPECT_EQ(found, inside);  // slide coordinates, not region coordinates
  EXPECT_EQ((*px)["summary"]["fields"], 1);

  // Bad regions and inputs are refused naming what was wrong.
  EXPECT_NE(analyze("'" + slide.string() + "' --region 0,0,700,10" + tiled), 0);
  EXPECT_NE(err_.find("--region"), std::string::npos) << err_;
  EXPECT_NE(analyze("'" + slide.string() + "' --region 1,2,3" + tiled), 0);
  EXPECT_NE(err_.find("x,y,w,h"), std::string::npos) << err_;
  EXPECT_NE(analyze("'" + slide.string() + "' '" + slide.string() + "' --region 0,0,10,10"), 0);
  EXPECT_NE(err_.find("one slide"), std::string::npos) << err_;
  EXPECT_NE(analyze("'" + (root_ / "fields" / "notes.txt").string() + "' --region 0,0,10,10"), 0);
  EXPECT_NE(err_.find("OpenSlide"), std::string::npos) << err_;
  EXPECT_NE(analyze("'" + slide.string() + "' --region 0,0,10,10 --region-um 0,0,5,5"), 0);
  EXPECT_NE(err_.find("--region-um"), std::string::npos) << err_;
}

}  // namespace
}  // namespace ms
