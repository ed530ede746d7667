#pragma once
// Synthetic smear fields and tiny trained models for the pipeline and `analyze` CLI tests.
//
// A field is a pale background with "white cells" (saturated discs, radius 12-17, in three
// colours) and "red cells" (small pale pink discs, radius 6-8); boxes are the discs' exact
// extents. The detector learns WBC vs RBC from fields; the classifier learns the three colours
// from square crops cut exactly as the pipeline cuts them. The colours are named after taxonomy
// classes (configs/taxonomy/pbc11.json) so `analyze` can count a differential from them.
//
// Training both takes a few tens of seconds on 2 cores, so the trained folders are kept in the
// temp directory (keyed by kFixtureVersion) and shared by the test executables; a folder that no
// longer loads is retrained.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "core/box.h"
#include "core/image.h"
#include "data/annotation.h"
#include "engine/classifier/classifier_trainer.h"
#include "engine/detector/detector_trainer.h"
#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"

namespace ms::testing {

namespace fixture_fs = std::filesystem;

// Bump when the generator or the training recipe changes, so cached models are retrained.
inline constexpr int kFixtureVersion = 3;

// Classifier classes, sorted (= folder order = class ids), and their BGR colours.
inline const std::vector<std::string>& disc_classes() {
  static const std::vector<std::string> names{"basophil", "eosinophil", "lymphocyte"};
  return names;
}
inline cv::Scalar disc_colour(int cls) {
  static const cv::Scalar colours[3] = {{40, 170, 40}, {40, 40, 200}, {190, 60, 30}};
  return colours[cls];
}
inline const cv::Scalar kBackground{200, 205, 212};
inline const cv::Scalar kRedCellColour{175, 165, 225};

struct SyntheticCell {
  Box box;        // xyxy, pixels of the field
  int colour = 0; // index into disc_classes(); -1 for a red cell
};

struct SyntheticField {
  cv::Mat image;  // BGR
  std::vector<SyntheticCell> cells;
  std::vector<SyntheticCell> white_cells() const {
    std::vector<SyntheticCell> out;
    for (const auto& c : cells)
      if (c.colour >= 0) out.push_back(c);
    return out;
  }
};

// Draws a disc of radius r centred on pixel (cx, cy); its exact box is [cx-r, cx+r+1).
inline SyntheticCell draw_disc(cv::Mat& img, int cx, int cy, int r, int colour) {
  cv::circle(img, {cx, cy}, r, colour >= 0 ? disc_colour(colour) : kRedCellColour, cv::FILLED);
  return {Box{float(cx - r), float(cy - r), float(cx + r + 1), float(cy + r + 1)}, colour};
}

// A width x height field with `white` white cells and up to `red` red cells, none overlapping,
// none closer than 3 px to the border.
inline SyntheticField random_field(int width, int height, int white, int red, std::mt19937& rng) {
  SyntheticField f;
  f.image = cv::Mat(height, width, CV_8UC3, kBackground);
  auto place = [&](int r, int colour) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      const int cx = r + 3 + int(rng() % uint32_t(width - 2 * r - 6));
      const int cy = r + 3 + int(rng() % uint32_t(height - 2 * r - 6));
      const Box b{float(cx - r - 2), float(cy - r - 2), float(cx + r + 3), float(cy + r + 3)};
      bool free = true;
      for (const auto& c : f.cells) free = free && intersection_area(c.box, b) == 0.f;
      if (!free) continue;
      f.cells.push_back(draw_disc(f.image, cx, cy, r, colour));
      return;
    }
  };
  for (int i = 0; i < white; ++i) place(12 + int(rng() % 6), int(rng() % 3));
  for (int i = 0; i < red; ++i) place(6 + int(rng() % 3), -1);
  return f;
}

struct TinyModels {
  std::string detector_dir;    // classes {"WBC", "RBC"}, input 128
  std::string classifier_dir;  // classes disc_classes(), input 32
};

inline FieldDataset training_fields(const fixture_fs::path& dir, int count, uint32_t seed) {
  fixture_fs::create_directories(dir);
  std::mt19937 rng(seed);
  FieldDataset ds;
  ds.classes = {"WBC", "RBC"};
  for (int i = 0; i < count; ++i) {
    SyntheticField sf = random_field(128, 128, 1 + int(rng() % 3), int(rng() % 4), rng);
    Field f;
    f.image_path = (dir / ("f" + std::to_string(i) + ".png")).string();
    f.width = f.height = 128;
    for (const auto& c : sf.cells) f.boxes.push_back({c.box, c.colour >= 0 ? 0 : 1, 1.f});
    EXPECT_TRUE(write_image(f.image_path, sf.image));
    ds.fields.push_back(std::move(f));
  }
  return ds;
}

inline void train_tiny_detector(const fixture_fs::path& dir) {
  // Detector: RetinaNet with a quarter-width ResNet, P3-P5, one head conv (as the detector
  // training test), WBC + RBC.
  DetectorTrainConfig det;
  det.model.classes = {"WBC", "RBC"};
  det.model.input_size = 128;
  det.model.backbone.width = 0.25f;
  det.model.neck.channels = 32;
  det.model.neck.min_level = 3;
  det.model.neck.max_level = 5;
  det.model.head.num_convs = 1;
  det.optim.epochs = 14;
  det.optim.batch_size = 8;
  det.optim.lr = 0.02;
  det.optim.schedule.warmup_epochs = 1.0;
  det.augment = AugmentOptions{};
  det.log_every = 0;
  const FieldDataset train = training_fields(dir / "det_data" / "train", 64, 7);
  const FieldDataset val = training_fields(dir / "det_data" / "val", 16, 8);
  DetectorRunOptions run;
  run.out_dir = (dir / "det_run").string();
  std::ostringstream log;
  auto d = train_detector(det, train, val, run, log);
  ASSERT_TRUE(d) << d.error().message;
}

inline void train_tiny_classifier(const fixture_fs::path& dir) {

  // Classifier: crops cut from fields as the pipeline cuts them, at the scales it may use (box
  // margins and red-cell rulers give the disc 30-55% of the crop), some at the field border
  // (padded), one folder per class.
  std::mt19937 rng(11);
  for (int cls = 0; cls < 3; ++cls) {
    const fixture_fs::path cdir = dir / "cls_data" / disc_classes()[size_t(cls)];
    fixture_fs::create_directories(cdir);
    for (int i = 0; i < 40; ++i) {
      SyntheticField f = random_field(128, 128, 0, 6, rng);  // red cells around
      const int r = 12 + int(rng() % 6);
      const bool at_border = i % 4 == 0;
      const int cx = at_border ? r + 1 + int(rng() % 6) : 64 + int(rng() % 9) - 4;
      const auto c = draw_disc(f.image, cx, 64 + int(rng() % 9) - 4, r, cls);
      const float margin = 0.4f + 0.1f * float(rng() % 7);
      EXPECT_TRUE(write_image((cdir / (std::to_string(i) + ".png")).string(), crop_square(f.image, c.box, margin)));
    }
  }
  ClassifierTrainRequest req;
  req.config.model.arch = ClassifierArch::kVit;
  req.config.model.input_size = 32;
  req.config.model.vit.patch.dim = 32;
  req.config.model.vit.patch.patch = 8;
  req.config.model.vit.patch.stride = 6;
  req.config.model.vit.depth = 2;
  req.config.model.vit.heads = 2;
  req.config.model.vit.mlp_ratio = 2;
  req.config.data.crop_fraction = 0.875;
  req.config.data.val_fraction = 0.25;
  req.config.data.augment.brightness = 0.05f;
  req.config.optim.lr = 3e-3;
  req.config.optim.batch_size = 12;
  req.config.optim.epochs = 8;
  req.config.optim.schedule.warmup_epochs = 1;
  req.config.eval_batch = 32;
  req.data_dir = (dir / "cls_data").string();
  req.out_dir = (dir / "cls_run").string();
  req.log = [](const std::string&) {};
  auto c = train_classifier(req);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_GE(c->best_accuracy, 0.9);
}

// The shared tiny models, trained on first use. Call from SetUpTestSuite (after
// init_torch_runtime()); check ::testing::Test::HasFatalFailure() afterwards.
inline TinyModels tiny_models() {
  const fixture_fs::path root =
      fixture_fs::temp_directory_path() / ("ms_pipeline_models_v" + std::to_string(kFixtureVersion));
  TinyModels m{(root / "det_run" / "model").string(), (root / "cls_run" / "model").string()};
  if (DetectorPredictor::load(m.detector_dir) && ClassifierPredictor::load(m.classifier_dir)) return m;
  // Train in a private folder, then rename it into place. Two test processes that start
  // together both train; the first rename wins and the other uses the winner's folder.
  std::error_code ec;
  const fixture_fs::path tmp = root.string() + ".tmp" + std::to_string(::getpid());
  fixture_fs::remove_all(tmp, ec);
  fixture_fs::create_directories(tmp);
  // A detector that still loads is kept (it is the slow one to train).
  if (DetectorPredictor::load(m.detector_dir))
    fixture_fs::copy(root / "det_run", tmp / "det_run", fixture_fs::copy_options::recursive, ec);
  if (ec || !DetectorPredictor::load((tmp / "det_run" / "model").string())) train_tiny_detector(tmp);
  if (::testing::Test::HasFatalFailure()) return m;
  train_tiny_classifier(tmp);
  if (::testing::Test::HasFatalFailure()) return m;
  fixture_fs::remove_all(root, ec);  // a stale folder that no longer loads
  fixture_fs::rename(tmp, root, ec);
  if (!ec) return m;
  if (DetectorPredictor::load(m.detector_dir) && ClassifierPredictor::load(m.classifier_dir)) {
    fixture_fs::remove_all(tmp, ec);
    return m;
  }
  return {(tmp / "det_run" / "model").string(), (tmp / "cls_run" / "model").string()};
}

// Matches each expected cell to the best-overlapping box; returns the IoU per expected cell.
template <class BoxOf>
std::vector<float> best_ious(const std::vector<SyntheticCell>& expected, size_t n, BoxOf box_of) {
  std::vector<float> best(expected.size(), 0.f);
  for (size_t e = 0; e < expected.size(); ++e)
    for (size_t i = 0; i < n; ++i) best[e] = std::max(best[e], iou(expected[e].box, box_of(i)));
  return best;
}

}  // namespace ms::testing
