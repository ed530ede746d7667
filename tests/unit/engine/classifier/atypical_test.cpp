// The atypical score: Mahalanobis distance to the nearest class mean under a shared covariance,
// as a share of held-out reference cells, its file, and the predictor that reads it.
#include "engine/classifier/atypical.h"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/predict/classifier_predictor.h"
#include "models/classifier/classifier_factory.h"
#include "models/runtime.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// Two classes in 2-D: means (0,0) and (10,0); within-class spread sd 1 along x and sd 3 along y.
void two_clusters(int n, std::mt19937& rng, std::vector<std::vector<float>>& x, std::vector<int>& y) {
  std::normal_distribution<float> nx(0.f, 1.f), ny(0.f, 3.f);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < 2; ++c) {
      x.push_back({10.f * c + nx(rng), ny(rng)});
      y.push_back(c);
    }
}

TEST(Atypical, DistanceIsMahalanobisToTheNearestClassUnderTheSharedCovariance) {
  std::mt19937 rng(5);
  std::vector<std::vector<float>> x, cal;
  std::vector<int> y, ycal;
  two_clusters(4000, rng, x, y);
  two_clusters(500, rng, cal, ycal);
  auto ref = fit_atypical(x, y, {"a", "b"}, cal, 0.0);
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->dim, 2);
  EXPECT_NEAR(ref->means[1][0], 10.0, 0.1);
  // Precision ~ diag(1, 1/9): 3 units along y count as 1 along x.
  EXPECT_NEAR(ref->precision[0], 1.0, 0.08);
  EXPECT_NEAR(ref->precision[3], 1.0 / 9.0, 0.01);
  EXPECT_NEAR(std::abs(ref->precision[1]), 0.0, 0.02);
  const float along_x[2] = {12.f, 0.f}, along_y[2] = {10.f, 6.f}, middle[2] = {5.f, 0.f};
  EXPECT_NEAR(atypical_distance(*ref, along_x), 4.0, 0.4);
  EXPECT_NEAR(atypical_distance(*ref, along_y), 4.0, 0.4);  // 6 along y = 2 sd, as 2 along x
  EXPECT_NEAR(atypical_distance(*ref, middle), 25.0, 2.5);  // nearest mean is 5 sd away
  // As a share of the held-out cells: a chi-square(2) distance of 4 is beyond ~86% of them.
  EXPECT_NEAR(atypical_score(*ref, 4.0), 0.86, 0.04);
  EXPECT_FLOAT_EQ(atypical_score(*ref, 1e9), 1.f);
  EXPECT_FLOAT_EQ(atypical_score(*ref, -1.0), 0.f);
  const float at_mean[2] = {0.f, 0.f};
  EXPECT_LT(atypical_score(*ref, atypical_distance(*ref, at_mean)), 0.01f);
}

TEST(Atypical, ScorerGivesTheDefinitionsDistanceForEveryCell) {
  // 7 classes in 48-D with correlated features, so the precision matrix is dense; the scorer's
  // expanded form must give atypical_distance's value near a class mean (small distances, where
  // the expansion cancels most) and far from every mean.
  std::mt19937 rng(11);
  std::normal_distribution<float> n01(0.f, 1.f);
  const int d = 48, classes = 7;
  std::vector<std::vector<float>> mix(d, std::vector<float>(d));
  for (auto& row : mix)
    for (auto& v : row) v = n01(rng) * 0.3f;
  auto cell = [&](int c, float spread) {
    std::vector<float> z(d), x(d, 0.f);
    for (auto& v : z) v = n01(rng) * spread;
    for (int r = 0; r < d; ++r) {
      for (int k = 0; k < d; ++k) x[r] += mix[r][k] * z[k];
      x[r] += (r % classes == c ? 5.f : 0.f) + z[r];
    }
    return x;
  };
  std::vector<std::vector<float>> x, cal, probe;
  std::vector<int> y;
  for (int i = 0; i < 1400; ++i) {
    x.push_back(cell(i % classes, 1.f));
    y.push_back(i % classes);
  }
  for (int i = 0; i < 200; ++i) cal.push_back(cell(i % classes, 1.f));
  for (int i = 0; i < 100; ++i) probe.push_back(cell(i % classes, i < 50 ? 0.05f : 4.f));
  std::vector<std::string> names;
  for (int c = 0; c < classes; ++c) names.push_back("c" + std::to_string(c));
  auto ref = fit_atypical(x, y, names, cal, 0.05);
  ASSERT_TRUE(ref) << ref.error().message;
  const AtypicalScorer scorer(*ref);
  for (const auto& e : probe) {
    const double want = atypical_distance(*ref, e.data());
    EXPECT_NEAR(scorer.distance(e.data()), want, 1e-9 * std::max(1.0, want));
    EXPECT_FLOAT_EQ(scorer.score(e.data()), atypical_score(*ref, want));
  }
  // The probes span both ends: some near a mean, some far beyond every calibration cell.
  EXPECT_LT(scorer.score(probe.front().data()), 0.2f);
  EXPECT_FLOAT_EQ(scorer.score(probe.back().data()), 1.f);
}

TEST(Atypical, ShrinkageMakesADegenerateCovarianceInvertible) {
  // Every cell has the same second feature: the covariance is singular without shrinkage.
  std::vector<std::vector<float>> x = {{0, 1}, {1, 1}, {2, 1}, {10, 1}, {11, 1}, {12, 1}};
  std::vector<int> y = {0, 0, 0, 1, 1, 1};
  auto singular = fit_atypical(x, y, {"a", "b"}, x, 0.0);
  ASSERT_FALSE(singular);
  EXPECT_NE(singular.error().message.find("shrinkage"), std::string::npos) << singular.error().message;
  auto ref = fit_atypical(x, y, {"a", "b"}, x, 0.1);
  ASSERT_TRUE(ref) << ref.error().message;
  const float off[2] = {1.f, 3.f};  // off the line every cell lay on: far beyond them all
  EXPECT_FLOAT_EQ(atypical_score(*ref, atypical_distance(*ref, off)), 1.f);
}

TEST(Atypical, FitRefusesWhatItCannotUse) {
  std::vector<std::vector<float>> x = {{0, 1}, {1, 2}};
  auto msg = [](const Result<AtypicalReference>& r) { return r ? std::string("accepted") : r.error().message; };
  EXPECT_NE(msg(fit_atypical({}, {}, {"a", "b"}, x)).find("no cells"), std::string::npos);
  EXPECT_NE(msg(fit_atypical(x, {0, 0}, {"a", "b"}, x)).find("class b has no cells"), std::string::npos);
  EXPECT_NE(msg(fit_atypical(x, {0, 2}, {"a", "b"}, x)).find("label"), std::string::npos);
  EXPECT_NE(msg(fit_atypical(x, {0, 1}, {"a", "b"}, {})).find("calibration"), std::string::npos);
  EXPECT_NE(msg(fit_atypical({{0, 1}, {1}}, {0, 1}, {"a", "b"}, x)).find("embedding size"), std::string::npos);
  EXPECT_NE(msg(fit_atypical(x, {0, 1}, {"a", "b"}, x, 1.0)).find("shrinkage"), std::string::npos);
}

TEST(Atypical, FileRoundTripsAndBadFilesAreNamed) {
  const fs::path dir = fs::temp_directory_path() / "ms_atypical_file";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::mt19937 rng(9);
  std::vector<std::vector<float>> x, cal;
  std::vector<int> y, ycal;
  two_clusters(200, rng, x, y);
  two_clusters(50, rng, cal, ycal);
  auto ref = fit_atypical(x, y, {"a", "b"}, cal);
  ASSERT_TRUE(ref);
  auto missing = read_atypical(dir.string(), {"a", "b"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(write_atypical(dir.string(), *ref));
  auto back = read_atypical(dir.string(), {"a", "b"});
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->calibration, ref->calibration);
  EXPECT_EQ(back->precision, ref->precision);
  // Another classifier's class list is refused, naming the key.
  auto other = read_atypical(dir.string(), {"a", "c"});
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("$.classes"), std::string::npos) << other.error().message;
  // A truncated precision matrix is refused, naming the key (a short read would index past it).
  auto j = read_json_file((dir / kAtypicalFile).string());
  ASSERT_TRUE(j);
  (*j)["precision"].erase(0);
  ASSERT_TRUE(write_json_file((dir / kAtypicalFile).string(), *j));
  auto cut = read_atypical(dir.string(), {"a", "b"});
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().message.find("$.precision"), std::string::npos) << cut.error().message;
  (*j)["format"] = "marrowscope-classifier/1";
  ASSERT_TRUE(write_json_file((dir / kAtypicalFile).string(), *j));
  EXPECT_FALSE(read_atypical(dir.string(), {"a", "b"}));
  fs::remove_all(dir);
}

// A tiny random CNN folder; with a reference fitted on its own embeddings of plain grey crops,
// the predictor scores a grey crop as typical and a noise crop as beyond every reference cell.
TEST(Atypical, PredictorScoresCellsWhenTheFolderHasAReference) {
  init_torch_runtime();
  const fs::path dir = fs::temp_directory_path() / "ms_atypical_model";
  fs::remove_all(dir);
  ClassifierModelInfo info;
  info.version = "tiny-atypical";
  info.classes = {"a", "b"};
  info.model.arch = ClassifierArch::kCnn;
  info.model.input_size = 32;
  info.model.cnn.backbone.width = 0.125f;
  info.crop_fraction = 0.8;
  at::manual_seed(3);
  auto net = make_classifier(info.model, 2);
  ASSERT_TRUE(write_classifier_model(dir.string(), *net, info));

  auto grey = [](int level, int r) {
    cv::Mat m(40, 40, CV_8UC3, cv::Scalar::all(level));
    cv::circle(m, {20, 20}, r, cv::Scalar(level / 2, level / 3, level / 2), cv::FILLED);
    return m;
  };
  std::vector<cv::Mat> fit, cal;
  std::vector<int> labels;
  for (int i = 0; i < 40; ++i) {
    fit.push_back(grey(150 + i, 6 + i % 5));
    labels.push_back(i % 2);
    cal.push_back(grey(152 + i, 7 + i % 4));
  }
  {
    auto p = ClassifierPredictor::load(dir.string());
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_FALSE((*p)->has_atypical());
    EXPECT_EQ((*p)->classify({fit[0]})[0].atypical, -1.f);
    auto ref = fit_atypical((*p)->embed(fit), labels, info.classes, (*p)->embed(cal), 0.2);
    ASSERT_TRUE(ref) << ref.error().message;
    ASSERT_TRUE(write_atypical(dir.string(), *ref));
  }
  auto p = ClassifierPredictor::load(dir.string());
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE((*p)->has_atypical());
  cv::Mat noise(40, 40, CV_8UC3);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
  auto r = (*p)->classify({grey(170, 8), noise});
  EXPECT_LT(r[0].atypical, 0.9f);
  EXPECT_FLOAT_EQ(r[1].atypical, 1.f);

  // A reference of another embedding size is refused when used, not read past.
  auto j = read_json_file((dir / kAtypicalFile).string());
  ASSERT_TRUE(j);
  (*j)["dim"] = 3;
  (*j)["means"] = Json::array({Json::array({0, 0, 0}), Json::array({1, 1, 1})});
  (*j)["precision"] = Json::array({1, 0, 0, 0, 1, 0, 0, 0, 1});
  ASSERT_TRUE(write_json_file((dir / kAtypicalFile).string(), *j));
  auto wrong = ClassifierPredictor::load(dir.string());
  ASSERT_TRUE(wrong);
  EXPECT_THROW((*wrong)->classify({noise}), MarrowError);
  // A malformed reference is an error at load, not a silent absence of the score.
  ASSERT_TRUE(write_json_file((dir / kAtypicalFile).string(), Json{{"format", kAtypicalFormat}, {"dim", "x"}}));
  EXPECT_FALSE(ClassifierPredictor::load(dir.string()));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ms
