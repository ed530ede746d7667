// The shipped classifier and detector in bf16 and int8 against float32: the same classes and the
// same cells, as the product promises before making a format its default. Skip without
// ../shared/data.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <fstream>
#include <string>
#include <vector>

#include "core/box.h"
#include "core/image.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"
#include "unit/precision_env.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// Every 13th validation cell of pbc: 100 cells over all eleven classes (empty without the data).
std::vector<cv::Mat> shipped_val_cells() {
  const fs::path root = MARROWSCOPE_SOURCE_DIR;
  const fs::path data = root / ".." / "shared" / "data" / "pbc";
  std::vector<cv::Mat> cells;
  if (!fs::exists(data)) return cells;
  std::ifstream list(root / "models" / "classifier" / "split" / "val.txt");
  std::string line;
  for (int k = 0; std::getline(list, line); ++k) {
    if (k % 13) continue;
    auto img = read_image((data / line.substr(line.find('\t') + 1)).string());
    EXPECT_TRUE(img) << img.error().message;
    if (img) cells.push_back(*img);
  }
  return cells;
}

// The shipped classifier's predictions with MARROWSCOPE_PRECISION = `precision`; `ran` gets the
// precision it ran in.
std::vector<ClassPrediction> classify_as(const std::vector<cv::Mat>& cells, const char* precision,
                                         std::string* ran = nullptr) {
  const fs::path root = MARROWSCOPE_SOURCE_DIR;
  std::optional<testing::PrecisionEnv> env1;
  env1.emplace(precision);
  auto pred = ClassifierPredictor::load((root / "models" / "classifier").string());
  env1.reset();
  EXPECT_TRUE(pred) << pred.error().message;
  if (!pred) return {};
  if (ran) *ran = (*pred)->precision();
  return (*pred)->classify(cells);
}

TEST(ShippedClassifierPrecision, Bf16GivesTheSameClassAsFloat32) {
  init_torch_runtime();
  const auto cells = shipped_val_cells();
  if (cells.empty()) GTEST_SKIP() << "no ../shared/data/pbc";
  ASSERT_GE(cells.size(), 100u);
  const auto run = [&](const char* precision) { return classify_as(cells, precision); };
  const auto fp32 = run("fp32"), bf16 = run("bf16");
  ASSERT_EQ(fp32.size(), cells.size());
  ASSERT_EQ(bf16.size(), cells.size());
  int same = 0;
  double worst = 0;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    same += fp32[i].class_id == bf16[i].class_id;
    for (std::size_t c = 0; c < fp32[i].probs.size(); ++c)
      worst = std::max(worst, double(std::fabs(fp32[i].probs[c] - bf16[i].probs[c])));
    if (fp32[i].atypical >= 0) EXPECT_NEAR(fp32[i].atypical, bf16[i].atypical, 0.05) << i;
  }
  EXPECT_GE(same, static_cast<int>(cells.size()) - 1) << "of " << cells.size();
  EXPECT_GT(worst, 0.0) << "bf16 ran: its probabilities cannot equal float32's everywhere";
  EXPECT_LT(worst, 0.1);
}

// The default: int8 with the shipped calibration (models/classifier/int8.json) where the CPU has
// VNNI: float32's class for all but a few cells (docs/RESULTS.md: 1,298 of 1,302 with 8 views).
TEST(ShippedClassifierPrecision, Int8TheDefaultGivesTheSameClassAsFloat32) {
  if (!cpu_has_int8_dot_products()) GTEST_SKIP() << "no VNNI or no oneDNN quantized engine";
  init_torch_runtime();
  const auto cells = shipped_val_cells();
  if (cells.empty()) GTEST_SKIP() << "no ../shared/data/pbc";
  std::string ran;
  const auto fp32 = classify_as(cells, "fp32"), int8 = classify_as(cells, "auto", &ran);
  EXPECT_EQ(ran, "int8");
  ASSERT_EQ(int8.size(), fp32.size());
  int same = 0;
  double worst_atypical = 0, sum_atypical = 0;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    same += fp32[i].class_id == int8[i].class_id;
    const double d = std::fabs(fp32[i].atypical - int8[i].atypical);
    worst_atypical = std::max(worst_atypical, d);
    sum_atypical += d;
  }
  EXPECT_GE(same, static_cast<int>(cells.size()) - 2) << "of " << cells.size();
  // The atypical score, a rank among reference cells fitted on bf16 embeddings, moves a little.
  EXPECT_LT(worst_atypical, 0.15);
  EXPECT_LT(sum_atypical / cells.size(), 0.03);
}

// The shipped detector in bf16, and in its default (int8 backbone where the CPU has VNNI), against
// float32 on real fields: every confident box of one is found by the other, nearly in the same
// place (docs/RESULTS.md: on all 252 validation fields AP50 equal and AP75 -0.003 in bf16, AP50
// -0.002 and AP75 +0.004 in int8).
TEST(ShippedDetectorPrecision, Bf16AndTheDefaultFindTheSameCells) {
  const fs::path root = MARROWSCOPE_SOURCE_DIR;
  const fs::path val = root / ".." / "shared" / "data" / "txl-pbc" / "images" / "val";
  if (!fs::exists(val)) GTEST_SKIP() << "no " << val << " (../shared/data is absent)";
  init_torch_runtime();
  std::vector<fs::path> names;
  for (const auto& e : fs::directory_iterator(val)) names.push_back(e.path());
  std::sort(names.begin(), names.end());
  std::vector<cv::Mat> fields;
  for (std::size_t k = 0; k < names.size() && fields.size() < 6; k += 40) {
    auto img = read_image(names[k].string());
    ASSERT_TRUE(img) << img.error().message;
    fields.push_back(*img);
  }
  std::string ran;
  const auto run = [&](const char* precision) {
    std::optional<testing::PrecisionEnv> env2;
    env2.emplace(precision);
    auto det = DetectorPredictor::load((root / "models" / "detector").string());
    EXPECT_TRUE(det) << det.error().message;
    auto out = det ? (*det)->detect(fields) : std::vector<std::vector<Detection>>{};
    if (det) ran = (*det)->precision();
    env2.reset();
    return out;
  };
  const auto fp32 = run("fp32");
  // bf16 where native; and the default, int8 from the shipped calibration where the CPU has VNNI.
  for (const char* other : {"bf16", "auto"}) {
    const auto got = run(other);
    if (std::string(other) == "auto")
      EXPECT_EQ(ran, cpu_has_int8_dot_products() ? "int8"
                                                 : precision_name(usable_precision(Precision::kInt8, false)));
    ASSERT_EQ(fp32.size(), fields.size());
    ASSERT_EQ(got.size(), fields.size());
    int confident = 0, bitwise_equal = 0;
    for (std::size_t f = 0; f < fields.size(); ++f)
      for (const auto& a : fp32[f]) {
        if (a.score < 0.5f) continue;
        ++confident;
        float best = 0;
        for (const auto& b : got[f])
          if (b.class_id == a.class_id) best = std::max(best, iou(a.box, b.box));
        // bf16: every confident box nearly in place. int8: every confident white cell so (the
        // pipeline's class), every box found (the borderline red cells of a clump may move).
        const bool tight = std::string(other) == "bf16" || a.class_id == 0;
        EXPECT_GE(best, tight ? 0.85f : 0.5f)
            << other << " field " << f << " class " << a.class_id << " score " << a.score;
        for (const auto& b : got[f]) bitwise_equal += b.box.x1 == a.box.x1 && b.score == a.score;
      }
    EXPECT_GE(confident, 10);
    EXPECT_LT(bitwise_equal, confident) << other << " ran: its boxes cannot all equal float32's";
  }
}

}  // namespace
}  // namespace ms
