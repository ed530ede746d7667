// `marrowscope classify --json`, `eval-classifier` (JSON keys exactly as documented for scripts,
// --report, --embeddings, --ignore-unknown) and `explain`, run as the real binary on a tiny ViT
// model folder with random weights and synthetic cells.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "core/image.h"
#include "engine/classifier/classifier_model_file.h"
#include "models/runtime.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int status = -1;
  std::string out;  // stdout only
  std::string err;  // stderr
};

RunResult run_cli(const std::vector<std::string>& args, const fs::path& scratch) {
  std::string cmd = "'" MARROWSCOPE_BINARY "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  const fs::path err = scratch / "stderr.txt";
  cmd += " 2>'" + err.string() + "'";
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) r.out.append(buf, n);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream e(err);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  return r;
}

std::set<std::string> keys(const Json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

class ClassifierCli : public ::testing::Test {
 protected:
  void SetUp() override {
    init_torch_runtime();
    root_ = fs::temp_directory_path() / "ms_cls_cli";
    fs::remove_all(root_);
    fs::create_directories(root_);
    ClassifierModelInfo info;
    info.version = "tiny-cli";
    info.classes = {"blue_disc", "red_disc"};
    info.model.input_size = 32;
    info.model.vit.patch.dim = 16;
    info.model.vit.patch.patch = 8;
    info.model.vit.patch.stride = 6;
    info.model.vit.depth = 2;
    info.model.vit.heads = 2;
    at::manual_seed(1);
    auto net = make_classifier(info.model, 2);
    ASSERT_TRUE(write_classifier_model((root_ / "model").string(), *net, info));
    const char* names[3] = {"blue_disc", "red_disc", "smudge"};
    const cv::Scalar colours[3] = {{200, 60, 40}, {40, 40, 200}, {120, 120, 120}};
    for (int c = 0; c < 3; ++c) {
      fs::create_directories(root_ / "data" / names[c]);
      for (int i = 0; i < 3; ++i) {
        cv::Mat img(40 + 4 * i, 40, CV_8UC3, cv::Scalar(235, 235, 235));
        cv::circle(img, {20, 20 + i}, 10 + i, colours[c], cv::FILLED);
        ASSERT_TRUE(write_image((root_ / "data" / names[c] / (std::to_string(i) + ".png")).string(), img));
      }
    }
    std::ofstream(root_ / "not_an_image.png") << "plain text";
  }
  fs::path root_;
};

TEST_F(ClassifierCli, ClassifyJsonHasExactlyTheIssueKeys) {
  const std::string good = (root_ / "data" / "red_disc" / "0.png").string();
  const std::string bad = (root_ / "not_an_image.png").string();
  auto r = run_cli({"classify", good, bad, "--json", "--top", "2", "--model", (root_ / "model").string()}, root_);
  ASSERT_EQ(r.status, 0) << r.err;
  const Json j = Json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(keys(j[0]), (std::set<std::string>{"image", "class", "probability", "top"}));
  EXPECT_EQ(j[0]["image"], good);
  ASSERT_EQ(j[0]["top"].size(), 2u);
  EXPECT_EQ(keys(j[0]["top"][0]), (std::set<std::string>{"class", "probability"}));
  EXPECT_EQ(j[0]["top"][0]["class"], j[0]["class"]);
  EXPECT_NEAR(j[0]["top"][0]["probability"].get<double>() + j[0]["top"][1]["probability"].get<double>(), 1.0, 1e-5);
  EXPECT_EQ(keys(j[1]), (std::set<std::string>{"image", "error"}));
  EXPECT_EQ(j[1]["image"], bad);
}

TEST_F(ClassifierCli, EvalWritesExactKeysReportAndEmbeddings) {
  const fs::path out = root_ / "eval";
  fs::create_directories(out);
  const std::vector<std::string> base{"eval-classifier", "--model", (root_ / "model").string(), "--data",
                                      (root_ / "data").string(), "--json", (out / "metrics.json").string(),
                                      "--embeddings", (out / "emb.csv").string()};
  auto refused = run_cli(base, root_);
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("smudge"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--ignore-unknown"), std::string::npos) << refused.err;

  auto args = base;
  args.push_back("--ignore-unknown");
  auto r = run_cli(args, root_);
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = read_json_file((out / "metrics.json").string());
  ASSERT_TRUE(j);
  EXPECT_EQ(keys(*j), (std::set<std::string>{"accuracy", "top5", "macro_f1", "weighted_f1", "per_class",
                                             "classes", "confusion", "cells_per_second"}));
  EXPECT_EQ((*j)["classes"], (Json{"blue_disc", "red_disc"}));
  EXPECT_EQ(keys((*j)["per_class"]["red_disc"]), (std::set<std::string>{"precision", "recall", "f1", "support"}));
  EXPECT_EQ((*j)["per_class"]["red_disc"]["support"], 3);
  const Json& conf = (*j)["confusion"];
  ASSERT_EQ(conf.size(), 2u);
  EXPECT_EQ(conf[0][0].get<int>() + conf[0][1].get<int>(), 3);  // rows = truth
  EXPECT_GT((*j)["cells_per_second"].get<double>(), 0.0);

  // The report beside --json holds the same accuracy.
  std::ifstream rep(out / "report.html");
  std::stringstream html;
  html << rep.rdbuf();
  char acc[16];
  std::snprintf(acc, sizeof acc, "%.4f", (*j)["accuracy"].get<double>());
  EXPECT_NE(html.str().find(acc), std::string::npos);
  EXPECT_NE(html.str().find("smudge"), std::string::npos);  // named as ignored

  // Embeddings: header, one row per cell (6), 16 class-token features; the prediction column
  // agrees with `classify`.
  std::ifstream csv(out / "emb.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("image,label,prediction,probability,f0,f1,", 0), 0u) << header;
  EXPECT_NE(header.find(",f15"), std::string::npos);
  EXPECT_EQ(header.find(",f16"), std::string::npos);
  int rows = 0;
  std::string red0_prediction;
  const std::string red0 = (root_ / "data" / "red_disc" / "0.png").string();
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 3 + 16) << line;
    if (line.rfind("\"" + red0 + "\",", 0) == 0) {
      const size_t a = line.find(',', red0.size() + 3) + 1;  // after "path",label,
      red0_prediction = line.substr(a, line.find(',', a) - a);
      EXPECT_EQ(line.substr(red0.size() + 3, 8), "red_disc");
    }
  }
  EXPECT_EQ(rows, 6);
  auto c = run_cli({"classify", red0, "--json", "--model", (root_ / "model").string()}, root_);
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(Json::parse(c.out)[0]["class"], red0_prediction);
}

TEST_F(ClassifierCli, ViewsOptionIsCheckedAndReported) {
  // --views picks the dihedral test-time views; a count other than 1, 2, 4 or 8 is refused.
  const fs::path out = root_ / "views";
  fs::create_directories(out);
  const std::vector<std::string> base{"eval-classifier", "--model", (root_ / "model").string(), "--data",
                                      (root_ / "data").string(), "--ignore-unknown", "--json",
                                      (out / "m.json").string()};
  auto bad = base;
  bad.insert(bad.end(), {"--views", "3"});
  auto refused = run_cli(bad, root_);
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("--views"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(out / "m.json"));
  auto good = base;
  good.insert(good.end(), {"--views", "8"});
  auto r = run_cli(good, root_);
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream rep(out / "report.html");
  std::stringstream html;
  html << rep.rdbuf();
  EXPECT_NE(html.str().find("test-time views"), std::string::npos);
  EXPECT_NE(html.str().find("8 (--views)"), std::string::npos);
  const std::string red0 = (root_ / "data" / "red_disc" / "0.png").string();
  auto c = run_cli({"classify", red0, "--json", "--views", "2", "--model", (root_ / "model").string()}, root_);
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(Json::parse(c.out).size(), 1u);
}

TEST_F(ClassifierCli, ExplainWritesAScaledOverlayAndRejectsBadImages) {
  const fs::path png = root_ / "explain.png";
  auto r = run_cli({"explain", (root_ / "data" / "red_disc" / "1.png").string(), "--out", png.string(),
                    "--model", (root_ / "model").string(), "--scale", "3", "--json"},
                   root_);
  ASSERT_EQ(r.status, 0) << r.err;
  auto img = read_image(png.string());
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->cols, 96);  // input 32 px x scale 3
  EXPECT_EQ(img->rows, 96);
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["method"], "rollout");
  EXPECT_EQ(j["selected_patches"].size(), 2u);  // one per head

  auto bad = run_cli({"explain", (root_ / "not_an_image.png").string(), "--out", (root_ / "x.png").string(),
                      "--model", (root_ / "model").string()},
                     root_);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("not_an_image.png"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(root_ / "x.png"));
  auto method = run_cli({"explain", (root_ / "data" / "red_disc" / "1.png").string(), "--out",
                         (root_ / "y.png").string(), "--model", (root_ / "model").string(), "--method", "gradcam"},
                        root_);
  EXPECT_NE(method.status, 0);
  EXPECT_NE(method.err.find("rollout or attention"), std::string::npos) << method.err;
}

}  // namespace
}  // namespace ms
