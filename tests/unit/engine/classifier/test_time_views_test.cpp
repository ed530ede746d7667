// Test-time views (models/classifier/test_time_views.h): the eight dihedral views are distinct and
// every prefix the classifier uses (2, 4, 8) is closed under composition, so the averaged answer of
// a tiny CNN with random weights (which is not orientation-invariant by itself) does not change
// when its input is flipped (4 views) or rotated by 90 degrees (8 views). Also: model.json's
// test_time_views is validated, the predictor applies it, and the CLI's --views reaches it.
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/predict/classifier_predictor.h"
#include "models/classifier/test_time_views.h"
#include "models/runtime.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// The index v' with dihedral_view(x, v') == t, or -1.
int which_view(const at::Tensor& x, const at::Tensor& t, int views) {
  for (int v = 0; v < views; ++v)
    if (at::equal(dihedral_view(x, v), t)) return v;
  return -1;
}

TEST(TestTimeViews, EightDistinctViewsAndEveryPrefixIsAGroup) {
  const auto x = at::arange(9, at::kFloat).view({1, 1, 3, 3});
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) EXPECT_FALSE(at::equal(dihedral_view(x, a), dihedral_view(x, b))) << a << " " << b;
  // Closure: a view of a view is again one of the first n views, for n = 2, 4 and 8.
  for (int n : {2, 4, 8})
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b)
        EXPECT_GE(which_view(x, dihedral_view(dihedral_view(x, a), b), n), 0) << "n=" << n << " a=" << a << " b=" << b;
  // Views 4..7 include the rotations by 90 and 270 degrees (cv::rotate agrees on a plain matrix).
  cv::Mat m(3, 3, CV_32F, x.data_ptr<float>()), r;
  cv::rotate(m, r, cv::ROTATE_90_CLOCKWISE);
  const auto rt = at::from_blob(r.data, {1, 1, 3, 3}, at::kFloat).clone();
  EXPECT_GE(which_view(x, rt, 8), 4);
  EXPECT_THROW(dihedral_view(x, 8), MarrowError);
  EXPECT_THROW(dihedral_view(at::zeros({1, 1, 3, 4}), 1), MarrowError);
  EXPECT_TRUE(valid_test_time_views(1) && valid_test_time_views(8));
  EXPECT_FALSE(valid_test_time_views(3) || valid_test_time_views(0) || valid_test_time_views(16));
}

std::shared_ptr<ClassifierNetImpl> tiny_cnn(ClassifierModelOptions& o) {
  o.arch = ClassifierArch::kCnn;
  o.input_size = 32;
  o.cnn.backbone.width = 0.125f;
  at::manual_seed(3);
  auto net = make_classifier(o, 5);
  net->eval();
  return net;
}

TEST(TestTimeViews, AveragedProbabilitiesAreInvariantWhereTheViewsSaySo) {
  init_torch_runtime();
  c10::NoGradGuard no_grad;
  ClassifierModelOptions o;
  auto net = tiny_cnn(o);
  at::manual_seed(4);
  const auto x = at::randn({3, 3, 32, 32});
  const auto hflip = x.flip({3});
  const auto rot90 = x.transpose(2, 3).flip({3}).contiguous();

  // One view is the plain softmax, and the network alone is not orientation-invariant (otherwise
  // the checks below could not fail).
  const auto p1 = forward_views(*net, x, 1, false).probs;
  EXPECT_TRUE(at::allclose(p1, at::softmax(net->forward(x).logits, 1)));
  EXPECT_GT((forward_views(*net, rot90, 1, false).probs - p1).abs().max().item<float>(), 1e-4);
  EXPECT_GT((forward_views(*net, hflip, 1, false).probs - p1).abs().max().item<float>(), 1e-4);

  const auto p4 = forward_views(*net, x, 4, false).probs;
  EXPECT_TRUE(at::allclose(p4, forward_views(*net, hflip, 4, false).probs, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(p4.sum(1), at::ones({3}), 1e-5, 1e-6));

  const auto p8 = forward_views(*net, x, 8, true);
  const auto q8 = forward_views(*net, rot90, 8, true);
  EXPECT_TRUE(at::allclose(p8.probs, q8.probs, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(p8.embedding, q8.embedding, 1e-4, 1e-5));
  // The mean of the eight per-view softmaxes, by hand.
  auto sum = at::zeros_like(p1);
  for (int v = 0; v < 8; ++v) sum += at::softmax(net->forward(dihedral_view(x, v)).logits, 1);
  EXPECT_TRUE(at::allclose(p8.probs, sum / 8.0, 1e-5, 1e-7));
  EXPECT_THROW(forward_views(*net, x, 3, false), MarrowError);
}

// Views are batched together up to kViewBatch crops per pass (all 8 views of 3 crops in one pass,
// 3 + 3 + 2 views of 20 crops, one view at a time for 40): the same averages as one pass per view,
// crop by crop (a view/crop mix-up in the batched layout would give another crop's answer).
TEST(TestTimeViews, BatchedViewsGiveTheAverageOfOnePassPerView) {
  init_torch_runtime();
  c10::NoGradGuard no_grad;
  ClassifierModelOptions o;
  auto net = tiny_cnn(o);
  net->eval();
  at::manual_seed(5);
  for (int64_t b : {1, 3, 20, 40}) {
    const auto x = at::randn({b, 3, 32, 32});
    const auto got = forward_views(*net, x, 8, true);
    at::Tensor probs, emb;
    for (int v = 0; v < 8; ++v) {
      auto r = net->forward(dihedral_view(x, v));
      auto p = at::softmax(r.logits, 1);
      probs = v == 0 ? p : probs + p;
      emb = v == 0 ? r.embedding : emb + r.embedding;
    }
    EXPECT_TRUE(at::allclose(got.probs, probs / 8.0, 1e-5, 1e-6)) << "batch " << b;
    EXPECT_TRUE(at::allclose(got.embedding, emb / 8.0, 1e-4, 1e-5)) << "batch " << b;
  }
}

class TestTimeViewsModel : public ::testing::Test {
 protected:
  void SetUp() override {
    init_torch_runtime();
    dir_ = fs::temp_directory_path() / "ms_tta_model";
    fs::remove_all(dir_);
    ClassifierModelInfo info;
    info.version = "tiny-tta";
    info.classes = {"a", "b", "c", "d", "e"};
    auto net = tiny_cnn(info.model);
    info.test_time_views = 8;
    info.crop_fraction = 0.8;  // crops resized to 40 px, then the centre 32 px (4 px off each side)
    ASSERT_TRUE(write_classifier_model(dir_.string(), *net, info));
  }
  void set_views_in_json(const Json& value) {
    auto j = read_json_file((dir_ / "model.json").string());
    ASSERT_TRUE(j);
    if (value.is_null())
      j->erase("test_time_views");
    else
      (*j)["test_time_views"] = value;
    ASSERT_TRUE(write_json_file((dir_ / "model.json").string(), *j));
  }
  fs::path dir_;
};

TEST_F(TestTimeViewsModel, ModelJsonIsValidatedAndDefaultsToOneView) {
  auto info = read_classifier_model_info(dir_.string());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->test_time_views, 8);
  set_views_in_json(3);
  auto bad = read_classifier_model_info(dir_.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("$.test_time_views"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("1, 2, 4 or 8"), std::string::npos) << bad.error().message;
  set_views_in_json("eight");
  EXPECT_FALSE(read_classifier_model_info(dir_.string()));
  set_views_in_json(nullptr);  // a folder written before the key existed
  info = read_classifier_model_info(dir_.string());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->test_time_views, 1);
}

TEST_F(TestTimeViewsModel, PredictorGivesTheSameAnswerForARotatedCrop) {
  auto p = ClassifierPredictor::load(dir_.string());
  ASSERT_TRUE(p) << p.error().message;
  auto& pred = **p;
  EXPECT_EQ(pred.test_time_views(), 8);
  // 40 px, the model's resize size, so no interpolation blurs the comparison: the invariance is
  // exact for the tensors; resampling a rotated image can move pixel values by a rounding step.
  cv::Mat crop(40, 40, CV_8UC3);
  cv::randu(crop, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::circle(crop, {15, 12}, 7, cv::Scalar(150, 20, 90), cv::FILLED);
  cv::Mat turned, flipped;
  cv::rotate(crop, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  cv::flip(crop, flipped, 0);
  auto r = pred.classify({crop, turned, flipped});
  ASSERT_EQ(r.size(), 3u);
  for (int k : {1, 2})
    for (size_t c = 0; c < r[0].probs.size(); ++c) EXPECT_NEAR(r[k].probs[c], r[0].probs[c], 1e-5) << k << " " << c;

  pred.set_test_time_views(1);  // the crop only: the random network answers differently
  auto s = pred.classify({crop, turned});
  float diff = 0;
  for (size_t c = 0; c < s[0].probs.size(); ++c) diff = std::max(diff, std::abs(s[0].probs[c] - s[1].probs[c]));
  EXPECT_GT(diff, 1e-4);
  EXPECT_THROW(pred.set_test_time_views(5), MarrowError);
  EXPECT_EQ(pred.test_time_views(), 1);
}

TEST_F(TestTimeViewsModel, EachCropOfABatchGetsTheAnswerItGetsAlone) {
  // The crops of a batch are prepared on several threads, each writing its own slice of the batch
  // tensor; a crop must get the same answer in a batch as alone, whatever its size (shrunk by the
  // area resize, kept, or enlarged).
  at::set_num_threads(2);
  auto p = ClassifierPredictor::load(dir_.string());
  ASSERT_TRUE(p) << p.error().message;
  auto& pred = **p;
  std::vector<cv::Mat> crops;
  cv::RNG rng(3);
  for (int i = 0; i < 13; ++i) {
    const int side = i % 3 == 0 ? 97 + i : i % 3 == 1 ? 40 : 23;
    cv::Mat crop(side, side + i % 2, CV_8UC3);
    rng.fill(crop, cv::RNG::UNIFORM, 0, 256);
    cv::circle(crop, {side / 2, side / 3}, side / 4, cv::Scalar(40 * (i % 6), 20, 200 - 10 * i), cv::FILLED);
    crops.push_back(crop);
  }
  const auto batch = pred.classify(crops);
  ASSERT_EQ(batch.size(), crops.size());
  float spread = 0;
  for (size_t i = 0; i < crops.size(); ++i) {
    const auto alone = pred.classify({crops[i]});
    ASSERT_EQ(alone.size(), 1u);
    for (size_t c = 0; c < alone[0].probs.size(); ++c) {
      EXPECT_NEAR(batch[i].probs[c], alone[0].probs[c], 1e-5) << "crop " << i << " class " << c;
      spread = std::max(spread, std::abs(batch[i].probs[c] - batch[0].probs[c]));
    }
  }
  EXPECT_GT(spread, 1e-4);  // the crops differ, so a crop answered with another's slice would show
}

}  // namespace
}  // namespace ms
