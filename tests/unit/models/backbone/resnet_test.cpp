#include <gtest/gtest.h>

#include <ATen/Context.h>

#include <torch/nn/functional.h>
#include <torch/optim/sgd.h>

#include "core/error.h"
#include "models/backbone/resnet.h"
#include "models/ops/group_norm.h"
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
  EXPECT_EQ(config_from_json<ResNetOptions>(Json{{"norm", "group"}}).norm, NormKind::kGroup);
  EXPECT_THROW(config_from_json<ResNetOptions>(Json{{"norm", "layer"}}), MarrowError);
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

// Random running statistics and affine parameters, so a fold that ignored any of them would show.
void randomise_norms(ResNet& net) {
  at::NoGradGuard no_grad;
  for (auto& m : net->modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.5, 0.5);
      bn->running_mean.uniform_(-0.3, 0.3);
      bn->running_var.uniform_(0.2, 2.0);
    }
}

// An eval-mode width-0.25 network whose norms are not the identity.
ResNet net_with_random_norms(int depth, uint64_t seed) {
  init_torch_runtime();
  at::manual_seed(seed);
  ResNetOptions o;
  o.depth = depth;
  o.width = 0.25f;
  o.zero_init_residual = false;
  ResNet net(o);
  randomise_norms(net);
  net->eval();
  return net;
}

// max |a - b| relative to the size of b.
float relative_gap(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b).abs().max().item<float>() / (1 + b.abs().max().item<float>());
}

class FoldedNorms : public ::testing::TestWithParam<int> {};

TEST_P(FoldedNorms, GiveTheSameFeaturesAndLeaveTheParametersAlone) {
  ResNet net = net_with_random_norms(GetParam(), 3);
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 70, 45});
  const auto plain = net->forward(x);
  std::vector<at::Tensor> params;
  for (const auto& p : net->parameters()) params.push_back(p.clone());
  net->fold_norms_for_inference(false);
  ASSERT_TRUE(net->norms_folded());
  const auto folded = net->forward(x);
  ASSERT_EQ(folded.size(), plain.size());
  for (size_t l = 0; l < plain.size(); ++l) {
    ASSERT_EQ(folded[l].sizes(), plain[l].sizes()) << l;
    EXPECT_LT(relative_gap(folded[l], plain[l]), 1e-4f) << "C" << l + 2;
  }
  {
    // With gradients on (Grad-CAM of an eval-mode model) the real layers run, so gradients flow.
    at::AutoGradMode grad(true);
    EXPECT_TRUE(net->forward(x)[3].requires_grad());
  }
  const auto after = net->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i], after[i])) << "parameter " << i;
  // Training uses the real layers again: the folded copies would go stale as the weights move.
  net->train(true);
  EXPECT_FALSE(net->norms_folded());
}

INSTANTIATE_TEST_SUITE_P(Depths, FoldedNorms, ::testing::Values(18, 50));

TEST(ResNet, FoldedNormsFollowTheRunningStatisticsOfTheirTime) {
  // Folding reads the statistics when it is called; forward in training mode never uses the fold.
  ResNet net = net_with_random_norms(18, 4);
  net->fold_norms_for_inference(false);
  net->train(true);
  train_one_step(net);
  net->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 3, 64, 64});
  const at::Tensor plain = net->forward(x)[3];
  net->fold_norms_for_inference(false);
  EXPECT_LT(relative_gap(net->forward(x)[3], plain), 1e-4f);
}

TEST(ResNet, FoldedNormsRunInBfloat16WithTheirOwnCopies) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no native bf16 on this CPU";
  ResNet net = net_with_random_norms(18, 5);
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const at::Tensor reference = net->forward(x)[3];
  net->fold_norms_for_inference(true);
  at::Tensor out;
  {
    const InferencePrecisionScope scope(Precision::kBf16);
    out = net->forward(x)[3];
  }
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  EXPECT_GT(reference.abs().max().item<float>(), 0.5f);
  EXPECT_LT(relative_gap(out, reference), 0.05f);
}

bool onednn_quantized_engine() {
  for (const auto e : at::globalContext().supportedQEngines())
    if (e == at::QEngine::ONEDNN) return true;
  return false;
}

class Int8Path : public ::testing::TestWithParam<int> {};

// Calibrated on the batch it then runs, the 8-bit network gives float32's features up to the
// rounding of 256 levels per tensor; outside an int8 scope it is the float32 network unchanged.
TEST_P(Int8Path, GivesTheFloatFeaturesToWithinItsLevels) {
  if (!onednn_quantized_engine()) GTEST_SKIP() << "LibTorch without oneDNN's quantized engine";
  ResNet net = net_with_random_norms(GetParam(), 6);
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({4, 3, 64, 64});
  net->fold_norms_for_inference(false);
  const auto reference = net->forward(x);
  ResNetImpl::ActivationRanges ranges;
  net->observe_activation_ranges(x.narrow(0, 0, 2), ranges);
  net->observe_activation_ranges(x.narrow(0, 2, 2), ranges);
  ASSERT_EQ(ranges.size(), net->activation_points());
  // The input's range is the input's; every ReLU output starts at 0.
  EXPECT_FLOAT_EQ(ranges[0].first, x.min().item<float>());
  EXPECT_FLOAT_EQ(ranges[0].second, x.max().item<float>());
  EXPECT_FLOAT_EQ(ranges.back().first, 0.f);
  net->quantize_for_inference(ranges);
  ASSERT_TRUE(net->quantized());
  std::vector<at::Tensor> q;
  {
    const InferencePrecisionScope scope(Precision::kInt8);
    EXPECT_TRUE(int8_inference_active());
    q = net->forward(x);
  }
  EXPECT_FALSE(int8_inference_active());
  ASSERT_EQ(q.size(), reference.size());
  for (size_t l = 0; l < q.size(); ++l) {
    ASSERT_EQ(q[l].sizes(), reference[l].sizes()) << l;
    EXPECT_FALSE(q[l].is_quantized());
    const at::Tensor a = q[l].flatten(), b = reference[l].flatten();
    const float cosine = (a * b).sum().item<float>() / (a.norm() * b.norm()).item<float>();
    EXPECT_GT(cosine, 0.99f) << "C" << l + 2;
    EXPECT_FALSE(at::equal(q[l], reference[l])) << "C" << l + 2 << ": int8 ran";
  }
  // Outside the scope: float32, exactly as before quantizing.
  EXPECT_TRUE(at::equal(net->forward(x)[3], reference[3]));
  // A pooled classifier reads C5 alone: the others stay 8-bit and come back undefined.
  net->quantize_for_inference(ranges, /*last_only=*/true);
  {
    const InferencePrecisionScope scope(Precision::kInt8);
    const auto only = net->forward(x);
    EXPECT_FALSE(only[0].defined());
    EXPECT_FALSE(only[2].defined());
    EXPECT_TRUE(at::equal(only[3], q[3]));
  }
  net->train(true);
  EXPECT_FALSE(net->quantized());
}

INSTANTIATE_TEST_SUITE_P(Depths, Int8Path, ::testing::Values(18, 50));

TEST(ResNet, Int8RangesMustFitTheNetwork) {
  ResNet net = net_with_random_norms(18, 7);
  ResNetImpl::ActivationRanges ranges;
  EXPECT_THROW(net->observe_activation_ranges(at::randn({1, 3, 32, 32}), ranges), MarrowError)
      << "ranges need the folded network";
  net->fold_norms_for_inference(false);
  net->observe_activation_ranges(at::randn({1, 3, 32, 32}), ranges);
  ranges.pop_back();
  try {
    net->quantize_for_inference(ranges);
    FAIL() << "a range short";
  } catch (const MarrowError& e) {
    EXPECT_NE(std::string(e.what()).find("expected " + std::to_string(net->activation_points())), std::string::npos)
        << e.what();
  }
  ranges.emplace_back(1.f, 0.f);
  EXPECT_THROW(net->quantize_for_inference(ranges), MarrowError) << "lo > hi";
  EXPECT_FALSE(net->quantized());
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

// Group norm: each image normalised by its own statistics. Nothing about the training batches is
// stored, an image's features do not depend on the other images of its batch (BatchNorm's do in
// training), and there is nothing to fold and no int8 path.
ResNet group_norm_net(uint64_t seed) {
  init_torch_runtime();
  at::manual_seed(seed);
  ResNetOptions o;
  o.width = 0.25f;
  o.norm = NormKind::kGroup;
  o.zero_init_residual = false;
  return ResNet(o);
}

TEST(ResNetGroupNorm, NormalisesEachImageAloneAndStoresNoStatistics) {
  ResNet net = group_norm_net(3);
  EXPECT_TRUE(net->named_buffers().is_empty()) << "a group-norm network keeps no running statistics";
  // The stem's norm: 16 channels in 4 groups of 4, an affine pair per channel.
  const auto params = net->named_parameters();
  ASSERT_TRUE(params.contains("stem.1.weight"));
  EXPECT_EQ(params["stem.1.weight"].size(0), 16);
  at::NoGradGuard no_grad;
  const at::Tensor a = at::randn({1, 3, 64, 64}), b = at::randn({1, 3, 64, 64}) * 4 + 2;
  for (const bool training : {true, false}) {
    net->train(training);
    const at::Tensor alone = net->forward(a)[3];
    const at::Tensor together = net->forward(at::cat({a, b}))[3].slice(0, 0, 1);
    EXPECT_LT(relative_gap(together, alone), 1e-5f) << (training ? "training" : "eval");
  }
  // The control: BatchNorm in training normalises by the batch, so the other image changes a's.
  ResNetOptions o;
  o.width = 0.25f;
  o.zero_init_residual = false;
  ResNet bn(o);
  bn->train();
  EXPECT_GT(relative_gap(bn->forward(at::cat({a, b}))[3].slice(0, 0, 1), bn->forward(a)[3]), 1e-3f);
}

TEST(ResNetGroupNorm, NormalisesByGroupsOfChannels) {
  // The stem's output, normalised by hand over groups of 4 channels, equals the network's.
  ResNet net = group_norm_net(4);
  net->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 32, 32});
  auto* stem = net->named_children()["stem"]->as<torch::nn::SequentialImpl>();
  ASSERT_NE(stem, nullptr);
  const at::Tensor conv_out = stem->ptr(0)->as<torch::nn::Conv2dImpl>()->forward(x);
  const at::Tensor g = conv_out.reshape({2, 4, -1});
  const at::Tensor mean = g.mean(-1, true), var = g.var(-1, false, true);
  const at::Tensor expected = ((g - mean) / at::sqrt(var + 1e-5)).reshape_as(conv_out);
  const at::Tensor got = (stem->begin() + 1)->forward(conv_out);  // weight 1, bias 0 at initialisation
  EXPECT_LT((got - expected).abs().max().item<float>(), 1e-4f);
}

TEST(ResNetGroupNorm, TrainsAndRunsUnfoldedInEveryPrecision) {
  ResNet net = group_norm_net(5);
  const auto before = snapshot(net).first;
  train_one_step(net);
  const auto after = snapshot(net).first;
  bool moved = false;
  for (size_t i = 0; i < before.size(); ++i) moved |= !at::equal(before[i], after[i]);
  EXPECT_TRUE(moved) << "the group norms' affine parameters must train";

  net->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const at::Tensor reference = net->forward(x)[3];
  EXPECT_FALSE(net->foldable());
  net->fold_norms_for_inference(true);
  EXPECT_FALSE(net->norms_folded()) << "nothing to fold";
  EXPECT_TRUE(at::equal(net->forward(x)[3], reference));
  if (cpu_has_native_bf16()) {
    const InferencePrecisionScope scope(Precision::kBf16);
    EXPECT_LT(relative_gap(net->forward(x)[3], reference), 0.05f);
  }
  try {
    net->quantize_for_inference({});
    FAIL() << "a group-norm network quantized";
  } catch (const MarrowError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("group norm"), std::string::npos) << e.what();
  }
}

// The one group-norm module of the backbone and the detector head: the group rule, torch's
// parameter names, and a bfloat16 input normalised in float32 (LibTorch 1.13 has no such kernel).
TEST(Float32GroupNorm, GroupRuleNamesAndBf16Input) {
  EXPECT_EQ(group_norm_groups(64, 32, 4), 16);
  EXPECT_EQ(group_norm_groups(8, 32, 4), 2);
  EXPECT_EQ(group_norm_groups(256, 32, 1), 32);
  EXPECT_EQ(group_norm_groups(48, 32, 1), 16);
  EXPECT_EQ(group_norm_groups(3, 32, 4), 1);
  EXPECT_THROW(Float32GroupNorm(3, 8), MarrowError);

  Float32GroupNorm gn(4, 16);
  const auto params = gn->named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_TRUE(params.contains("weight") && params.contains("bias"));
  at::NoGradGuard no_grad;
  gn->weight.uniform_(0.5, 1.5);
  gn->bias.uniform_(-0.5, 0.5);
  const at::Tensor x = at::randn({2, 16, 8, 8});
  const at::Tensor want = at::group_norm(x, 4, gn->weight, gn->bias, 1e-5);
  EXPECT_TRUE(at::allclose(gn->forward(x), want, 1e-6, 1e-6));
  const at::Tensor from_bf16 = gn->forward(x.to(at::kBFloat16));
  EXPECT_EQ(from_bf16.scalar_type(), at::kFloat);
  EXPECT_LT((from_bf16 - want).abs().max().item<float>(), 0.05f);
}

}  // namespace
}  // namespace ms
