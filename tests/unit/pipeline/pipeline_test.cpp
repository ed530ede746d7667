// The whole pipeline with tiny trained models on synthetic fields: every white cell is found,
// boxed and classified; red cells are not cropped; large fields are tiled without duplicates;
// unreadable files are skipped with a message naming them while the batch goes on.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "data/formats/formats.h"
#include "pipeline/field_json.h"
#include "pipeline/pipeline.h"
#include "unit/pipeline/pipeline_fixture.h"

namespace ms {
namespace {

namespace fs = std::filesystem;
using testing::SyntheticCell;
using testing::SyntheticField;
using testing::disc_classes;

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    init_torch_runtime();
    models_ = testing::tiny_models();
    root_ = fs::temp_directory_path() / ("ms_pipeline_test_" + std::to_string(::getpid()));
    fs::create_directories(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(models_.detector_dir + "/model.json")) << "tiny models were not trained";
  }
  static std::unique_ptr<Pipeline> load(const PipelineOptions& o = {}) {
    auto p = Pipeline::load(models_.detector_dir, models_.classifier_dir, o);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
  // Every expected white cell is found once with IoU >= 0.7, and nothing else. Returns how many
  // of them got the class of their colour (the tiny classifier is 90-100% right on held-out crops).
  static int expect_cells(const FieldResult& r, const std::vector<SyntheticCell>& expected) {
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.cells.size(), expected.size()) << r.image;
    const auto best = testing::best_ious(expected, r.cells.size(), [&](size_t i) { return r.cells[i].box; });
    int right = 0;
    for (size_t e = 0; e < expected.size(); ++e) {
      EXPECT_GE(best[e], 0.7f) << r.image << ": white cell " << e << " not found";
      for (const auto& c : r.cells)
        if (iou(c.box, expected[e].box) == best[e] && best[e] > 0)
          right += c.class_name == disc_classes()[size_t(expected[e].colour)];
    }
    return right;
  }
  static std::vector<SyntheticField> fields(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<SyntheticField> out;
    for (int i = 0; i < n; ++i) out.push_back(testing::random_field(128, 128, 1 + int(rng() % 3), int(rng() % 4), rng));
    return out;
  }
  static testing::TinyModels models_;
  static fs::path root_;
};
testing::TinyModels PipelineTest::models_;
fs::path PipelineTest::root_;

TEST_F(PipelineTest, FindsBoxesAndClassifiesEveryWhiteCell) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  const auto synthetic = fields(8, 101);
  std::vector<cv::Mat> images;
  std::vector<std::string> names;
  for (size_t i = 0; i < synthetic.size(); ++i) {
    images.push_back(synthetic[i].image);
    names.push_back("field" + std::to_string(i));
  }
  const auto results = pipeline->analyze(images, names);
  ASSERT_EQ(results.size(), synthetic.size());
  const float log_c = std::log(float(disc_classes().size()));
  int right = 0, total = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const FieldResult& r = results[i];
    EXPECT_EQ(r.image, names[i]);
    EXPECT_EQ(r.width, 128);
    EXPECT_EQ(r.height, 128);
    right += expect_cells(r, synthetic[i].white_cells());
    total += int(synthetic[i].white_cells().size());
    for (size_t k = 0; k < r.cells.size(); ++k) {
      const CellResult& c = r.cells[k];
      EXPECT_EQ(c.det_class, "WBC");
      EXPECT_GE(c.det_score, pipeline->options().min_det_score);
      if (k > 0) {
        EXPECT_LE(c.det_score, r.cells[k - 1].det_score) << "cells are not best first";
      }
      EXPECT_EQ(c.iou_pred, -1.f) << "the tiny detector has no IoU branch";
      ASSERT_EQ(c.top.size(), 3u);
      EXPECT_EQ(c.top[0].class_name, c.class_name);
      EXPECT_FLOAT_EQ(c.top[0].probability, c.probability);
      EXPECT_GE(c.top[0].probability, c.top[1].probability);
      EXPECT_GE(c.top[1].probability, c.top[2].probability);
      EXPECT_NEAR(c.top[0].probability + c.top[1].probability + c.top[2].probability, 1.f, 1e-4f);
      std::vector<float> probs;
      for (const auto& t : c.top) probs.push_back(t.probability);
      EXPECT_NEAR(c.entropy, entropy_nats(probs), 1e-4f);  // top-3 of 3 classes is everything
      EXPECT_GE(c.entropy, 0.f);
      EXPECT_LE(c.entropy, log_c + 1e-5f);
      EXPECT_EQ(c.flagged, c.probability < 0.6f || c.entropy > 1.0f);
    }
  }
  EXPECT_GE(right, total * 9 / 10) << right << " of " << total << " white cells classified by colour";
  const auto v = pipeline->versions();
  EXPECT_FALSE(v.detector.empty());
  EXPECT_FALSE(v.classifier.empty());
  EXPECT_EQ(pipeline->cell_classes(), disc_classes());
}

TEST_F(PipelineTest, BatchSizesDoNotChangeResults) {
  PipelineOptions big;
  big.detect_batch = 8;
  big.classify_batch = 64;
  PipelineOptions one;
  one.detect_batch = 1;
  one.classify_batch = 1;
  auto a = load(big), b = load(one);
  ASSERT_TRUE(a && b);
  const auto synthetic = fields(5, 202);
  std::vector<cv::Mat> images;
  std::vector<std::string> names;
  for (const auto& f : synthetic) {
    images.push_back(f.image);
    names.push_back("x");
  }
  const auto batched = a->analyze(images, names);
  for (size_t i = 0; i < synthetic.size(); ++i) {
    const FieldResult single = b->analyze(images[i], "x");
    ASSERT_EQ(single.cells.size(), batched[i].cells.size());
    for (size_t k = 0; k < single.cells.size(); ++k) {
      EXPECT_LT(std::abs(single.cells[k].box.x1 - batched[i].cells[k].box.x1), 0.05f);
      EXPECT_LT(std::abs(single.cells[k].box.y2 - batched[i].cells[k].box.y2), 0.05f);
      EXPECT_EQ(single.cells[k].class_name, batched[i].cells[k].class_name);
      EXPECT_NEAR(single.cells[k].probability, batched[i].cells[k].probability, 1e-3f);
    }
  }
}

TEST_F(PipelineTest, OnlyTheConfiguredDetectorClassesAreCells) {
  PipelineOptions o;
  o.cell_classes = {"RBC"};
  auto pipeline = load(o);
  ASSERT_TRUE(pipeline);
  const auto synthetic = fields(6, 303);
  int found = 0;
  for (const auto& f : synthetic) {
    const FieldResult r = pipeline->analyze(f.image, "f");
    for (const auto& c : r.cells) {
      EXPECT_EQ(c.det_class, "RBC");
      float best_red = 0.f, best_white = 0.f;
      for (const auto& s : f.cells) (s.colour < 0 ? best_red : best_white) = std::max(s.colour < 0 ? best_red : best_white, iou(c.box, s.box));
      EXPECT_GT(best_red, best_white) << "an RBC cell lies on a white cell";
      ++found;
    }
  }
  EXPECT_GT(found, 0);
  o.cell_classes = {"Megakaryocyte"};
  auto bad = Pipeline::load(models_.detector_dir, models_.classifier_dir, o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Megakaryocyte"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("cell_classes"), std::string::npos) << bad.error().message;
}

TEST_F(PipelineTest, BadOptionsAreErrorsNamingTheKey) {
  auto expect_error = [&](PipelineOptions o, const std::string& key) {
    auto p = Pipeline::load(models_.detector_dir, models_.classifier_dir, o);
    ASSERT_FALSE(p) << key;
    EXPECT_NE(p.error().message.find("pipeline." + key), std::string::npos) << p.error().message;
  };
  PipelineOptions o;
  o.tile_overlap = o.tile_size;  // tiles would never advance
  expect_error(o, "tile_overlap");
  o = {};
  o.tile_size = 8;
  expect_error(o, "tile_size");
  o = {};
  o.cell_nms_iou = 0.f;
  expect_error(o, "cell_nms_iou");
  o = {};
  o.top_k = 0;
  expect_error(o, "top_k");
  auto missing = Pipeline::load(root_.string() + "/no_detector", models_.classifier_dir);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no_detector"), std::string::npos) << missing.error().message;
}

TEST_F(PipelineTest, LargeFieldIsTiledAndCellsOnTileBordersAreCountedOnce) {
  // 400 x 300 with 128-px tiles and 48 px overlap: tile columns start at 0, 80, 160, 240, 272 and
  // rows at 0, 80, 160, 172. Cells are placed across tile edges (x 128, 208, y 128) and inside.
  PipelineOptions o;
  o.tile_size = 128;
  o.tile_overlap = 48;
  auto pipeline = load(o);
  ASSERT_TRUE(pipeline);
  cv::Mat img(300, 400, CV_8UC3, testing::kBackground);
  std::vector<SyntheticCell> white;
  white.push_back(testing::draw_disc(img, 128, 40, 15, 0));   // cut by tile 0's right edge
  white.push_back(testing::draw_disc(img, 208, 100, 14, 1));  // cut by tile 1's right edge
  white.push_back(testing::draw_disc(img, 60, 128, 16, 2));   // cut by row 0's bottom edge
  white.push_back(testing::draw_disc(img, 300, 210, 13, 0));
  white.push_back(testing::draw_disc(img, 170, 250, 15, 2));
  white.push_back(testing::draw_disc(img, 350, 40, 12, 1));
  testing::draw_disc(img, 250, 40, 7, -1);
  testing::draw_disc(img, 40, 250, 8, -1);
  const FieldResult r = pipeline->analyze(img, "stitched");
  expect_cells(r, white);
  EXPECT_EQ(r.width, 400);
  EXPECT_EQ(r.height, 300);
}

TEST_F(PipelineTest, AnalyzeFilesSkipsUnreadableFilesNamingThemAndKeepsOrder) {
  PipelineOptions o;
  o.detect_batch = 2;
  o.prefetch = 1;
  auto pipeline = load(o);
  ASSERT_TRUE(pipeline);
  const auto synthetic = fields(3, 404);
  const fs::path dir = root_ / "batch";
  fs::create_directories(dir);
  auto path = [&](const char* name) { return (dir / name).string(); };
  ASSERT_TRUE(write_image(path("a.png"), synthetic[0].image));
  const auto jpeg = encode_image(synthetic[1].image, ".jpg", 95);  // JPEG bytes in a .png
  ASSERT_TRUE(jpeg);
  std::ofstream(path("b.png"), std::ios::binary).write(reinterpret_cast<const char*>(jpeg->data()), long(jpeg->size()));
  std::ofstream(path("empty.png"), std::ios::binary).flush();
  const auto png = encode_image(synthetic[2].image, ".png");
  ASSERT_TRUE(png);
  std::ofstream(path("truncated.png"), std::ios::binary).write(reinterpret_cast<const char*>(png->data()), 40);
  std::ofstream(path("notes.txt")) << "this is not an image\n";
  ASSERT_TRUE(write_image(path("c.png"), synthetic[2].image));
  const std::vector<std::string> paths{path("a.png"), path("empty.png"), path("b.png"), path("truncated.png"),
                                       path("notes.txt"), path("missing.png"), path("c.png")};
  std::vector<FieldResult> got;
  pipeline->analyze_files(paths, [&](FieldResult&& r) { got.push_back(std::move(r)); });
  // Several streams side by side give the same results, in the same order.
  for (int streams : {2, 3}) {
    PipelineOptions so = o;
    so.streams = streams;
    auto side_by_side = load(so);
    ASSERT_TRUE(side_by_side);
    std::vector<FieldResult> again;
    side_by_side->analyze_files(paths, [&](FieldResult&& r) { again.push_back(std::move(r)); });
    ASSERT_EQ(again.size(), paths.size()) << streams << " streams";
    for (size_t i = 0; i < paths.size(); ++i) {
      EXPECT_EQ(again[i].image, paths[i]) << streams << " streams: results out of order";
      EXPECT_EQ(again[i].error, got[i].error);
      ASSERT_EQ(again[i].cells.size(), got[i].cells.size()) << paths[i];
      for (size_t c = 0; c < got[i].cells.size(); ++c) {
        // Equal up to float sums in another order (a stream may run on fewer threads).
        const Box& a = again[i].cells[c].box;
        const Box& b = got[i].cells[c].box;
        EXPECT_NEAR(a.x1, b.x1, 1e-3);
        EXPECT_NEAR(a.y1, b.y1, 1e-3);
        EXPECT_NEAR(a.x2, b.x2, 1e-3);
        EXPECT_NEAR(a.y2, b.y2, 1e-3);
        EXPECT_EQ(again[i].cells[c].class_name, got[i].cells[c].class_name);
      }
    }
    EXPECT_EQ(side_by_side->timings().fields, 3u) << "every readable field counted once";
  }
  ASSERT_EQ(got.size(), paths.size());
  for (size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(got[i].image, paths[i]) << "results out of order";
  for (size_t i : {1u, 3u, 4u, 5u}) {
    EXPECT_FALSE(got[i].ok()) << paths[i] << " was analysed";
    EXPECT_NE(got[i].error.find(fs::path(paths[i]).filename().string()), std::string::npos)
        << "the message does not name the file: " << got[i].error;
    EXPECT_TRUE(got[i].cells.empty());
  }
  expect_cells(got[0], synthetic[0].white_cells());
  expect_cells(got[2], synthetic[1].white_cells());
  expect_cells(got[6], synthetic[2].white_cells());
}

TEST_F(PipelineTest, FlagsFollowTheConfiguredThresholds) {
  const auto synthetic = fields(3, 505);
  auto count_flagged = [&](const PipelineOptions& o, size_t& cells) {
    auto p = load(o);
    size_t flagged = 0;
    cells = 0;
    for (const auto& f : synthetic)
      for (const auto& c : p->analyze(f.image, "f").cells) {
        flagged += c.flagged;
        ++cells;
      }
    return flagged;
  };
  size_t cells = 0;
  PipelineOptions never;
  never.flag_min_probability = 0.f;
  never.flag_max_entropy = 10.f;
  EXPECT_EQ(count_flagged(never, cells), 0u);
  ASSERT_GT(cells, 0u);
  PipelineOptions unsure;
  unsure.flag_min_probability = 1.01f;  // no probability reaches it
  unsure.flag_max_entropy = 10.f;
  EXPECT_EQ(count_flagged(unsure, cells), cells);
  PipelineOptions spread;
  spread.flag_min_probability = 0.f;
  spread.flag_max_entropy = -1.f;  // every distribution has entropy >= 0
  EXPECT_EQ(count_flagged(spread, cells), cells);
  // The fixture's classifier has no atypical reference: no score, so that never flags.
  PipelineOptions atypical_only = never;
  atypical_only.flag_min_atypical = 0.f;
  EXPECT_EQ(count_flagged(atypical_only, cells), 0u);
  atypical_only.flag_min_atypical = 1.5f;
  auto refused = Pipeline::load(models_.detector_dir, models_.classifier_dir, atypical_only);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("flag_min_atypical"), std::string::npos) << refused.error().message;
}

TEST(FlagReason, NamesTheWeightiestReason) {
  // probability, entropy, atypical, then the thresholds (min probability, max entropy, min atypical).
  EXPECT_EQ(flag_reason(0.9f, 0.2f, 0.5f, 0.6f, 1.f, 0.95f), "");
  EXPECT_EQ(flag_reason(0.9f, 0.2f, 0.97f, 0.6f, 1.f, 0.95f), "atypical");
  EXPECT_EQ(flag_reason(0.3f, 1.5f, 0.97f, 0.6f, 1.f, 0.95f), "atypical");
  EXPECT_EQ(flag_reason(0.3f, 1.5f, 0.5f, 0.6f, 1.f, 0.95f), "low_confidence");
  EXPECT_EQ(flag_reason(0.7f, 1.5f, 0.5f, 0.6f, 1.f, 0.95f), "high_entropy");
  EXPECT_EQ(flag_reason(0.9f, 0.2f, -1.f, 0.6f, 1.f, 0.f), "");  // no reference: never atypical
  EXPECT_EQ(flag_reason(0.9f, 0.2f, 0.95f, 0.6f, 1.f, 0.95f), "atypical");  // the threshold itself flags
}

TEST_F(PipelineTest, OddInputsGiveResultsNotCrashes) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  const auto synthetic = fields(1, 606);
  // Grey and BGRA fields are converted; an empty image is an error result naming the field.
  cv::Mat grey, bgra;
  cv::cvtColor(synthetic[0].image, grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(synthetic[0].image, bgra, cv::COLOR_BGR2BGRA);
  const auto results = pipeline->analyze({grey, bgra, cv::Mat(), cv::Mat(4, 4, CV_8UC3, testing::kBackground)},
                                         {"grey", "bgra", "empty", "tiny"});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok()) << results[0].error;
  expect_cells(results[1], synthetic[0].white_cells());
  EXPECT_FALSE(results[2].ok());
  EXPECT_NE(results[2].error.find("empty"), std::string::npos) << results[2].error;
  EXPECT_TRUE(results[3].ok()) << results[3].error;
  EXPECT_TRUE(results[3].cells.empty());
  // A field with no white cells gives no cells.
  cv::Mat blank(128, 128, CV_8UC3, testing::kBackground);
  EXPECT_TRUE(pipeline->analyze(blank, "blank").cells.empty());
}

TEST_F(PipelineTest, RedCellsSetTheCropScale) {
  cv::Mat img(160, 160, CV_8UC3, testing::kBackground);
  const auto white = testing::draw_disc(img, 80, 80, 15, 2);
  for (const auto& [x, y] : {std::pair{20, 20}, std::pair{140, 20}, std::pair{20, 140}, std::pair{140, 140},
                             std::pair{80, 20}, std::pair{20, 80}, std::pair{140, 80}, std::pair{80, 140}})
    testing::draw_disc(img, x, y, 8, -1);  // red cells, boxes 17 px
  PipelineOptions one;
  one.scale_min_cells = 1;  // the tiny detector need not find every red cell
  one.min_det_score = 0.4f;  // the default floor fits the shipped detector's scores, not the tiny one's
  auto pipeline = load(one);
  ASSERT_TRUE(pipeline);
  const FieldResult r = pipeline->analyze(img, "ruler");
  expect_cells(r, {white});
  EXPECT_GT(r.rbc_side, 12.f);
  EXPECT_LT(r.rbc_side, 22.f);
  EXPECT_EQ(r.scale_source, "red_cells");
  // The field's own red cells win over a declared scale.
  EXPECT_EQ(pipeline->analyze(img, "ruler", 0.5).rbc_side, r.rbc_side);
  const cv::Mat c = pipeline->crop(img, white.box, r.rbc_side);
  EXPECT_EQ(c.cols, c.rows);
  EXPECT_NEAR(c.cols, 4.43f * r.rbc_side, 1.f);
  // The crop never cuts the cell, however small the red cells.
  EXPECT_GE(pipeline->crop(img, white.box, 2.f).cols, 31);
  // Without the ruler (no red-cell class, or too few red cells) the margin decides.
  PipelineOptions o = one;
  o.scale_class = "";
  EXPECT_EQ(load(o)->analyze(img, "x").rbc_side, 0.f);
  o = one;
  o.scale_min_cells = 50;
  auto few = load(o);
  EXPECT_EQ(few->analyze(img, "x").rbc_side, 0.f);
  EXPECT_EQ(few->analyze(img, "x").scale_source, "none");
  // Too few red cells, but the sample declares its scale: 7.5 um red cells at 0.5 um/px are 15 px.
  const FieldResult declared = few->analyze(img, "x", 0.5);
  EXPECT_EQ(declared.scale_source, "declared");
  EXPECT_FLOAT_EQ(declared.rbc_side, 15.f);
  o = {};
  o.scale_class = "Platelet";
  auto bad = Pipeline::load(models_.detector_dir, models_.classifier_dir, o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("pipeline.scale_class"), std::string::npos) << bad.error().message;
}

TEST_F(PipelineTest, CellImagesAreFramedByTheirRedCellsOrADeclaredScale) {
  cv::Mat img(160, 160, CV_8UC3, testing::kBackground);
  const auto white = testing::draw_disc(img, 70, 86, 15, 2);
  for (const auto& [x, y] : {std::pair{32, 32}, std::pair{128, 32}, std::pair{32, 128}, std::pair{128, 128},
                             std::pair{80, 30}, std::pair{30, 80}, std::pair{130, 80}, std::pair{80, 130}})
    testing::draw_disc(img, x, y, 8, -1);
  PipelineOptions one;
  one.scale_min_cells = 1;
  one.min_det_score = 0.4f;
  auto pipeline = load(one);
  ASSERT_TRUE(pipeline);
  const FramedCell f = pipeline->frame_cell_images({img}, CellImageScale{}).front();
  EXPECT_EQ(f.source, "red_cells");
  EXPECT_TRUE(f.cell_found);
  EXPECT_GT(f.rbc_side_px, 12.f);
  EXPECT_LT(f.rbc_side_px, 22.f);
  EXPECT_EQ(f.crop.cols, f.crop.rows);
  EXPECT_NEAR(f.crop.cols, 4.43f * f.rbc_side_px, 1.5f);
  EXPECT_GE(iou(f.box, white.box), 0.7f) << "centred on the white cell, not on the image";
  // The same pixels as the field pipeline's crop of that cell.
  const cv::Mat field_crop = pipeline->crop(img, f.box, f.rbc_side_px);
  ASSERT_EQ(field_crop.size(), f.crop.size());
  EXPECT_EQ(cv::norm(field_crop, f.crop, cv::NORM_INF), 0.0);
  const auto cells = pipeline->classify_cell_images({img}, CellImageScale{});
  EXPECT_EQ(cells[0].class_name, disc_classes()[2]);

  // No red cells: a declared scale frames it (7.5 um red cells), padded with the background.
  cv::Mat lone(60, 60, CV_8UC3, testing::kBackground);
  testing::draw_disc(lone, 30, 30, 15, 0);
  CellImageScale declared;
  declared.um_per_px = 0.5;  // red cells 15 px: a crop of 4.43 x 15 = 66 px, wider than the image
  const FramedCell d = pipeline->frame_cell_images({lone}, declared).front();
  EXPECT_EQ(d.source, "declared");
  EXPECT_FLOAT_EQ(d.rbc_side_px, 15.f);
  EXPECT_NEAR(d.crop.cols, 66, 1);
  const cv::Vec3b corner = d.crop.at<cv::Vec3b>(0, 0);
  EXPECT_EQ(cv::Scalar(corner[0], corner[1], corner[2]), testing::kBackground) << "padded with the image's border colour";
  // Neither: the image is classified whole, as before.
  CellImageScale none;
  none.from_red_cells = false;
  const FramedCell n = pipeline->frame_cell_images({lone}, none).front();
  EXPECT_EQ(n.source, "as_is");
  EXPECT_EQ(n.crop.cols, 60);
  EXPECT_EQ(red_cell_side_px(0), 0.f);
  EXPECT_EQ(red_cell_side_px(-1), 0.f);
  EXPECT_EQ(red_cell_side_px(std::nan("")), 0.f);
}

// The shipped detector as the ruler of real cell images: a region of a real smear field around a
// white cell, and the same region at 0.6x its magnification, are framed to the same part of the
// smear (the red-cell ruler scales with the magnification).
TEST(CellImageScale, RealCellImagesAtTwoMagnificationsAreFramedAlike) {
  const std::string val = MARROWSCOPE_SOURCE_DIR "/../shared/data/txl-pbc";
  if (!fs::exists(val + "/images/val")) GTEST_SKIP() << "no " << val;
  init_torch_runtime();
  auto pipeline = Pipeline::load(MARROWSCOPE_SOURCE_DIR "/models/detector", MARROWSCOPE_SOURCE_DIR "/models/classifier");
  ASSERT_TRUE(pipeline) << pipeline.error().message;
  auto gt = read_yolo(val, "val");
  ASSERT_TRUE(gt) << gt.error().message;
  int checked = 0;
  for (const auto& field : gt->fields) {
    if (checked == 3) break;
    auto image = read_image(field.image_path);
    ASSERT_TRUE(image);
    const FieldResult whole = (*pipeline)->analyze(*image, field.image_path);
    if (whole.rbc_side <= 0.f || whole.cells.empty()) continue;
    // A square region centred on the first white cell, 3.5 crop sides wide (red cells around it).
    const Box& cell = whole.cells.front().box;
    const int side = int(std::min<float>(std::min(image->cols, image->rows), 3.5f * 4.43f * whole.rbc_side));
    const int x0 = std::clamp(int(cell.cx()) - side / 2, 0, image->cols - side);
    const int y0 = std::clamp(int(cell.cy()) - side / 2, 0, image->rows - side);
    const cv::Mat region = (*image)(cv::Rect(x0, y0, side, side)).clone();
    cv::Mat smaller;
    cv::resize(region, smaller, {}, 0.6, 0.6, cv::INTER_AREA);
    const auto framed = (*pipeline)->frame_cell_images({region, smaller}, CellImageScale{});
    if (framed[0].source != "red_cells" || framed[1].source != "red_cells") continue;
    ++checked;
    EXPECT_NEAR(framed[1].rbc_side_px / framed[0].rbc_side_px, 0.6, 0.09) << field.image_path;
    EXPECT_NEAR(double(framed[1].crop.cols) / framed[0].crop.cols, 0.6, 0.09) << field.image_path;
    // Both centred on the same cell.
    EXPECT_NEAR(framed[1].box.cx() / 0.6f, framed[0].box.cx(), 0.1f * framed[0].crop.cols) << field.image_path;
    EXPECT_NEAR(framed[1].box.cy() / 0.6f, framed[0].box.cy(), 0.1f * framed[0].crop.cols) << field.image_path;
  }
  EXPECT_GE(checked, 2) << "too few fields with red cells in both framings";
}

TEST_F(PipelineTest, ClassifiesCropsAndCropsAreSquare) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  std::vector<cv::Mat> crops;
  for (int cls = 0; cls < 3; ++cls) {
    cv::Mat img(90, 90, CV_8UC3, testing::kBackground);
    const auto c = testing::draw_disc(img, 45, 45, 15, cls);
    crops.push_back(pipeline->crop(img, c.box));
    EXPECT_EQ(crops.back().cols, crops.back().rows);
    // The side grows by the margin on each side.
    EXPECT_EQ(crops.back().cols, int(std::lround(31 * (1 + 2 * pipeline->options().crop_margin))));
  }
  const auto cells = pipeline->classify_crops(crops);
  ASSERT_EQ(cells.size(), 3u);
  for (int cls = 0; cls < 3; ++cls) {
    EXPECT_EQ(cells[size_t(cls)].class_name, disc_classes()[size_t(cls)]);
    EXPECT_EQ(cells[size_t(cls)].box.x2, float(crops[size_t(cls)].cols));
  }
}

TEST(FieldJson, KeysAreExactlyTheIssueList) {
  CellResult c;
  c.box = {1, 2, 30, 40};
  c.det_class = "WBC";
  c.det_score = 0.9f;
  c.class_name = "lymphocyte";
  c.probability = 0.8f;
  c.top = {{"lymphocyte", 0.8f}, {"monocyte", 0.15f}};
  c.entropy = 0.55f;
  c.flagged = false;
  FieldResult f;
  f.image = "dir/a,b.png";
  f.width = 64;
  f.height = 48;
  f.cells = {c};
  auto keys = [](const Json& j) {
    std::vector<std::string> k;
    for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
    std::sort(k.begin(), k.end());
    return k;
  };
  const Json fj = field_to_json(f);
  EXPECT_EQ(keys(fj), (std::vector<std::string>{"cells", "height", "image", "width"}));
  const Json cj = fj["cells"][0];
  EXPECT_EQ(keys(cj), (std::vector<std::string>{"box", "class", "det_class", "det_score", "entropy", "flagged",
                                                "probability", "top"}));
  EXPECT_EQ(cj["box"], Json({1.f, 2.f, 30.f, 40.f}));
  EXPECT_EQ(cj["top"][1]["class"], "monocyte");
  EXPECT_FLOAT_EQ(cj["top"][1]["probability"].get<float>(), 0.15f);
  // The predicted IoU appears only when the detector has the branch.
  f.cells[0].iou_pred = 0.7f;
  EXPECT_FLOAT_EQ(field_to_json(f)["cells"][0]["iou_pred"].get<float>(), 0.7f);
  FieldResult bad;
  bad.image = "x.png";
  bad.error = "x.png: not an image";
  EXPECT_EQ(keys(field_to_json(bad)), (std::vector<std::string>{"error", "image"}));

  // CSV: one header, one row per cell, the same number of columns, the path quoted.
  const std::string header = cells_csv_header();
  const std::string rows = cells_to_csv_rows(f);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 1);
  EXPECT_EQ(rows.rfind("\"dir/a,b.png\",0,1.0,2.0,30.0,40.0,WBC,", 0), 0u) << rows;
  EXPECT_NE(rows.find("lymphocyte:0.8000;monocyte:0.1500"), std::string::npos) << rows;
  const auto columns = [](const std::string& line) {
    int n = 1;
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"') quoted = !quoted;
      if (ch == ',' && !quoted) ++n;
    }
    return n;
  };
  EXPECT_EQ(columns(header), columns(rows));
  EXPECT_TRUE(cells_to_csv_rows(bad).empty());
}

TEST(EntropyNats, MatchesHandValues) {
  EXPECT_FLOAT_EQ(entropy_nats({1.f, 0.f, 0.f}), 0.f);
  EXPECT_NEAR(entropy_nats({0.5f, 0.5f}), std::log(2.f), 1e-6f);
  EXPECT_NEAR(entropy_nats({0.25f, 0.25f, 0.25f, 0.25f}), std::log(4.f), 1e-6f);
}

}  // namespace
}  // namespace ms
