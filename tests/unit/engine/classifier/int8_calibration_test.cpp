// The classifier's 8-bit path through the predictor: ranges measured on a folder's cells, written
// as int8.json, used when MARROWSCOPE_PRECISION=int8 asks for it; a stale, malformed or missing
// calibration is named or falls back, never used blindly.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "core/image.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/int8_calibration.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/int8_measure.h"
#include "models/backbone/resnet.h"
#include "models/classifier/classifier_factory.h"
#include "models/runtime.h"
#include "unit/precision_env.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// Sets MARROWSCOPE_PRECISION for one load.
std::unique_ptr<ClassifierPredictor> load_as(const fs::path& dir, const char* precision) {
  std::optional<testing::PrecisionEnv> env1;
  env1.emplace(precision);
  auto p = ClassifierPredictor::load(dir.string());
  env1.reset();
  EXPECT_TRUE(p) << (p ? "" : p.error().message);
  return p ? std::move(*p) : nullptr;
}

class Int8Calibrated : public ::testing::Test {
 protected:
  void SetUp() override {
    init_torch_runtime();
    dir_ = fs::temp_directory_path() / "ms_int8_model";
    fs::remove_all(dir_);
    ClassifierModelInfo info;
    info.version = "tiny-int8";
    info.classes = {"a", "b", "c"};
    info.model.arch = ClassifierArch::kCnn;
    info.model.input_size = 32;
    info.model.cnn.backbone.width = 0.25f;
    info.crop_fraction = 0.8;
    info.test_time_views = 2;
    at::manual_seed(5);
    auto net = make_classifier(info.model, 3);
    ASSERT_TRUE(write_classifier_model(dir_.string(), *net, info));
    for (int i = 0; i < 24; ++i) {
      cv::Mat m(40 + i % 3, 40, CV_8UC3, cv::Scalar(230 - i, 225, 235));
      cv::circle(m, {20 + i % 5 - 2, 20}, 7 + i % 6, cv::Scalar(150 + 3 * i, 60 + 2 * i, 120), cv::FILLED);
      cells_.push_back(m);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  Int8Calibration measure() {
    auto p = load_as(dir_, "fp32");
    std::vector<std::pair<float, float>> ranges;
    EXPECT_TRUE(p->observe_int8_activations(
        cells_, [&](size_t i, const at::Tensor& t) { widen_activation_range(ranges, i, t); }));
    Int8Calibration c;
    c.model_version = p->version();
    for (const auto& r : ranges) c.ranges.push_back({r.first, r.second});
    return c;
  }

  fs::path dir_;
  std::vector<cv::Mat> cells_;
};

TEST_F(Int8Calibrated, PredictorRunsInt8WhenAskedAndCalibrated) {
  if (!cpu_has_int8_dot_products()) GTEST_SKIP() << "no VNNI or no oneDNN quantized engine";
  // Without a calibration, int8 asked runs what auto would.
  EXPECT_EQ(load_as(dir_, "int8")->precision(), precision_name(usable_precision(Precision::kBf16, false)));
  ASSERT_TRUE(write_int8_calibration(dir_.string(), measure()));
  auto f = load_as(dir_, "fp32");
  auto q = load_as(dir_, "int8");
  ASSERT_TRUE(f && q);
  EXPECT_EQ(f->precision(), "fp32");
  EXPECT_EQ(q->precision(), "int8");
  const auto a = f->classify(cells_), b = q->classify(cells_);
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t c = 0; c < a[i].probs.size(); ++c)
      worst = std::max(worst, double(std::fabs(a[i].probs[c] - b[i].probs[c])));
  EXPECT_GT(worst, 0.0) << "int8 ran: its probabilities cannot equal float32's everywhere";
  EXPECT_LT(worst, 0.05);
  // The pipeline's streams call one predictor from several threads at once: the shared 8-bit
  // weights give each caller the answer it gets alone.
  std::vector<ClassPrediction> t1, t2;
  std::thread x([&] { for (int k = 0; k < 5; ++k) t1 = q->classify(cells_); });
  std::thread y([&] { for (int k = 0; k < 5; ++k) t2 = q->classify(cells_); });
  x.join();
  y.join();
  // (Integer convolutions are exact; the float head may round differently with another thread count.)
  ASSERT_EQ(t1.size(), b.size());
  ASSERT_EQ(t2.size(), b.size());
  for (size_t i = 0; i < b.size(); ++i)
    for (size_t c = 0; c < b[i].probs.size(); ++c) {
      EXPECT_NEAR(t1[i].probs[c], b[i].probs[c], 1e-4) << i;
      EXPECT_NEAR(t2[i].probs[c], b[i].probs[c], 1e-4) << i;
    }
  // Embeddings (what the atypical score reads) go through the same path.
  const auto ea = f->embed(cells_), eb = q->embed(cells_);
  ASSERT_EQ(ea.size(), eb.size());
  EXPECT_NE(ea[0], eb[0]);
}

TEST_F(Int8Calibrated, CalibrationFileRoundTripsAndCoversEveryPoint) {
  const Int8Calibration c = measure();
  ASSERT_GT(c.ranges.size(), 10u);
  for (const auto& r : c.ranges) EXPECT_LE(r[0], r[1]);
  ASSERT_TRUE(write_int8_calibration(dir_.string(), c));
  auto back = read_int8_calibration(dir_.string(), "tiny-int8");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->ranges, c.ranges);
  EXPECT_EQ(read_int8_calibration((dir_ / "nowhere").string(), "tiny-int8").error().code, ErrorCode::kNotFound);

  // A derived model is measured by its base's rule: the recorded one, the fallback for a file
  // without it, none (kNotFound) for a base without a calibration, an error for another version's.
  Int8Calibration with = c;
  with.provenance = {{"method", "mse"}};
  ASSERT_TRUE(write_int8_calibration(dir_.string(), with));
  EXPECT_EQ(base_int8_method(dir_.string(), "tiny-int8", "minmax").value_or("?"), "mse");
  with.provenance = Json::object();
  ASSERT_TRUE(write_int8_calibration(dir_.string(), with));
  EXPECT_EQ(base_int8_method(dir_.string(), "tiny-int8", "minmax").value_or("?"), "minmax");
  EXPECT_EQ(base_int8_method((dir_ / "nowhere").string(), "tiny-int8", "minmax").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(base_int8_method(dir_.string(), "other-weights", "minmax").error().code, ErrorCode::kInvalidArgument);
}

TEST_F(Int8Calibrated, StaleOrMalformedCalibrationIsNamed) {
  Int8Calibration c = measure();
  c.model_version = "some-other-version";
  ASSERT_TRUE(write_int8_calibration(dir_.string(), c));
  auto stale = read_int8_calibration(dir_.string(), "tiny-int8");
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("measured on model version 'some-other-version'"), std::string::npos)
      << stale.error().message;
  if (cpu_has_int8_dot_products()) {
    std::optional<testing::PrecisionEnv> env2;
    env2.emplace("int8");
    auto p = ClassifierPredictor::load(dir_.string());
    env2.reset();
    EXPECT_FALSE(p) << "a stale calibration is an error when int8 is asked for";
    // Another precision does not read it.
    EXPECT_EQ(load_as(dir_, "fp32")->precision(), "fp32");
    // An explicit precision wins over the environment, so a process that runs int8 (the server
    // adapting a model) still measures a new calibration over the stale one, in float32.
    env2.emplace("int8");
    auto f = ClassifierPredictor::load(dir_.string(), "cpu", Precision::kFp32);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ((*f)->precision(), "fp32");
    Int8MeasureRequest m;
    m.model_dir = dir_.string();
    for (size_t i = 0; i < cells_.size(); ++i) {
      m.image_paths.push_back((dir_ / ("cell" + std::to_string(i) + ".png")).string());
      ASSERT_TRUE(write_image(m.image_paths.back(), cells_[i]));
    }
    auto replaced = calibrate_classifier_int8(m);
    ASSERT_TRUE(replaced) << replaced.error().message;
    EXPECT_EQ(replaced->model_version, "tiny-int8");
    EXPECT_EQ(replaced->ranges, measure().ranges) << "the same ranges as measured here, by the one rule";
    auto now = ClassifierPredictor::load(dir_.string());
    env2.reset();
    ASSERT_TRUE(now) << now.error().message;
    EXPECT_EQ((*now)->precision(), "int8");
  }
  // Wrong shapes are refused when written and when read.
  c = measure();
  c.ranges[3] = {1.0, -1.0};
  EXPECT_FALSE(write_int8_calibration(dir_.string(), c));
  Json j = config_to_json(measure());
  j["ranges"][2] = Json::array({0.0});
  ASSERT_TRUE(write_json_file((dir_ / kInt8File).string(), j));
  auto bad = read_int8_calibration(dir_.string(), "tiny-int8");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("ranges[2]"), std::string::npos) << bad.error().message;
  // A well-formed file with one range too few fits no network of this shape: refused at load.
  if (cpu_has_int8_dot_products()) {
    c = measure();
    c.ranges.pop_back();
    ASSERT_TRUE(write_int8_calibration(dir_.string(), c));
    std::optional<testing::PrecisionEnv> env3;
    env3.emplace("int8");
    auto p = ClassifierPredictor::load(dir_.string());
    env3.reset();
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("activation ranges"), std::string::npos) << p.error().message;
  }
}

// Hand-worked cases of the clip search (values at bin centres).
TEST(MseClipRange, KeepsAnEvenSpreadAndCutsAThinTail) {
  // Evenly spread over [0, 1]: any cut costs more than the finer steps save.
  std::vector<double> even(256, 100.0);
  auto r = mse_clip_range(even, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.first, 0.0);
  EXPECT_DOUBLE_EQ(r.second, 1.0);
  // A million values in [0, 0.1) and one at 0.998: an edge b costs 1e6 b^2 / (255^2 12) for the
  // steps plus (0.998 - b)^2 for the cut value, least at b = 0.998 / (1 + 1e6 / 780300) = 0.437
  // (0.56, against 1.28 for covering it all and 0.82 for cutting at 0.1). Candidate edges are
  // every 2nd bin edge here (256 bins / 128): 0.4375.
  std::vector<double> tail(256, 0.0);
  for (int k = 0; k < 25; ++k) tail[k] = 40000.0;
  tail[255] = 1.0;
  r = mse_clip_range(tail, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.first, 0.0);
  EXPECT_DOUBLE_EQ(r.second, 0.4375);
  // Signed values: the range keeps zero inside, and is not cut where the mass is.
  std::vector<double> both(256, 0.0);
  for (int k = 64; k < 192; ++k) both[k] = 1000.0;
  r = mse_clip_range(both, -2.0, 2.0);
  EXPECT_LE(r.first, -1.0 + 1e-9);
  EXPECT_GE(r.second, 1.0 - 1e-9);
  EXPECT_GT(r.first, -2.0);
  EXPECT_LT(r.second, 2.0);
  // Nothing to choose from: the range comes back as given.
  r = mse_clip_range({}, -1.0, 3.0);
  EXPECT_DOUBLE_EQ(r.first, -1.0);
  EXPECT_DOUBLE_EQ(r.second, 3.0);
}

}  // namespace
}  // namespace ms
