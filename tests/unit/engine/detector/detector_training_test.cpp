// End-to-end: a tiny RetinaNet learns coloured discs in seconds, resumes exactly, and its model
// folder loads into the predictor.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "data/formats/formats.h"
#include "engine/detector/detector_batch_loader.h"
#include "engine/detector/detector_evaluator.h"
#include "engine/detector/detector_model_file.h"
#include "engine/detector/detector_trainer.h"
#include "engine/detector/field_source.h"
#include "engine/int8_calibration.h"
#include "engine/predict/detector_predictor.h"
#include "engine/predict/int8_measure.h"
#include "engine/train/checkpoint.h"
#include "models/assign/assigner.h"
#include "models/backbone/resnet.h"
#include "models/runtime.h"
#include "unit/precision_env.h"
#include "unit/engine/detector/disc_fields.h"

namespace ms {
namespace {

namespace fs = std::filesystem;
using testing::disc_fields;

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

    // int8: the backbone's ranges measured on training fields, written beside the weights, used
    // when asked for; the discs are still found.
    if (!cpu_has_int8_dot_products()) continue;
    std::vector<cv::Mat> fields;
    for (std::size_t i = 0; i < 16; ++i) {
      auto img = read_image(train_.fields[i].image_path);
      ASSERT_TRUE(img) << img.error().message;
      fields.push_back(*img);
    }
    std::vector<std::pair<float, float>> ranges;
    ASSERT_TRUE((*pred)->observe_int8_activations(
        fields, [&](size_t i, const at::Tensor& t) { widen_activation_range(ranges, i, t); }));
    Int8Calibration cal;
    cal.model_version = (*pred)->version();
    for (const auto& rg : ranges) cal.ranges.push_back({rg.first, rg.second});
    ASSERT_TRUE(write_int8_calibration(run.out_dir + "/model", cal));
    std::optional<testing::PrecisionEnv> env1;
    env1.emplace("int8");
    auto q = DetectorPredictor::load(run.out_dir + "/model");
    env1.reset();
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ((*q)->precision(), "int8");
    EXPECT_EQ((*pred)->precision(), precision_name(detector_inference_precision()));
    auto qev = evaluate_fields([&](const std::vector<cv::Mat>& m) { return (*q)->detect(m); }, val_, 4, eo);
    ASSERT_TRUE(qev) << qev.error().message;
    EXPECT_GE(qev->metrics.ap50, 0.9);
    EXPECT_NE(qev->metrics.ap, ev->metrics.ap) << "int8 ran: its boxes cannot all equal float32's";
    // A calibration of other weights is refused, not used.
    cal.model_version = "another";
    ASSERT_TRUE(write_int8_calibration(run.out_dir + "/model", cal));
    std::optional<testing::PrecisionEnv> env2;
    env2.emplace("int8");
    auto stale = DetectorPredictor::load(run.out_dir + "/model");
    env2.reset();
    ASSERT_FALSE(stale);
    EXPECT_NE(stale.error().message.find("measured on model version 'another'"), std::string::npos);
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

// A region nobody decided: anchors over it are neither positive nor negative; objects inside
// or beside it stay positives. A class the image does not annotate adds no classification loss.
TEST_F(DetectorTraining, IgnoreRegionsAndUnannotatedClassesLearnNothing) {
  auto cfg = tiny_config();
  at::manual_seed(0);
  RetinaNet net(cfg.model);
  DetectorBatch batch;
  batch.images = at::zeros({1, 3, 128, 128});
  batch.gt_boxes = {at::tensor(std::vector<float>{10, 10, 42, 42}).view({1, 4})};
  batch.gt_labels = {at::tensor(std::vector<int64_t>{0})};
  const auto out = net->forward(batch.images);
  AssignerOptions ao;
  const Assigner assigner(ao);
  const auto plain = build_detection_targets(out, batch, assigner, net->box_coder());
  batch.ignore_boxes = {at::tensor(std::vector<float>{70, 70, 110, 110}).view({1, 4})};
  const auto ignored = build_detection_targets(out, batch, assigner, net->box_coder());
  const auto centres = box_centers(out.anchors);
  const auto in_region = centres.select(1, 0).gt(70).logical_and(centres.select(1, 0).lt(110))
                             .logical_and(centres.select(1, 1).gt(70)).logical_and(centres.select(1, 1).lt(110));
  ASSERT_GT(in_region.sum().item<int64_t>(), 0);
  EXPECT_TRUE(plain.labels[0].masked_select(in_region).eq(kAssignBackground).all().item<bool>());
  EXPECT_TRUE(ignored.labels[0].masked_select(in_region).eq(kAssignIgnore).all().item<bool>());
  EXPECT_TRUE(at::equal(plain.labels[0].ge(0), ignored.labels[0].ge(0))) << "positives unchanged";
  const auto far = at::logical_not(in_region).logical_and(
      pairwise_box_iou(out.anchors, batch.ignore_boxes[0]).amax(1).lt(0.4));
  EXPECT_TRUE(at::equal(plain.labels[0].masked_select(far), ignored.labels[0].masked_select(far)));

  // Class 1 unannotated: its logits get no gradient, class 0's still do.
  auto masked = plain;
  masked.class_mask = at::tensor(std::vector<float>{1.f, 0.f}).view({1, 2});
  auto logits = out.cls_logits.detach().clone().requires_grad_(true);
  const auto iou_logits = out.iou_logits.defined() ? out.iou_logits.detach() : at::Tensor();
  const auto loss = detection_loss(logits, out.box_deltas.detach(), iou_logits, out.anchors, masked,
                                   net->box_coder(), cfg.model.loss);
  loss.total.backward();
  EXPECT_TRUE(logits.grad().select(2, 1).eq(0).all().item<bool>());
  EXPECT_GT(logits.grad().select(2, 0).abs().sum().item<double>(), 0.0);
  const auto full = detection_loss(out.cls_logits.detach(), out.box_deltas.detach(), iou_logits, out.anchors,
                                   plain, net->box_coder(), cfg.model.loss);
  EXPECT_LT(loss.cls.item<double>(), full.cls.item<double>());
}

TEST(DetectorReplay, EpochIndicesTakeEveryMainFieldAndADrawOfTheReplay) {
  const auto a = epoch_field_indices(5, 20, 6, 3, 0);
  ASSERT_EQ(a.size(), 11u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(a[i], i);
  std::set<size_t> drawn(a.begin() + 5, a.end());
  EXPECT_EQ(drawn.size(), 6u) << "without replacement";
  for (size_t i : drawn) EXPECT_TRUE(i >= 5 && i < 25) << i;
  EXPECT_EQ(a, epoch_field_indices(5, 20, 6, 3, 0)) << "(seed, epoch) only";
  EXPECT_NE(a, epoch_field_indices(5, 20, 6, 3, 1)) << "a new draw each epoch";
  EXPECT_EQ(epoch_field_indices(5, 20, 0, 3, 0).size(), 25u) << "0 = every replayed field";
  EXPECT_EQ(epoch_field_indices(5, 20, 99, 3, 0).size(), 25u);
  EXPECT_EQ(epoch_field_indices(5, 0, 6, 3, 0).size(), 5u);
}

// Fine-tuning from a lab's corrections, as the server's labelme export writes them: cells under
// their cell-type names (mapped to the detector's class by '*'), a removed box (not_a_cell) and
// an undecided cell (unreviewed), white-cell-like objects only (the blue discs are on the fields
// but unannotated). train-detector starts from a model folder, replays the original fields, and
// the unannotated class survives the fine-tune because its logits are masked on those fields.
TEST_F(DetectorTraining, FineTunesFromAnExportWithReplay) {
  auto base_cfg = tiny_config();
  base_cfg.optim.epochs = 10;
  DetectorRunOptions base_run;
  base_run.out_dir = root_ + "/run_base";
  std::ostringstream log;
  auto base = train_detector(base_cfg, train_, val_, base_run, log);
  ASSERT_TRUE(base) << base.error().message;
  auto blue_ap = [&](const std::string& model_dir) {
    auto pred = DetectorPredictor::load(model_dir);
    EXPECT_TRUE(pred) << pred.error().message;
    DetectionEvalOptions eo;
    eo.classes = base_cfg.model.classes;
    auto ev = evaluate_fields([&](const std::vector<cv::Mat>& m) { return (*pred)->detect(m); }, val_, 4, eo);
    EXPECT_TRUE(ev) << ev.error().message;
    return select_metric(ev->metrics, "AP50", "blue");
  };
  const double blue_before = blue_ap(base_run.out_dir + "/model");
  ASSERT_GE(blue_before, 0.8) << log.str();

  // The export: red discs as "neutrophil", one of them undecided, a removed corner box.
  FieldDataset exported;
  exported.classes = {"neutrophil", "not_a_cell", "unreviewed"};
  size_t undecided = 0;
  for (size_t i = 24; i < 48; ++i) {
    Field f = train_.fields[i];
    f.boxes.clear();
    for (const auto& b : train_.fields[i].boxes) {
      if (b.class_id != 0) continue;  // blue discs: on the field, not annotated
      const bool open = undecided < 3 && f.boxes.empty();
      undecided += open ? 1 : 0;
      f.boxes.push_back({b.box, open ? 2 : 0, 1.f});
    }
    f.boxes.push_back({Box{0.f, 0.f, 9.f, 9.f}, 1, 1.f});
    exported.fields.push_back(f);
  }
  ASSERT_EQ(undecided, 3u);
  const std::string export_dir = root_ + "/export_labelme";
  ASSERT_TRUE(write_labelme(exported, export_dir));
  auto corrections = read_detection_fields({export_dir, "labelme", "", "*=red"}, base_cfg.model.classes);
  ASSERT_TRUE(corrections) << corrections.error().message;
  size_t regions = 0;
  for (const auto& f : corrections->fields) regions += f.ignore.size();
  EXPECT_EQ(regions, 3u);

  auto tune = [&](bool mask, const std::string& name) {
    auto cfg = base_cfg;
    cfg.optim.epochs = 6;
    cfg.optim.lr = 0.02;
    cfg.init_from = base_run.out_dir + "/model";
    if (mask) cfg.data.annotated_classes = {"red"};
    DetectorRunOptions run;
    run.out_dir = root_ + "/" + name;
    std::ostringstream tlog;
    FieldDataset none;  // no replay; no validation either, so the model is the last epoch's
    none.classes = cfg.model.classes;
    auto r = train_detector(cfg, *corrections, none, none, run, tlog);
    EXPECT_TRUE(r) << r.error().message;
    return std::make_pair(run.out_dir, tlog.str());
  };
  const auto [masked_dir, masked_log] = tune(true, "run_tune_masked");
  EXPECT_NE(masked_log.find("initialised from"), std::string::npos) << masked_log;
  const auto [unmasked_dir, unmasked_log] = tune(false, "run_tune_unmasked");
  const double blue_masked = blue_ap(masked_dir + "/model");
  const double blue_unmasked = blue_ap(unmasked_dir + "/model");
  EXPECT_LT(blue_unmasked, 0.2) << "unmasked, the unannotated blue discs are learned as background";
  EXPECT_GT(blue_masked, blue_unmasked + 0.3) << "masked, they are not pushed to background";

  EXPECT_FALSE(fs::exists(fs::path(masked_dir) / "model" / kInt8File)) << "an uncalibrated base gives none";

  // With replay of the original fields besides the mask: every epoch mixes 16 of them in, the
  // shared layers keep serving the blue discs, and provenance says how the model was made. The
  // base is calibrated for int8 first: the tuned model gets a calibration of its own weights.
  Int8MeasureRequest m;
  m.model_dir = base_run.out_dir + "/model";
  for (size_t i = 0; i < 16; ++i) m.image_paths.push_back(train_.fields[i].image_path);
  m.method = "minmax";
  ASSERT_TRUE(calibrate_detector_int8(m));
  auto cfg = base_cfg;
  cfg.optim.epochs = 6;
  cfg.optim.lr = 0.02;
  cfg.init_from = base_run.out_dir + "/model";
  cfg.data.annotated_classes = {"red"};
  cfg.data.replay.path = root_ + "/train";
  cfg.data.replay.fields_per_epoch = 16;
  DetectorRunOptions run;
  run.out_dir = root_ + "/run_tune_replay";
  std::ostringstream rlog;
  FieldDataset none;
  none.classes = cfg.model.classes;
  auto r = train_detector(cfg, *corrections, none, train_, run, rlog);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(rlog.str().find("replay: 64 original fields, 16 per epoch"), std::string::npos) << rlog.str();
  const double blue_replay = blue_ap(run.out_dir + "/model");
  EXPECT_GT(blue_replay, blue_masked) << "replay keeps the old class better than the mask alone";
  EXPECT_GE(blue_replay, blue_before - 0.1);
  DetectorModelInfo info;
  auto tuned = load_detector_model(run.out_dir + "/model", info);
  ASSERT_TRUE(tuned) << tuned.error().message;
  EXPECT_EQ(info.provenance["init_from"], cfg.init_from);
  EXPECT_EQ(info.provenance["replay"]["fields_per_epoch"], 16);
  auto cal = read_int8_calibration(run.out_dir + "/model", info.version);
  ASSERT_TRUE(cal) << cal.error().message;
  EXPECT_EQ(cal->provenance.at("method"), "minmax") << "the base's rule";
  EXPECT_EQ(cal->provenance.at("measured_fields"), 24 + 64) << "the corrected fields and the replayed ones";
  EXPECT_NE(rlog.str().find("int8: "), std::string::npos) << rlog.str();
  // An architecture that differs from the folder's is refused, naming it.
  auto other = cfg;
  other.model.neck.channels = 16;
  run.out_dir = root_ + "/run_tune_other";
  auto refused = train_detector(other, *corrections, val_, train_, run, rlog);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("init_from"), std::string::npos) << refused.error().message;
}

TEST(DetectorPredictorLoad, MissingFolderIsAnErrorNamingIt) {
  auto p = DetectorPredictor::load("/nonexistent/detector");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("/nonexistent/detector"), std::string::npos);
}

}  // namespace
}  // namespace ms
