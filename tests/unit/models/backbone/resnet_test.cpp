#include <gtest/gtest.h>

#include <torch/nn/functional.h>
#include <torch/optim/sgd.h>

#include "core/error.h"
#include "models/backbone/resnet.h"
#include "models/runtime.h"

namespace ms {
namespace {

struct ResNetCase {
  int depth;
  float width;
  std::vector<int64_t> channels;
};

class ResNetShapes : public ::testing::TestWithParam<ResNetCase> {};

TEST_P(ResNetShapes, ReturnsC2ToC5AtStrides4To32) {
  init_torch_runtime();
  const auto& c = GetParam();
  ResNetOptions o;
  o.depth = c.depth;
  o.width = c.width;
  ResNet net(o);
  net->eval();
  EXPECT_EQ(net->out_channels(), c.channels);
  const auto f = net->forward(at::randn({2, 3, 64, 96}));
  ASSERT_EQ(f.size(), 4u);
  for (int l = 0; l < 4; ++l) {
    const int64_t stride = int64_t{4} << l;
    EXPECT_EQ(f[l].sizes(), (at::IntArrayRef{2, c.channels[l], 64 / stride, 96 / stride})) << l;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Depths, ResNetShapes,
    ::testing::Values(ResNetCase{18, 1.f, {64, 128, 256, 512}},
                      ResNetCase{18, 0.5f, {32, 64, 128, 256}},
                      ResNetCase{34, 0.25f, {16, 32, 64, 128}},
                      ResNetCase{50, 0.25f, {64, 128, 256, 512}}));

TEST(ResNet, ParameterCountMatchesTorchvisionResNet18) {
  // torchvision.models.resnet18() has 11,689,512 parameters, 513,000 of them in the fc layer.
  ResNet net(ResNetOptions{});
  int64_t n = 0;
  for (const auto& p : net->parameters()) n += p.numel();
  EXPECT_EQ(n, 11689512 - 513000);
}

TEST(ResNet, OddInputSizesRoundUp) {
  ResNetOptions o;
  o.width = 0.25f;
  ResNet net(o);
  net->eval();
  const auto f = net->forward(at::randn({1, 3, 65, 33}));
  EXPECT_EQ(f[3].size(2), 3);  // ceil(65/32)
  EXPECT_EQ(f[3].size(3), 2);  // ceil(33/32)
}

TEST(ResNet, RejectsBadOptions) {
  ResNetOptions o;
  o.depth = 20;
  try {
    ResNet net(o);
    FAIL() << "depth 20 accepted";
  } catch (const MarrowError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("resnet.depth"), std::string::npos);
  }
  o.depth = 18;
  o.width = 0.f;
  EXPECT_THROW(ResNet{o}, MarrowError);
}

TEST(ResNet, ConfigRoundTripsThroughJson) {
  const auto o = config_from_json<ResNetOptions>(Json{{"depth", 50}, {"norm", "frozen"}});
  EXPECT_EQ(o.depth, 50);
  EXPECT_EQ(o.norm, NormKind::kFrozen);
  EXPECT_EQ(config_to_json(o)["norm"], "frozen");
  EXPECT_THROW(config_from_json<ResNetOptions>(Json{{"norm", "group"}}), MarrowError);
}

// Snapshot of every BatchNorm tensor (weights, biases, running statistics) and every conv weight.
std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> snapshot(ResNet& net) {
  std::vector<at::Tensor> norm, conv;
  for (const auto& item : net->named_parameters())
    (item.key().find("weight") != std::string::npos && item.value().dim() == 4 ? conv : norm)
        .push_back(item.value().detach().clone());
  for (const auto& item : net->named_buffers()) norm.push_back(item.value().detach().clone());
  return {norm, conv};
}

void train_one_step(ResNet& net) {
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  net->train();
  const auto f = net->forward(at::randn({2, 3, 64, 64}) * 3 + 1);
  const at::Tensor loss = f[3].pow(2).mean() + f[0].mean();
  opt.zero_grad();
  loss.backward();
  opt.step();
}

TEST(ResNet, FrozenBatchNormKeepsStatsAndWeightsUnderTraining) {
  at::manual_seed(0);
  ResNetOptions o;
  o.width = 0.25f;
  o.norm = NormKind::kFrozen;
  o.zero_init_residual = false;
  ResNet net(o);
  const auto [norm_before, conv_before] = snapshot(net);
  train_one_step(net);
  const auto [norm_after, conv_after] = snapshot(net);
  for (size_t i = 0; i < norm_before.size(); ++i)
    EXPECT_TRUE(at::equal(norm_before[i], norm_after[i])) << "norm tensor " << i << " moved";
  bool conv_moved = false;
  for (size_t i = 0; i < conv_before.size(); ++i) conv_moved |= !at::equal(conv_before[i], conv_after[i]);
  EXPECT_TRUE(conv_moved) << "the convolutions must still train";
}

TEST(ResNet, OrdinaryBatchNormUpdatesStats) {
  // The control for the test above: the same step with trainable BN moves the statistics.
  at::manual_seed(0);
  ResNetOptions o;
  o.width = 0.25f;
  ResNet net(o);
  const auto before = snapshot(net).first;
  train_one_step(net);
  const auto after = snapshot(net).first;
  bool moved = false;
  for (size_t i = 0; i < before.size(); ++i) moved |= !at::equal(before[i], after[i]);
  EXPECT_TRUE(moved);
}

TEST(ResNet, FrozenStagesGetNoGradient) {
  ResNetOptions o;
  o.width = 0.25f;
  o.frozen_stages = 2;  // stem + layer1
  ResNet net(o);
  for (const auto& item : net->named_parameters()) {
    const bool frozen = item.key().rfind("stem.", 0) == 0 || item.key().rfind("layer1.", 0) == 0;
    EXPECT_EQ(item.value().requires_grad(), !frozen) << item.key();
  }
}

}  // namespace
}  // namespace ms
