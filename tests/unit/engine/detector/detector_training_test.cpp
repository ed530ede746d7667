// End-to-end: a tiny RetinaNet learns coloured discs in seconds, resumes exactly, and its model
// folder loads into the predictor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "data/formats/formats.h"
#include "engine/detector/detector_batch_loader.h"
#include "engine/detector/detector_evaluator.h"
#include "engine/detector/detector_trainer.h"
#include "engine/detector/field_source.h"
#include "engine/predict/detector_predictor.h"
#include "engine/train/checkpoint.h"
#include "models/assign/assigner.h"
#include "models/runtime.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// Fields of 128x128 grey-ish background with 1-3 discs: red discs (class 0, radius 14-22) and
// blue discs (class 1, radius 8-11); boxes are the discs' exact extents.
FieldDataset disc_fields(const std::string& dir, int count, uint32_t seed) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  FieldDataset ds;
  ds.classes = {"red", "blue"};
  for (int i = 0; i < count; ++i) {
    cv::Mat img(128, 128, CV_8UC3, cv::Scalar(200, 205, 210));
    Field f;
    f.image_path = dir + "/f" + std::to_string(i) + ".png";
    f.width = f.height = 128;
    const int n = 1 + static_cast<int>(rng() % 3);
    std::vector<Box> placed;
    for (int k = 0; k < n; ++k) {
      const int cls = static_cast<int>(rng() % 2);
      const int r = cls == 0 ? 14 + static_cast<int>(rng() % 9) : 8 + static_cast<int>(rng() % 4);
      for (int attempt = 0; attempt < 20; ++attempt) {
        const int cx = r + static_cast<int>(rng() % static_cast<uint32_t>(128 - 2 * r));
        const int cy = r + static_cast<int>(rng() % static_cast<uint32_t>(128 - 2 * r));
        const Box b{static_cast<float>(cx - r), static_cast<float>(cy - r), static_cast<float>(cx + r + 1),
                    static_cast<float>(cy + r + 1)};
        bool overlaps = false;
        for (const auto& p : placed) overlaps = overlaps || iou(p, b) > 0.f;
        if (overlaps) continue;
        cv::circle(img, {cx, cy}, r, cls == 0 ? cv::Scalar(40, 40, 190) : cv::Scalar(170, 60, 30), cv::FILLED);
        placed.push_back(b);
        f.boxes.push_back({b, cls, 1.f});
        break;
      }
    }
    EXPECT_TRUE(write_image(f.image_path, img));
    ds.fields.push_back(f);
  }
  return ds;
}

DetectorTrainConfig tiny_config() {
  DetectorTrainConfig c;
  c.model.classes = {"red", "blue"};
  c.model.input_size = 128;
  c.model.backbone.width = 0.25f;
  c.model.neck.channels = 32;
  c.model.neck.min_level = 3;
  c.model.neck.max_level = 5;
  c.model.head.num_convs = 1;
  c.optim.epochs = 14;
  c.optim.batch_size = 8;
  c.optim.lr = 0.02;
  c.optim.schedule.warmup_epochs = 1.0;
  c.augment = AugmentOptions{};  // flips and quarter turns
  c.log_every = 0;
  return c;
}

class DetectorTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    init_torch_runtime();
    root_ = (fs::temp_directory_path() / ("ms_dettrain_" + std::to_string(::getpid()))).string();
    train_ = disc_fields(root_ + "/train", 64, 7);
    val_ = disc_fields(root_ + "/val", 24, 8);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::string root_;
  static FieldDataset train_, val_;
};
std::string DetectorTraining::root_;
FieldDataset DetectorTraining::train_, DetectorTraining::val_;

TEST_F(DetectorTraining, TinyRetinaNetLearnsDiscs) {
  for (const auto kind : {AssignerKind::kAtss}) {
    auto cfg = tiny_config();
    cfg.assigner.kind = kind;
    DetectorRunOptions run;
    run.out_dir = root_ + "/run_learn";
    std::ostringstream log;
    auto r = train_detector(cfg, train_, val_, run, log);
    ASSERT_TRUE(r) << r.error().message;
    const double ap50 = r->last_validation["AP50"].get<double>();
    EXPECT_GE(ap50, 0.9) << log.str();
    // The run folder is complete and the model folder loads into the predictor.
    for (const char* f : {"config.json", "metrics.jsonl", "report.html", "model/model.pt", "model/model.json"})
      EXPECT_TRUE(fs::exists(run.out_dir + "/" + f)) << f;
    auto pred = DetectorPredictor::load(run.out_dir + "/model");
    ASSERT_TRUE(pred) << pred.error().message;
    EXPECT_EQ((*pred)->classes(), cfg.model.classes);
    DetectionEvalOptions eo;
    eo.classes = cfg.model.classes;
    auto ev = evaluate_fields([&](const std::vector<cv::Mat>& m) { return (*pred)->detect(m); }, val_, 4, eo);
    ASSERT_TRUE(ev) << ev.error().message;
    // Original-pixel evaluation through the predictor agrees with the trainer's best epoch.
    EXPECT_GE(ev->metrics.ap50, 0.9);
  }
}

// A lab's training export names the boxes reviewers removed as false detections not_a_cell; read
// back for a detector they are negatives: no target is made of them (their anchors are
// background), and training runs on the rest.
TEST_F(DetectorTraining, RemovedBoxesOfAnExportAreBackgroundNotPositives) {
  FieldDataset exported;
  exported.classes = {"red", "blue", "not_a_cell"};
  std::size_t discs = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    Field f = train_.fields[i];
    discs += f.boxes.size();
    f.boxes.push_back({Box{0.f, 0.f, 12.f, 12.f}, 2, 1.f});  // a corner a reviewer removed
    exported.fields.push_back(f);
  }
  const std::string json = root_ + "/train/export.json";
  ASSERT_TRUE(write_coco(exported, json));
  auto read = read_detection_fields({json, "coco", "", ""}, {"red", "blue"});
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->fields.size(), 8u);
  std::size_t boxes = 0;
  for (const auto& f : read->fields)
    for (const auto& b : f.boxes) {
      ++boxes;
      EXPECT_LT(b.class_id, 2);
      EXPECT_GT(b.box.x2 - b.box.x1, 12.f) << "only discs remain";
    }
  EXPECT_EQ(boxes, discs);
  auto cfg = tiny_config();
  cfg.optim.epochs = 1;
  DetectorRunOptions run;
  run.out_dir = root_ + "/run_negatives";
  std::ostringstream log;
  auto r = train_detector(cfg, *read, val_, run, log);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->epochs_done, 1);
}

TEST_F(DetectorTraining, ResumeContinuesExactly) {
  auto cfg = tiny_config();
  cfg.optim.epochs = 2;
  cfg.data.max_train_fields = 16;
  std::ostringstream log;
  DetectorRunOptions straight;
  straight.out_dir = root_ + "/run_straight";
  ASSERT_TRUE(train_detector(cfg, train_, val_, straight, log));
  DetectorRunOptions split = straight;
  split.out_dir = root_ + "/run_split";
  split.max_epochs_this_call = 1;
  ASSERT_TRUE(train_detector(cfg, train_, val_, split, log));
  split.resume = true;
  split.max_epochs_this_call = 0;
  auto r = train_detector(cfg, train_, val_, split, log);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->epochs_done, 2);
  RetinaNet a(cfg.model), b(cfg.model);
  TrainerState sa, sb;
  ASSERT_TRUE(load_checkpoint(epoch_checkpoint_dir(straight.out_dir, 2), *a, nullptr, sa));
  ASSERT_TRUE(load_checkpoint(epoch_checkpoint_dir(split.out_dir, 2), *b, nullptr, sb));
  EXPECT_EQ(sa.step, sb.step);
  const auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i])) << "parameter " << i;
  // metrics.jsonl holds exactly one line per epoch after the resume.
  std::ifstream in(split.out_dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_EQ(lines, 2);
}

TEST_F(DetectorTraining, LoaderIsDeterministicPerEpoch) {
  auto ds = DetectorDataset::prepare(train_, 128, 12);
  ASSERT_TRUE(ds) << ds.error().message;
  DetectorLoaderOptions o;
  o.batch_size = 5;
  DetectorBatchLoader a(*ds, o, 3, 1), b(*ds, o, 3, 1), c(*ds, o, 3, 2);
  EXPECT_EQ(a.num_batches(), 3u);  // 12 fields: 5 + 5 + 2
  bool any_diff = false;
  while (auto x = a.next()) {
    auto y = b.next();
    auto z = c.next();
    ASSERT_TRUE(y && z);
    EXPECT_EQ(x->indices, y->indices);
    EXPECT_TRUE(at::equal(x->images, y->images));
    any_diff = any_diff || x->indices != z->indices;
  }
  EXPECT_TRUE(any_diff) << "epoch 2 should shuffle differently";
}

TEST_F(DetectorTraining, TargetsFromAssignmentAndEmptyImages) {
  auto cfg = tiny_config();
  at::manual_seed(0);
  RetinaNet net(cfg.model);
  DetectorBatch batch;
  batch.images = at::zeros({2, 3, 128, 128});
  batch.gt_boxes = {at::tensor(std::vector<float>{10, 10, 42, 42}).view({1, 4}), at::zeros({0, 4})};
  batch.gt_labels = {at::tensor(std::vector<int64_t>{1}), at::zeros({0}, at::kLong)};
  const auto out = net->forward(batch.images);
  for (const auto kind : {AssignerKind::kMaxIou, AssignerKind::kAtss, AssignerKind::kOta, AssignerKind::kPaa}) {
    AssignerOptions ao;
    ao.kind = kind;
    const auto t = build_detection_targets(out, batch, Assigner(ao), net->box_coder());
    ASSERT_EQ(t.labels.sizes(), (at::IntArrayRef{2, out.anchors.size(0)}));
    // Image 0: positives carry class 1 and the box; image 1 (no boxes): all background.
    const auto pos = t.labels[0].ge(0);
    EXPECT_GT(pos.sum().item<int64_t>(), 0);
    EXPECT_TRUE(t.labels[0].masked_select(pos).eq(1).all().item<bool>());
    EXPECT_FLOAT_EQ(t.boxes[0][pos.nonzero()[0][0].item<int64_t>()][2].item<float>(), 42.f);
    EXPECT_TRUE(t.labels[1].eq(kAssignBackground).all().item<bool>());
    const auto loss = detection_loss(out.cls_logits, out.box_deltas, out.iou_logits, out.anchors, t,
                                     net->box_coder(), cfg.model.loss);
    EXPECT_TRUE(std::isfinite(loss.total.item<double>()));
  }
}

TEST(DetectorPredictorLoad, MissingFolderIsAnErrorNamingIt) {
  auto p = DetectorPredictor::load("/nonexistent/detector");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("/nonexistent/detector"), std::string::npos);
}

}  // namespace
}  // namespace ms
