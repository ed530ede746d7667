// Class-balanced sampling in the classifier trainer (config data.sampling), the oversampled
// copies' flips/rotations in the loader, K-fold mean and spread, and the per-run report.html, on
// tiny synthetic disc datasets (seconds).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "data/augment.h"
#include "engine/classifier/cell_batch_loader.h"
#include "engine/classifier/classifier_trainer.h"
#include "engine/train/checkpoint.h"
#include "models/runtime.h"
#include "unit/engine/classifier/classifier_test_support.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

using testing::make_disc_classes;
using testing::slurp;

ClassifierTrainConfig tiny_config() {
  ClassifierTrainConfig c;
  c.model.arch = ClassifierArch::kVit;
  c.model.input_size = 32;
  c.model.vit.patch.dim = 32;
  c.model.vit.patch.patch = 8;
  c.model.vit.patch.stride = 6;
  c.model.vit.depth = 2;
  c.model.vit.heads = 2;
  c.model.vit.mlp_ratio = 2;
  c.data.val_fraction = 0.25;
  c.optim.lr = 3e-3;
  c.optim.batch_size = 6;
  c.optim.epochs = 3;
  c.optim.schedule.warmup_epochs = 1;
  c.eval_batch = 32;
  c.keep_checkpoints = 10;
  return c;
}

ClassifierTrainRequest request(const ClassifierTrainConfig& c, const fs::path& data, const fs::path& out,
                               std::vector<std::string>* log = nullptr) {
  ClassifierTrainRequest r;
  r.config = c;
  r.data_dir = data.string();
  r.out_dir = out.string();
  r.log = [log](const std::string& s) {
    if (log) log->push_back(s);
  };
  return r;
}

std::vector<Json> metrics_lines(const fs::path& run) {
  std::vector<Json> out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line));
  return out;
}

TEST(CellLoader, ExtraCopiesGetAFlipOrRotation) {
  // An asymmetric cell (a dot in one corner), no other augmentation, no crop slack.
  cv::Mat img(16, 16, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::rectangle(img, cv::Rect(1, 2, 4, 3), cv::Scalar(0, 0, 0), cv::FILLED);
  CellLoaderOptions o;
  o.input_size = 16;
  o.augment.hflip = o.augment.vflip = o.augment.rot90 = 0.f;
  std::vector<cv::Mat> d4;
  for (int t = 0; t < 4; ++t) {
    AugmentSample s;
    s.image = img;
    d4.push_back(rotate90(s, t).image);
    d4.push_back(hflip(rotate90(s, t)).image);
  }
  auto same = [](const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF) == 0; };
  EXPECT_TRUE(same(CellBatchLoader::make_view(img, o, 7, false), img));
  int changed = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    const cv::Mat v = CellBatchLoader::make_view(img, o, seed, true);
    bool in_orbit = false;
    for (const auto& t : d4) in_orbit = in_orbit || same(v, t);
    EXPECT_TRUE(in_orbit) << "seed " << seed;
    changed += !same(v, img);
  }
  EXPECT_EQ(changed, 16);  // never the identity
}

TEST(ClassifierSampling, ConfigNamesTheOptionAndChecksIt) {
  auto ok = parse_config<ClassifierTrainConfig>(
      Json::parse(R"({"data": {"sampling": "balanced", "balance": {"cap": 50, "target": 40}}})"), "c.json");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->data.sampling, SamplingKind::kBalanced);
  EXPECT_EQ(ok->data.balance.target, 40);
  EXPECT_EQ(ClassifierTrainConfig{}.data.sampling, SamplingKind::kShuffle);
  auto bad = parse_config<ClassifierTrainConfig>(Json::parse(R"({"data": {"sampling": "random"}})"), "c.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("$.data.sampling"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("shuffle|balanced"), std::string::npos) << bad.error().message;
  auto cfg = tiny_config();
  cfg.data.sampling = SamplingKind::kBalanced;
  cfg.data.balance.cap = 5;
  cfg.data.balance.target = 9;
  auto v = validate(cfg, "c.json");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("data.balance"), std::string::npos) << v.error().message;
}

TEST(ClassifierSampling, BalancedEpochsCapAndTopUpClassesAndResumeExactly) {
  init_torch_runtime();
  // Train split 12 / 3 / 3 (val 0.25 of 16 / 4 / 4); cap = target = 6: 6 + 6 + 6 = 18 draws,
  // 3 steps of 6 per epoch (shuffling would give 18 / 6 = 3 steps too, but 12 of one class).
  const fs::path data = make_disc_classes("ms_cls_imbalanced", {16, 4, 4});
  auto cfg = tiny_config();
  cfg.data.sampling = SamplingKind::kBalanced;
  cfg.data.balance.cap = 6;
  cfg.data.balance.target = 6;
  const fs::path full = fs::temp_directory_path() / "ms_cls_bal_full";
  const fs::path part = fs::temp_directory_path() / "ms_cls_bal_part";
  fs::remove_all(full);
  fs::remove_all(part);
  std::vector<std::string> log;
  auto r = train_classifier(request(cfg, data, full, &log));
  ASSERT_TRUE(r) << r.error().message;
  bool announced = false;
  for (const auto& l : log)
    announced = announced || l.find("balanced sampling: 18 draws per epoch (a_blue 6, b_green 6, c_red 6)") !=
                                 std::string::npos;
  EXPECT_TRUE(announced);
  const auto lines = metrics_lines(full);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["step"], 3);
  EXPECT_EQ(lines[2]["step"], 9);
  // The run's report exists and holds the best epoch's validation accuracy.
  const std::string html = slurp(full / "report.html");
  EXPECT_NE(html.find(fmt::format("{:.4f}", r->best_accuracy)), std::string::npos);
  EXPECT_NE(html.find("balanced"), std::string::npos);
  EXPECT_NE(html.find("Confusion matrix"), std::string::npos);
  EXPECT_EQ(r->report, (full / "report.html").string());

  // Resume after epoch 2: the third epoch's balanced draws are the same, so are the weights.
  fs::create_directories(part / "checkpoints");
  fs::copy_file(full / "config.json", part / "config.json");
  fs::copy(full / "checkpoints" / "epoch_0002", part / "checkpoints" / "epoch_0002");
  auto req = request(cfg, data, part);
  req.resume = true;
  ASSERT_TRUE(train_classifier(req));
  auto a = make_classifier(cfg.model, 3), b = make_classifier(cfg.model, 3);
  TrainerState sa, sb;
  ASSERT_TRUE(load_checkpoint((full / "checkpoints" / "epoch_0003").string(), *a, nullptr, sa));
  ASSERT_TRUE(load_checkpoint((part / "checkpoints" / "epoch_0003").string(), *b, nullptr, sb));
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i])) << "parameter " << i;
}

TEST(ClassifierSampling, FoldsReportMeanAndSpread) {
  init_torch_runtime();
  const fs::path data = make_disc_classes("ms_cls_folds", {6, 6, 6});
  auto cfg = tiny_config();
  cfg.optim.epochs = 1;
  const fs::path out = fs::temp_directory_path() / "ms_cls_folds_run";
  fs::remove_all(out);
  auto req = request(cfg, data, out);
  req.folds = 3;
  auto r = train_classifier(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->folds, 3);
  EXPECT_TRUE(r->model_dir.empty());
  std::vector<double> accs;
  for (int k = 0; k < 3; ++k) {
    const fs::path fold = out / ("fold_" + std::to_string(k));
    EXPECT_TRUE(fs::exists(fold / "report.html")) << fold;
    auto best = read_json_file((fold / "best_metrics.json").string());
    ASSERT_TRUE(best);
    accs.push_back((*best)["accuracy"].get<double>());
  }
  const double mean = (accs[0] + accs[1] + accs[2]) / 3;
  double ss = 0;
  for (double a : accs) ss += (a - mean) * (a - mean);
  const double sd = std::sqrt(ss / 2);
  auto folds = read_json_file((out / "folds.json").string());
  ASSERT_TRUE(folds);
  EXPECT_NEAR((*folds)["accuracy_mean"].get<double>(), mean, 1e-12);
  EXPECT_NEAR((*folds)["accuracy_sd"].get<double>(), sd, 1e-12);
  EXPECT_TRUE(folds->contains("macro_f1_sd"));
  EXPECT_EQ((*folds)["folds"].size(), 3u);
  EXPECT_NEAR(r->best_accuracy, mean, 1e-12);
  EXPECT_NEAR(r->accuracy_sd, sd, 1e-12);
  const std::string html = slurp(out / "report.html");
  EXPECT_NE(html.find(fmt::format("{:.4f} ± {:.4f}", mean, sd)), std::string::npos);
  EXPECT_NE(html.find("3-fold cross-validation"), std::string::npos);
}

}  // namespace
}  // namespace ms
