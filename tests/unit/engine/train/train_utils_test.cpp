// Learning-rate schedule, checkpoint round trip, image -> tensor conversion.
#include <cmath>
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include "engine/train/checkpoint.h"
#include "engine/train/image_tensor.h"
#include "engine/train/lr_schedule.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

TEST(LrSchedule, WarmupThenCosine) {
  LrScheduleOptions o;
  o.decay = LrDecay::kCosine;
  o.warmup_epochs = 1;
  o.min_lr_ratio = 0.1;
  // 10 steps/epoch, 3 epochs: warm-up steps 0..9, cosine over steps 10..29.
  EXPECT_DOUBLE_EQ(lr_factor(o, 0, 10, 3), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor(o, 9, 10, 3), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(o, 10, 10, 3), 1.0);
  EXPECT_NEAR(lr_factor(o, 20, 10, 3), 0.1 + 0.9 * 0.5, 1e-12);  // half way: cos(pi/2) = 0
  EXPECT_NEAR(lr_factor(o, 30, 10, 3), 0.1, 1e-12);
}

TEST(LrSchedule, StepDecayAndBadInput) {
  LrScheduleOptions o;
  o.decay = LrDecay::kStep;
  o.warmup_epochs = 0;
  o.step_epochs = {2, 4};
  o.gamma = 0.5;
  EXPECT_DOUBLE_EQ(lr_factor(o, 19, 10, 6), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(o, 20, 10, 6), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor(o, 45, 10, 6), 0.25);
  EXPECT_THROW(lr_factor(o, 0, 0, 6), MarrowError);
}

TEST(Checkpoint, RoundTripRestoresModelOptimizerAndState) {
  const fs::path dir = fs::temp_directory_path() / "ms_ckpt_test";
  fs::remove_all(dir);
  torch::nn::Linear a(3, 2), b(3, 2);
  torch::optim::AdamW opt_a(a->parameters(), torch::optim::AdamWOptions(0.1));
  auto loss = a->forward(at::ones({4, 3})).sum();
  loss.backward();
  opt_a.step();
  TrainerState st;
  st.epoch = 3;
  st.step = 42;
  st.seed = 7;
  st.best_metric = 0.5;
  const std::string ckpt = epoch_checkpoint_dir(dir.string(), 3);
  ASSERT_TRUE(save_checkpoint(ckpt, *a, &opt_a, st, Json{{"name", "t"}}));
  EXPECT_FALSE(fs::exists(ckpt + ".tmp"));
  ASSERT_EQ(latest_checkpoint(dir.string()), ckpt);

  torch::optim::AdamW opt_b(b->parameters(), torch::optim::AdamWOptions(0.1));
  TrainerState back;
  ASSERT_TRUE(load_checkpoint(ckpt, *b, &opt_b, back));
  EXPECT_TRUE(at::equal(a->weight, b->weight));
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.step, 42);
  EXPECT_EQ(back.seed, 7u);
  // Same optimiser state: one more identical step keeps the weights identical.
  opt_a.zero_grad();
  opt_b.zero_grad();
  for (auto* m : {&a, &b}) {
    auto l = (*m)->forward(at::ones({4, 3})).sum();
    l.backward();
  }
  opt_a.step();
  opt_b.step();
  EXPECT_TRUE(at::equal(a->weight, b->weight));

  // Pruning keeps the newest; a missing folder is an error naming the file.
  ASSERT_TRUE(save_checkpoint(epoch_checkpoint_dir(dir.string(), 4), *a, &opt_a, st, Json::object()));
  prune_checkpoints(dir.string(), 1);
  EXPECT_FALSE(fs::exists(ckpt));
  auto missing = load_checkpoint((dir / "nope").string(), *b, nullptr, back);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("model.pt"), std::string::npos);
  fs::remove_all(dir);
}

TEST(ImageTensor, BgrToNormalisedRgb) {
  cv::Mat img(2, 2, CV_8UC3, cv::Scalar(255, 0, 51));  // B=255 G=0 R=51
  Normalization n;
  n.mean = {0.2f, 0.f, 0.5f};
  n.std = {0.5f, 1.f, 0.25f};
  auto t = bgr_batch_to_tensor({img}, 2, n);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{1, 3, 2, 2}));
  EXPECT_NEAR(t[0][0][0][0].item<float>(), (0.2f - 0.2f) / 0.5f, 1e-6);  // R
  EXPECT_NEAR(t[0][1][1][1].item<float>(), 0.f, 1e-6);                   // G
  EXPECT_NEAR(t[0][2][0][1].item<float>(), (1.f - 0.5f) / 0.25f, 1e-6);  // B
  auto m = measure_normalization({img});
  EXPECT_NEAR(m.mean[0], 0.2f, 1e-6);
  EXPECT_NEAR(m.mean[2], 1.f, 1e-6);
  cv::Mat grey(2, 2, CV_8UC1, cv::Scalar(0));
  EXPECT_THROW(bgr_batch_to_tensor({grey}, 2, n), MarrowError);
}

}  // namespace
}  // namespace ms
