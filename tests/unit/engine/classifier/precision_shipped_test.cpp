// The shipped classifier in bf16 (the default where the CPU has native bf16) against float32 on
// held-out cells of its training lab: the same class, as the product promises before making bf16
// its default. Skips without ../shared/data.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/image.h"
#include "engine/predict/classifier_predictor.h"
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

}  // namespace
}  // namespace ms
