// `marrowscope calibrate-int8` as a user runs it: writes int8.json from a cell list, after which
// MARROWSCOPE_PRECISION=int8 evaluates the folder in int8 (the report says so); a network without
// an int8 path and a bad list are refused by name.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "../run_cli.h"
#include "core/config.h"
#include "core/image.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/int8_calibration.h"
#include "models/classifier/classifier_factory.h"
#include "models/runtime.h"
#include "unit/precision_env.h"

namespace ms {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;

fs::path write_model(const fs::path& dir, ClassifierArch arch) {
  ClassifierModelInfo info;
  info.version = "tiny-int8-cli";
  info.classes = {"blue_disc", "red_disc"};
  info.model.arch = arch;
  info.model.input_size = 32;
  info.model.cnn.backbone.width = 0.125f;
  info.model.vit.patch.dim = 16;
  info.model.vit.patch.patch = 8;
  info.model.vit.patch.stride = 6;
  info.model.vit.depth = 2;
  info.model.vit.heads = 2;
  at::manual_seed(2);
  auto net = make_classifier(info.model, 2);
  EXPECT_TRUE(write_classifier_model(dir.string(), *net, info));
  return dir;
}

TEST(CalibrateInt8Cli, WritesTheCalibrationThatInt8EvaluationUses) {
  init_torch_runtime();
  const fs::path root = fs::temp_directory_path() / "ms_int8_cli";
  fs::remove_all(root);
  const fs::path model = write_model(root / "cnn", ClassifierArch::kCnn);
  const char* names[2] = {"blue_disc", "red_disc"};
  const cv::Scalar colours[2] = {{200, 60, 40}, {40, 40, 200}};
  std::ofstream list(root / "train.txt");
  for (int c = 0; c < 2; ++c) {
    fs::create_directories(root / "data" / names[c]);
    for (int i = 0; i < 5; ++i) {
      cv::Mat img(40, 40, CV_8UC3, cv::Scalar(235, 235, 235));
      cv::circle(img, {20, 20 + i % 3}, 9 + i, colours[c], cv::FILLED);
      const std::string rel = std::string(names[c]) + "/" + std::to_string(i) + ".png";
      ASSERT_TRUE(write_image((root / "data" / rel).string(), img));
      list << names[c] << '\t' << rel << '\n';
    }
  }
  list.close();

  auto r = run_cli({"calibrate-int8", "--model", model.string(), "--data", (root / "data").string(), "--cells",
                    (root / "train.txt").string(), "--max-items", "6"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("activation ranges from 6 cells"), std::string::npos) << r.output;
  auto cal = read_int8_calibration(model.string(), "tiny-int8-cli");
  ASSERT_TRUE(cal) << cal.error().message;
  EXPECT_EQ(cal->provenance["measured_cells"], 6);

  std::optional<testing::PrecisionEnv> env1;
  env1.emplace("int8");
  r = run_cli({"eval-classifier", "--model", model.string(), "--data", (root / "data").string(), "--json",
               (root / "eval.json").string()});
  env1.reset();
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream report(root / "report.html");
  const std::string html((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
  const std::string expected = precision_name(usable_precision(Precision::kInt8, true));
  EXPECT_NE(html.find("<th>precision</th><td>" + expected + "</td>"), std::string::npos) << "report names precision " << expected;

  // A list line naming a class the model lacks, and a missing list, are refused by name.
  std::ofstream(root / "bad.txt") << "green_disc\tblue_disc/0.png\n";
  r = run_cli({"calibrate-int8", "--model", model.string(), "--data", (root / "data").string(), "--cells",
               (root / "bad.txt").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("green_disc"), std::string::npos) << r.output;
  r = run_cli({"calibrate-int8", "--model", model.string(), "--data", (root / "data").string(), "--cells",
               (root / "missing.txt").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("missing.txt"), std::string::npos) << r.output;

  // A ViT has no int8 path: said, and nothing written.
  const fs::path vit = write_model(root / "vit", ClassifierArch::kVit);
  r = run_cli({"calibrate-int8", "--model", vit.string(), "--data", (root / "data").string(), "--cells",
               (root / "train.txt").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("no int8 path"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(vit / kInt8File));
  fs::remove_all(root);
}

}  // namespace
}  // namespace ms
