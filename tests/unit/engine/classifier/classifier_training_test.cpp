// End to end on synthetic cells: a tiny ViT learns red/green/blue discs in seconds, the exported
// model folder classifies through ClassifierPredictor, and resuming from a checkpoint continues
// bit-identically.
#include <filesystem>
#include <numeric>
#include <random>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/classifier/classifier_trainer.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/train/checkpoint.h"
#include "models/runtime.h"
#include "unit/precision_env.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

cv::Scalar colour_of(int c) {
  return c == 0 ? cv::Scalar(40, 40, 200) : c == 1 ? cv::Scalar(40, 180, 40) : cv::Scalar(200, 60, 40);
}

cv::Mat disc(int c, std::mt19937& rng) {
  std::uniform_int_distribution<int> jitter(-4, 4), radius(9, 14);
  cv::Mat img(40, 40, CV_8UC3, cv::Scalar(235, 235, 235));
  cv::circle(img, {20 + jitter(rng), 20 + jitter(rng)}, radius(rng), colour_of(c), cv::FILLED);
  return img;
}

// DIR/<red|green|blue>/<i>.png, n per class.
fs::path make_discs(const std::string& name, int n) {
  const fs::path root = fs::temp_directory_path() / name;
  fs::remove_all(root);
  std::mt19937 rng(3);
  const char* names[3] = {"blue_disc", "green_disc", "red_disc"};  // sorted = class ids 0,1,2
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(root / names[c]);
    for (int i = 0; i < n; ++i)
      EXPECT_TRUE(write_image((root / names[c] / (std::to_string(i) + ".png")).string(), disc(c, rng)));
  }
  return root;
}

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
  c.model.vit.drop_path = 0.1f;
  c.data.crop_fraction = 0.875;
  c.data.val_fraction = 0.25;
  c.data.augment.brightness = 0.05f;
  c.optim.lr = 3e-3;
  c.optim.batch_size = 12;
  c.optim.epochs = 6;
  c.optim.schedule.warmup_epochs = 1;
  c.eval_batch = 32;
  c.keep_checkpoints = 10;
  return c;
}

ClassifierTrainRequest request(const ClassifierTrainConfig& c, const fs::path& data, const fs::path& out) {
  ClassifierTrainRequest r;
  r.config = c;
  r.data_dir = data.string();
  r.out_dir = out.string();
  r.log = [](const std::string&) {};
  return r;
}

TEST(ClassifierTraining, TinyVitLearnsColouredDiscs) {
  init_torch_runtime();
  const fs::path data = make_discs("ms_cls_discs", 24);
  const fs::path out = fs::temp_directory_path() / "ms_cls_run";
  fs::remove_all(out);
  auto r = train_classifier(request(tiny_config(), data, out));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GE(r->best_accuracy, 0.9);
  EXPECT_TRUE(fs::exists(out / "metrics.jsonl"));
  EXPECT_TRUE(fs::exists(out / "train.txt"));
  EXPECT_TRUE(fs::exists(out / "val.txt"));
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "best" / "optimizer.pt"));

  // Every trained model records its training cells' stain (for the domain check); only a config
  // that asks for it standardises the input.
  auto written = read_classifier_model_info(r->model_dir);
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_TRUE(written->training_stain.has_value());
  EXPECT_NEAR(written->training_stain->background[0], 235 / 255.f, 0.01);
  EXPECT_FALSE(written->normalization.stain.has_value());

  auto pred = ClassifierPredictor::load(r->model_dir);
  ASSERT_TRUE(pred) << pred.error().message;
  EXPECT_EQ((*pred)->classes(), (std::vector<std::string>{"blue_disc", "green_disc", "red_disc"}));
  EXPECT_EQ((*pred)->input_size(), 32);
  std::mt19937 rng(99);
  std::vector<cv::Mat> crops;
  std::vector<int> truth;
  for (int i = 0; i < 12; ++i) {
    truth.push_back(i % 3);
    cv::Mat img;
    cv::resize(disc(i % 3, rng), img, cv::Size(64, 64));  // another size than training
    crops.push_back(img);
  }
  auto preds = (*pred)->classify(crops);
  ASSERT_EQ(preds.size(), crops.size());
  int correct = 0;
  for (size_t i = 0; i < preds.size(); ++i) {
    correct += preds[i].class_id == truth[i];
    EXPECT_NEAR(std::accumulate(preds[i].probs.begin(), preds[i].probs.end(), 0.f), 1.f, 1e-4);
    EXPECT_GE(preds[i].entropy, 0.f);
  }
  EXPECT_GE(correct, 11);
  EXPECT_THROW((*pred)->classify({cv::Mat()}), MarrowError);
}

TEST(ClassifierTraining, ResumeContinuesBitIdentically) {
  init_torch_runtime();
  const fs::path data = make_discs("ms_cls_discs_resume", 8);
  auto cfg = tiny_config();
  cfg.optim.epochs = 3;
  const fs::path full = fs::temp_directory_path() / "ms_cls_full", part = fs::temp_directory_path() / "ms_cls_part";
  fs::remove_all(full);
  fs::remove_all(part);
  ASSERT_TRUE(train_classifier(request(cfg, data, full)));
  // A run stopped after epoch 2: its folder holds the config and the epoch-2 checkpoint only.
  fs::create_directories(part / "checkpoints");
  fs::copy_file(full / "config.json", part / "config.json");
  fs::copy(full / "checkpoints" / "epoch_0002", part / "checkpoints" / "epoch_0002");
  auto req = request(cfg, data, part);
  req.resume = true;
  auto r = train_classifier(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->epochs_done, 3);

  auto a = make_classifier(cfg.model, 3), b = make_classifier(cfg.model, 3);
  TrainerState sa, sb;
  ASSERT_TRUE(load_checkpoint((full / "checkpoints" / "epoch_0003").string(), *a, nullptr, sa));
  ASSERT_TRUE(load_checkpoint((part / "checkpoints" / "epoch_0003").string(), *b, nullptr, sb));
  EXPECT_EQ(sa.step, sb.step);
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i])) << "parameter " << i;
}

// Stained "cells" told apart by shape (a disc, a ring, a bar: a dark purple stain on a pale pink
// ground). data.stain_standardise writes the training cells' stain reference into the model, and
// the predictor then gives the same answer under another camera's white balance and stain strength.
cv::Mat stained_shape(int c, std::mt19937& rng) {
  std::uniform_int_distribution<int> jitter(-3, 3);
  cv::Mat img(40, 40, CV_8UC3, cv::Scalar(215, 220, 245));
  const cv::Point centre(20 + jitter(rng), 20 + jitter(rng));
  const cv::Scalar stain(120, 40, 80);
  if (c == 0) cv::circle(img, centre, 9, stain, cv::FILLED);
  if (c == 1) cv::circle(img, centre, 10, stain, 3);
  if (c == 2) cv::rectangle(img, centre - cv::Point(12, 4), centre + cv::Point(12, 4), stain, cv::FILLED);
  return img;
}

TEST(ClassifierTraining, StainStandardisedModelIgnoresTheCamerasColour) {
  init_torch_runtime();
  const fs::path data = fs::temp_directory_path() / "ms_cls_stain";
  fs::remove_all(data);
  std::mt19937 rng(5);
  const char* names[3] = {"disc", "ring", "bar"};
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(data / names[c]);
    for (int i = 0; i < 12; ++i)
      ASSERT_TRUE(write_image((data / names[c] / (std::to_string(i) + ".png")).string(), stained_shape(c, rng)));
  }
  auto cfg = tiny_config();
  cfg.optim.epochs = 2;
  cfg.data.augment.brightness = 0;
  cfg.data.stain_standardise = true;
  const fs::path out = fs::temp_directory_path() / "ms_cls_stain_run";
  fs::remove_all(out);
  auto r = train_classifier(request(cfg, data, out));
  ASSERT_TRUE(r) << r.error().message;
  auto read = read_classifier_model_info(r->model_dir);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_TRUE(read->normalization.stain.has_value());
  // The reference is the training cells': their pink ground (RGB 245, 220, 215).
  EXPECT_NEAR(read->normalization.stain->background[0], 245 / 255.f, 0.01);
  EXPECT_NEAR(read->normalization.stain->background[2], 215 / 255.f, 0.01);

  auto pred = ClassifierPredictor::load(r->model_dir);
  ASSERT_TRUE(pred) << pred.error().message;
  std::vector<cv::Mat> plain, cast;
  for (int i = 0; i < 6; ++i) {
    plain.push_back(stained_shape(i % 3, rng));
    // A yellow camera (white balance) and a paler stain (optical density times 0.7).
    cv::Mat f, od, c;
    plain.back().convertTo(f, CV_32FC3, 1.0 / 255);
    cv::log(cv::max(f, 1.0 / 255), od);
    cv::exp(od * 0.7, f);
    cv::multiply(f, cv::Scalar(0.55, 0.95, 1.0), f);
    f.convertTo(c, CV_8UC3, 255);
    cast.push_back(c);
  }
  auto a = (*pred)->classify(plain), b = (*pred)->classify(cast);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t k = 0; k < a[i].probs.size(); ++k) EXPECT_NEAR(a[i].probs[k], b[i].probs[k], 0.02) << i;
}

// A CNN with group norm (no statistics of the training lab in the network) trains, is written and
// read back as one, and classifies unfolded: it has no int8 path, so int8 falls back and an int8
// calibration is refused by name.
TEST(ClassifierTraining, GroupNormCnnLearnsDiscsAndRunsWithoutInt8) {
  init_torch_runtime();
  const fs::path data = make_discs("ms_cls_discs_gn", 24);
  const fs::path out = fs::temp_directory_path() / "ms_cls_gn_run";
  fs::remove_all(out);
  auto cfg = tiny_config();
  cfg.model.arch = ClassifierArch::kCnn;
  cfg.model.cnn.backbone.depth = 18;
  cfg.model.cnn.backbone.width = 0.125f;
  cfg.model.cnn.backbone.norm = NormKind::kGroup;
  auto r = train_classifier(request(cfg, data, out));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GE(r->best_accuracy, 0.9);
  auto info = read_classifier_model_info(r->model_dir);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->model.cnn.backbone.norm, NormKind::kGroup);

  const testing::PrecisionEnv env("int8");
  auto pred = ClassifierPredictor::load(r->model_dir);
  ASSERT_TRUE(pred) << pred.error().message;
  EXPECT_NE((*pred)->precision(), "int8");
  std::mt19937 rng(7);
  std::vector<cv::Mat> crops;
  for (int i = 0; i < 9; ++i) crops.push_back(disc(i % 3, rng));
  const auto preds = (*pred)->classify(crops);
  int correct = 0;
  for (size_t i = 0; i < preds.size(); ++i) correct += preds[i].class_id == static_cast<int>(i % 3);
  EXPECT_GE(correct, 8);
  const auto observed = (*pred)->observe_int8_activations(crops, [](size_t, const at::Tensor&) {});
  ASSERT_FALSE(observed);
  EXPECT_NE(observed.error().message.find("no int8 path"), std::string::npos) << observed.error().message;
}

TEST(ClassifierTraining, BadInputsAreErrors) {
  auto cfg = tiny_config();
  cfg.data.val_fraction = 1.5;
  auto r = train_classifier(request(cfg, fs::temp_directory_path() / "none", fs::temp_directory_path() / "x"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("val_fraction"), std::string::npos);
  auto missing = ClassifierPredictor::load((fs::temp_directory_path() / "no_model_here").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("model.json"), std::string::npos);
}

}  // namespace
}  // namespace ms
