// Vision Transformer parts: token counts, attention rows, part selection on a hand-made
// attention tensor, contrastive loss on hand-computed vectors, golden encoder block.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/init.h>

#include "core/config.h"
#include "models/runtime.h"
#include "models/vit/contrastive_loss.h"
#include "models/vit/encoder_block.h"
#include "models/vit/part_selection.h"
#include "models/vit/vision_transformer.h"

namespace ms {
namespace {

TEST(PatchEmbed, OverlappingGridSide) {
  PatchEmbedOptions o;
  o.patch = 16;
  o.stride = 12;
  EXPECT_EQ(patch_grid_side(o, 112), 9);   // (112-16)/12+1
  EXPECT_EQ(patch_grid_side(o, 224), 18);  // thesis setting: 18x18 = 324 patches
  o.stride = 16;
  EXPECT_EQ(patch_grid_side(o, 224), 14);  // plain ViT-B/16
  o.stem_channels = {8, 16};
  o.patch = 6;
  o.stride = 4;
  EXPECT_EQ(patch_grid_side(o, 128), 7);   // 128 -> 32 after stem, (32-6)/4+1
  o.stride = 8;                            // stride > patch is refused
  o.patch = 4;
  EXPECT_THROW(patch_grid_side(o, 128), MarrowError);
}

TEST(VisionTransformer, TokenCountsAndShapes) {
  init_torch_runtime();
  VitOptions o;
  o.patch.dim = 32;
  o.patch.patch = 8;
  o.patch.stride = 6;
  o.depth = 3;
  o.heads = 4;
  VisionTransformerImpl vit(o, 32, 5);
  EXPECT_EQ(vit.grid(), 5);            // (32-8)/6+1
  EXPECT_EQ(vit.num_tokens(), 26);
  vit.eval();
  auto out = vit.forward(at::randn({2, 3, 32, 32}));
  EXPECT_EQ(out.logits.sizes(), (at::IntArrayRef{2, 5}));
  EXPECT_EQ(out.embedding.sizes(), (at::IntArrayRef{2, 32}));
  ASSERT_EQ(out.attentions.size(), 3u);
  EXPECT_EQ(out.attentions[0].sizes(), (at::IntArrayRef{2, 4, 26, 26}));
  // The last block sees [cls; one token per head].
  EXPECT_EQ(out.attentions[2].sizes(), (at::IntArrayRef{2, 4, 5, 5}));
  EXPECT_EQ(out.selected.sizes(), (at::IntArrayRef{2, 4}));
  EXPECT_GE(out.selected.min().item<int64_t>(), 1);
  EXPECT_LE(out.selected.max().item<int64_t>(), 25);
  for (const auto& a : out.attentions)
    EXPECT_TRUE(at::allclose(a.sum(-1), at::ones_like(a.sum(-1)), 1e-5, 1e-5));
}

TEST(VisionTransformer, SinusoidalPositionsAndNoPartSelection) {
  auto pe = sincos_position_embedding(3, 8);
  EXPECT_EQ(pe.sizes(), (at::IntArrayRef{9, 8}));
  // Token (row 0, col 0): sin(0)=0, cos(0)=1 for both axes.
  EXPECT_FLOAT_EQ(pe[0][0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(pe[0][2].item<float>(), 1.f);
  // Token 4 is (row 1, col 1): x term sin(1 * w0) with w0 = 1.
  EXPECT_NEAR(pe[4][0].item<float>(), std::sin(1.0), 1e-6);
  VitOptions o;
  o.patch.dim = 16;
  o.patch.patch = 8;
  o.patch.stride = 8;
  o.depth = 2;
  o.heads = 2;
  o.part_selection = false;
  o.position = PositionEmbedding::kSinusoidal;
  VisionTransformerImpl vit(o, 16, 3);
  auto out = vit.forward(at::randn({1, 3, 16, 16}));
  EXPECT_FALSE(out.selected.defined());
  EXPECT_EQ(out.attentions[1].sizes(), (at::IntArrayRef{1, 2, 5, 5}));
  EXPECT_THROW(VisionTransformerImpl(o, 4, 3), MarrowError);  // image smaller than a patch
}

TEST(PartSelection, PicksArgmaxOfWeightedClassAttention) {
  PartSelectionImpl ps(PartSelectionOptions{2, 2, 4});
  // Make the SE output exactly sigmoid(0) = 0.5 for every (block, head).
  {
    at::NoGradGuard g;
    ps.fc2()->weight.zero_();
    ps.fc2()->bias.zero_();
  }
  // B=1, h=2, N=4. Class-token rows (row 0) per block and head; other rows uniform.
  auto a1 = at::full({1, 2, 4, 4}, 0.25f), a2 = at::full({1, 2, 4, 4}, 0.25f);
  using V = std::vector<float>;
  auto set_row = [](at::Tensor& a, int head, V row) {
    for (int j = 0; j < 4; ++j) a[0][head][0][j] = row[j];
  };
  set_row(a1, 0, V{0.1f, 0.6f, 0.2f, 0.1f});   // block 1, head 0 favours token 1 ...
  set_row(a2, 0, V{0.1f, 0.1f, 0.55f, 0.25f});  // ... block 2 token 2; the sum picks token 2
  set_row(a1, 1, V{0.5f, 0.1f, 0.1f, 0.3f});    // head 1: the class token itself is highest
  set_row(a2, 1, V{0.6f, 0.1f, 0.1f, 0.2f});    // but is excluded; token 3 wins
  auto sel = ps.forward({a1, a2});
  EXPECT_EQ(sel.indices[0][0].item<int64_t>(), 2);  // 0.5*(0.2+0.55) = 0.375 > 0.5*(0.6+0.1)
  EXPECT_EQ(sel.indices[0][1].item<int64_t>(), 3);  // 0.5*(0.3+0.2) beats tokens 1,2; cls skipped
  EXPECT_NEAR(sel.scores[0][0].item<float>(), 0.375f, 1e-6);
  EXPECT_TRUE(at::allclose(sel.weights, at::full({1, 2, 2}, 0.5f)));
  // gather: [cls; token 2; token 3], values unchanged (the gate is 1 in value).
  auto tokens = at::arange(12, at::kFloat).view({1, 4, 3});
  auto g = ps.gather(tokens, sel);
  EXPECT_EQ(g.sizes(), (at::IntArrayRef{1, 3, 3}));
  EXPECT_TRUE(at::equal(g[0][0], tokens[0][0]));
  EXPECT_TRUE(at::allclose(g[0][1], tokens[0][2]));
  EXPECT_TRUE(at::allclose(g[0][2], tokens[0][3]));
}

TEST(ContrastiveLoss, HandComputed) {
  // z0 = (1,0), z1 = (0,1) same class; z2 = (1,1)/sqrt2 other class.
  auto z = at::tensor({1.f, 0.f, 0.f, 2.f, 3.f, 3.f}).view({3, 2});
  auto y = at::tensor({0, 0, 1}, at::kLong);
  // Pairs (ordered, i != j): (0,1),(1,0) same, cos 0 -> 1 each.  (0,2),(2,0),(1,2),(2,1) different,
  // cos = 0.7071 -> max(0.7071-0.4, 0) = 0.3071 each. Diagonal: same class, 1-1 = 0.
  const double c = 1 / std::sqrt(2.0);
  const double expected = (2 * 1.0 + 4 * (c - 0.4)) / 9.0;
  EXPECT_NEAR(contrastive_loss(z, y, 0.4).item<double>(), expected, 1e-6);
  // With a margin above every cosine only the same-class term remains.
  EXPECT_NEAR(contrastive_loss(z, y, 0.9).item<double>(), 2.0 / 9.0, 1e-6);
  EXPECT_THROW(contrastive_loss(z, at::tensor({0, 1}, at::kLong)), MarrowError);
}

// Golden: tools/gen_vit_golden.py runs torch.nn.TransformerEncoderLayer (GELU, batch_first)
// and writes weights, input and output as raw little-endian float32 with a JSON header.
std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v;
  float x;
  while (in.read(reinterpret_cast<char*>(&x), sizeof(float))) v.push_back(x);
  return v;
}

TEST(EncoderBlock, MatchesTorchTransformerEncoderLayer) {
  const std::string dir = std::string(MARROWSCOPE_SOURCE_DIR) + "/tests/golden/vit";
  for (const bool pre : {true, false}) {
    const std::string stem = dir + (pre ? "/block_pre" : "/block_post");
    auto meta = read_json_file(stem + ".json");
    ASSERT_TRUE(meta) << meta.error().message;
    EncoderBlockOptions o;
    o.dim = (*meta)["dim"];
    o.heads = (*meta)["heads"];
    o.mlp_ratio = static_cast<float>((*meta)["ff"].get<int>()) / o.dim;
    o.pre_norm = pre;
    EncoderBlockImpl block(o);
    block.eval();
    auto params = block.named_parameters();
    for (const auto& [name, file] : (*meta)["params"].items()) {
      auto vals = read_floats(stem + "_" + file.get<std::string>());
      auto* p = params.find(name);
      ASSERT_NE(p, nullptr) << name;
      ASSERT_EQ(static_cast<int64_t>(vals.size()), p->numel()) << name;
      at::NoGradGuard g;
      p->copy_(at::from_blob(vals.data(), p->sizes(), at::kFloat));
    }
    const std::vector<int64_t> shape = (*meta)["input_shape"];
    auto x = read_floats(stem + "_input.bin"), y = read_floats(stem + "_output.bin");
    auto out = block.forward(at::from_blob(x.data(), shape, at::kFloat).clone());
    auto expect = at::from_blob(y.data(), shape, at::kFloat);
    EXPECT_LT((out.tokens - expect).abs().max().item<float>(), 1e-5) << (pre ? "pre" : "post");
  }
}

}  // namespace
}  // namespace ms
