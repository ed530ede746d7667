// Adapting a classifier to a lab: a tiny CNN taught coloured discs on a light background meets a
// "lab" whose images are colour-inverted (dark background); adapt fine-tunes it on a few of that
// lab's cells with replay of the original ones, early-stops on held-back lab cells, and writes a
// new folder that knows both, leaving the base folder unchanged.
#include "engine/classifier/classifier_adapt.h"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "engine/classifier/atypical.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/classifier/classifier_trainer.h"
#include "engine/int8_calibration.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/int8_measure.h"
#include "models/runtime.h"
#include "unit/engine/classifier/classifier_test_support.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

const char* kClasses[3] = {"a_blue", "b_green", "c_red"};

// DIR/<class>/<i>.png: n discs per class, inverted (255 - pixel) for the lab.
fs::path make_cells(const std::string& name, int n, bool inverted, uint32_t seed) {
  const fs::path root = fs::temp_directory_path() / name;
  fs::remove_all(root);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> jitter(-4, 4), radius(9, 13);
  const cv::Scalar colours[3] = {{200, 60, 40}, {40, 180, 40}, {40, 40, 200}};
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(root / kClasses[c]);
    for (int i = 0; i < n; ++i) {
      cv::Mat img(40, 40, CV_8UC3, cv::Scalar(235, 235, 235));
      cv::circle(img, {20 + jitter(rng), 20 + jitter(rng)}, radius(rng), colours[c], cv::FILLED);
      if (inverted) img = cv::Scalar::all(255) - img;
      EXPECT_TRUE(write_image((root / kClasses[c] / (std::to_string(i) + ".png")).string(), img));
    }
  }
  return root;
}

class ClassifierAdaptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    init_torch_runtime();
    base_data_ = make_cells("ms_adapt_base_cells", 30, false, 5);
    const fs::path run = fs::temp_directory_path() / "ms_adapt_base_run";
    fs::remove_all(run);
    ClassifierTrainRequest r = testing::tiny_cnn_request(base_data_, run, 6);
    r.config.data.crop_fraction = 0.8;
    auto t = train_classifier(r);
    ASSERT_TRUE(t) << t.error().message;
    base_ = t->model_dir;
    // The base run's training cells (class<TAB>path lines) are the replay list.
    replay_list_ = (run / "train.txt").string();
  }
  AdaptRequest request(const fs::path& lab, const std::string& out_name) const {
    AdaptRequest r;
    r.base_model = base_;
    r.lab_cells = lab.string();
    r.replay_list = replay_list_;
    r.replay_data = base_data_.string();
    r.out = (fs::temp_directory_path() / out_name).string();
    fs::remove_all(r.out);
    r.options.max_epochs = 8;
    r.options.lr = 0.03;
    r.options.min_replay = 40;
    return r;
  }
  static double accuracy_on(const std::string& model, const fs::path& cells) {
    auto p = ClassifierPredictor::load(model);
    EXPECT_TRUE(p) << p.error().message;
    int right = 0, n = 0;
    for (int c = 0; c < 3; ++c)
      for (const auto& e : fs::directory_iterator(cells / kClasses[c])) {
        auto img = read_image(e.path().string());
        right += (*p)->classify({*img})[0].class_id == c;
        ++n;
      }
    return static_cast<double>(right) / n;
  }
  static inline fs::path base_data_;
  static inline std::string base_, replay_list_;
};

TEST_F(ClassifierAdaptTest, LearnsTheLabWithoutForgettingAndLeavesTheBaseAlone) {
  const fs::path lab = make_cells("ms_adapt_lab_cells", 10, true, 17);
  const fs::path lab_test = make_cells("ms_adapt_lab_test", 20, true, 23);
  const fs::path base_test = make_cells("ms_adapt_base_test", 20, false, 29);
  const std::string base_weights = testing::slurp(fs::path(base_) / "model.pt");
  const double lab_before = accuracy_on(base_, lab_test);
  ASSERT_GE(accuracy_on(base_, base_test), 0.9) << "the base model did not learn its own cells";

  auto req = request(lab, "ms_adapt_out");
  std::vector<std::string> lines;
  req.log = [&](const std::string& s) { lines.push_back(s); };
  auto r = adapt_classifier(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->held_back, 9);  // 30% of 10 per class
  EXPECT_EQ(r->lab_train, 21);
  EXPECT_EQ(r->replay, 40);    // min_replay, as 1 x 21 is fewer
  EXPECT_GT(r->after_accuracy, r->before_accuracy);
  EXPECT_GE(r->best_epoch, 1);
  EXPECT_FALSE(lines.empty());
  // The new folder: loads, names its base, and classifies unseen cells of both labs.
  auto info = read_classifier_model_info(r->model_dir);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->version, r->version);
  EXPECT_NE(info->version.find("-adapted-"), std::string::npos) << info->version;
  EXPECT_EQ(info->provenance.at("adaptation").at("held_back"), 9);
  EXPECT_TRUE(fs::exists(fs::path(r->model_dir) / "adaptation.json"));
  const double lab_after = accuracy_on(r->model_dir, lab_test);
  EXPECT_GT(lab_after, lab_before + 0.2) << "before " << lab_before;
  EXPECT_GE(lab_after, 0.85);
  EXPECT_GE(accuracy_on(r->model_dir, base_test), 0.85) << "replay did not keep the original lab";
  EXPECT_EQ(testing::slurp(fs::path(base_) / "model.pt"), base_weights) << "the base folder changed";
  // Never over an existing folder.
  auto again = adapt_classifier(request(lab, "ms_adapt_out_2"));
  ASSERT_TRUE(again);
  auto clash = request(lab, "ms_adapt_out_3");
  clash.out = r->model_dir;
  auto refused = adapt_classifier(clash);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
}

TEST_F(ClassifierAdaptTest, ALabSetAboveTheCapIsSampledDown) {
  const fs::path lab = make_cells("ms_adapt_many_cells", 10, true, 41);
  auto req = request(lab, "ms_adapt_many_out");
  req.options.max_lab_cells = 12;
  req.options.max_epochs = 1;
  auto r = adapt_classifier(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->lab_train + r->held_back, 12) << "30 lab cells, capped at 12";
}

TEST_F(ClassifierAdaptTest, RefusesWhatItCannotUseAndWritesNothing) {
  // A class folder the model does not have is named.
  const fs::path odd = make_cells("ms_adapt_odd_cells", 3, true, 31);
  fs::rename(odd / "c_red", odd / "blast");
  auto r = adapt_classifier(request(odd, "ms_adapt_odd_out"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("blast"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / "ms_adapt_odd_out"));
  // One cell per class: nothing can be held back to judge the adaptation.
  const fs::path few = make_cells("ms_adapt_few_cells", 1, true, 37);
  auto f = adapt_classifier(request(few, "ms_adapt_few_out"));
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("held back"), std::string::npos) << f.error().message;
  // Bad options are named.
  auto bad = request(few, "ms_adapt_bad_out");
  bad.options.holdout_fraction = 1.5;
  auto b = adapt_classifier(bad);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("holdout_fraction"), std::string::npos) << b.error().message;
}

// A base with an int8 calibration gives an adapted version with its own, measured on the new
// weights by the base's rule (the old ranges belong to other weights); a base without one gives a
// version without one, and says so.
TEST_F(ClassifierAdaptTest, ACalibratedBaseGivesACalibratedVersion) {
  const fs::path base = fs::temp_directory_path() / "ms_adapt_int8_base";
  fs::remove_all(base);
  fs::copy(base_, base, fs::copy_options::recursive);
  Int8MeasureRequest m;
  m.model_dir = base.string();
  for (const auto& e : fs::recursive_directory_iterator(base_data_))
    if (e.is_regular_file()) m.image_paths.push_back(e.path().string());
  std::sort(m.image_paths.begin(), m.image_paths.end());
  m.method = "mse";
  ASSERT_TRUE(calibrate_classifier_int8(m));

  const fs::path lab = make_cells("ms_adapt_int8_cells", 10, true, 43);
  auto req = request(lab, "ms_adapt_int8_out");
  req.base_model = base.string();
  req.options.max_epochs = 3;
  auto r = adapt_classifier(req);
  ASSERT_TRUE(r) << r.error().message;
  auto cal = read_int8_calibration(r->model_dir, r->version);
  ASSERT_TRUE(cal) << cal.error().message;
  EXPECT_EQ(cal->provenance.at("method"), "mse");
  EXPECT_EQ(cal->provenance.at("refitted_by"), "adapt");
  EXPECT_EQ(cal->provenance.at("measured_cells"), r->lab_train + r->replay);
  auto base_cal = read_int8_calibration(base.string(), read_classifier_model_info(base.string())->version);
  ASSERT_TRUE(base_cal);
  EXPECT_NE(cal->ranges, base_cal->ranges) << "measured on the new weights, not copied";
  EXPECT_EQ(read_json_file(r->model_dir + "/adaptation.json")->at("int8"), "recalibrated (mse)");
  if (cpu_has_int8_dot_products()) {
    auto q = ClassifierPredictor::load(r->model_dir, "cpu", Precision::kInt8);
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ((*q)->precision(), "int8");
  }

  // The uncalibrated base of the suite: no calibration in the adapted folder, and the reason.
  auto plain = adapt_classifier(request(lab, "ms_adapt_int8_plain_out"));
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_FALSE(fs::exists(fs::path(plain->model_dir) / kInt8File));
  const std::string note = read_json_file(plain->model_dir + "/adaptation.json")->at("int8");
  EXPECT_EQ(note.rfind("none", 0), 0u) << note;
}

}  // namespace
}  // namespace ms
