// The shipped classifier and detector in bf16 (the default where the CPU has native bf16) against
// float32: the same classes and the same cells, as the product promises before making bf16 its
// default. Skip without ../shared/data.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/image.h"
#include "core/box.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

TEST(ShippedClassifierPrecision, Bf16GivesTheSameClassAsFloat32) {
  const fs::path root = MARROWSCOPE_SOURCE_DIR;
  const fs::path data = root / ".." / "shared" / "data" / "pbc";
  if (!fs::exists(data)) GTEST_SKIP() << "no " << data << " (../shared/data is absent)";
  init_torch_runtime();
  // Every 13th validation cell: 100 cells over all eleven classes.
  std::ifstream list(root / "models" / "classifier" / "split" / "val.txt");
  std::vector<cv::Mat> cells;
  std::string line;
  for (int k = 0; std::getline(list, line); ++k) {
    if (k % 13) continue;
    auto img = read_image((data / line.substr(line.find('\t') + 1)).string());
    ASSERT_TRUE(img) << img.error().message;
    cells.push_back(*img);
  }
  ASSERT_GE(cells.size(), 100u);
  const auto run = [&](const char* precision) {
    setenv("MARROWSCOPE_PRECISION", precision, 1);
    auto pred = ClassifierPredictor::load((root / "models" / "classifier").string());
    unsetenv("MARROWSCOPE_PRECISION");
    EXPECT_TRUE(pred) << pred.error().message;
    return pred ? (*pred)->classify(cells) : std::vector<ClassPrediction>{};
  };
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

// The shipped detector in bf16 against float32 on real fields: every confident box of one is found
// by the other, nearly in the same place (docs/RESULTS.md: AP50 equal, AP75 -0.003 on all 252
// validation fields).
TEST(ShippedDetectorPrecision, Bf16FindsTheSameCells) {
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
  const auto run = [&](const char* precision) {
    setenv("MARROWSCOPE_PRECISION", precision, 1);
    auto det = DetectorPredictor::load((root / "models" / "detector").string());
    EXPECT_TRUE(det) << det.error().message;
    auto out = det ? (*det)->detect(fields) : std::vector<std::vector<Detection>>{};
    unsetenv("MARROWSCOPE_PRECISION");
    return out;
  };
  const auto fp32 = run("fp32"), bf16 = run("bf16");
  ASSERT_EQ(fp32.size(), fields.size());
  ASSERT_EQ(bf16.size(), fields.size());
  int confident = 0, bitwise_equal = 0;
  for (std::size_t f = 0; f < fields.size(); ++f)
    for (const auto& a : fp32[f]) {
      if (a.score < 0.5f) continue;
      ++confident;
      float best = 0;
      for (const auto& b : bf16[f])
        if (b.class_id == a.class_id) best = std::max(best, iou(a.box, b.box));
      EXPECT_GE(best, 0.85f) << "field " << f << " class " << a.class_id << " score " << a.score;
      for (const auto& b : bf16[f]) bitwise_equal += b.box.x1 == a.box.x1 && b.score == a.score;
    }
  EXPECT_GE(confident, 10);
  EXPECT_LT(bitwise_equal, confident) << "bf16 ran: its boxes cannot all equal float32's";
}

}  // namespace
}  // namespace ms
