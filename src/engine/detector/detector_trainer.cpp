#include "engine/detector/detector_trainer.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/sgd.h>

#include "engine/detector/detector_batch_loader.h"
#include "engine/detector/detector_evaluator.h"
#include "engine/detector/detector_model_file.h"
#include "engine/predict/int8_measure.h"
#include "engine/report/report_html.h"
#include "engine/train/checkpoint.h"
#include "models/assign/assigner.h"

namespace ms {

namespace fs = std::filesystem;

namespace {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, static_cast<int>((s % 3600) / 60));
  return fmt::format("{}m{:02d}s", s / 60, static_cast<int>(s % 60));
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct EpochRecord {
  int epoch = 0;
  double loss = 0, cls = 0, box = 0, iou = 0, lr = 0, images_per_second = 0, seconds = 0;
  double val_ap = -1, val_ap50 = -1, val_ap75 = -1, val_ap90 = -1, val_ar100 = -1;
};

// Reads metrics.jsonl, keeps the lines of epochs <= up_to_epoch, rewrites the file with them.
std::vector<EpochRecord> keep_history(const std::string& path, int up_to_epoch) {
  std::vector<EpochRecord> out;
  std::vector<std::string> kept;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto j = parse_json(line, path);
      if (!j || !j->is_object()) continue;
      EpochRecord r;
      r.epoch = j->value("epoch", 0);
      if (r.epoch < 1 || r.epoch > up_to_epoch) continue;
      const Json t = j->value("train", Json::object());
      r.loss = t.value("loss", 0.0);
      r.cls = t.value("cls", 0.0);
      r.box = t.value("box", 0.0);
      r.iou = t.value("iou", 0.0);
      r.lr = t.value("lr", 0.0);
      r.images_per_second = t.value("images_per_second", 0.0);
      const Json v = j->value("val", Json::object());
      r.val_ap = v.value("AP", -1.0);
      r.val_ap50 = v.value("AP50", -1.0);
      r.val_ap75 = v.value("AP75", -1.0);
      r.val_ap90 = v.value("AP90", -1.0);
      r.val_ar100 = v.value("AR100", -1.0);
      out.push_back(r);
      kept.push_back(line);
    }
  }
  std::ofstream rewrite(path, std::ios::trunc);
  for (const auto& l : kept) rewrite << l << "\n";
  return out;
}

void write_report(const std::string& path, const std::string& title, const std::vector<EpochRecord>& history,
                  const DetectionMetrics* metrics, const std::vector<std::pair<std::string, std::string>>& run) {
  HtmlReport r(title);
  r.key_values("Run", run);
  std::vector<double> x, loss, cls, box, iou, ap, ap50, ap75, ap90, ar;
  for (const auto& h : history) {
    x.push_back(h.epoch);
    loss.push_back(h.loss);
    cls.push_back(h.cls);
    box.push_back(h.box);
    iou.push_back(h.iou);
    const double nan = std::nan("");
    ap.push_back(h.val_ap >= 0 ? h.val_ap : nan);
    ap50.push_back(h.val_ap50 >= 0 ? h.val_ap50 : nan);
    ap75.push_back(h.val_ap75 >= 0 ? h.val_ap75 : nan);
    ap90.push_back(h.val_ap90 >= 0 ? h.val_ap90 : nan);
    ar.push_back(h.val_ar100 >= 0 ? h.val_ar100 : nan);
  }
  r.line_chart({"Training loss per epoch", "epoch", "loss",
                {{"total", x, loss}, {"cls", x, cls}, {"box", x, box}, {"iou", x, iou}}});
  LineChartSpec val{"Validation metrics per epoch", "epoch", "value",
                    {{"AP", x, ap}, {"AP50", x, ap50}, {"AP75", x, ap75}, {"AP90", x, ap90}, {"AR100", x, ar}}};
  val.y_min = 0;
  val.y_max = 1;
  r.line_chart(val);
  if (metrics) {
    r.heading("Validation, latest epoch");
    r.detection_metrics(*metrics);
  }
  (void)r.write(path);  // a report that cannot be written must not stop training
}

Json epoch_json(const EpochRecord& r, int64_t step, const Json& val) {
  Json j = {{"epoch", r.epoch},
            {"step", step},
            {"train",
             {{"loss", r.loss},
              {"cls", r.cls},
              {"box", r.box},
              {"iou", r.iou},
              {"lr", r.lr},
              {"images_per_second", r.images_per_second},
              {"seconds", r.seconds}}},
            {"time", utc_now()}};
  if (!val.is_null()) j["val"] = val;
  return j;
}

}  // namespace

DetectionTargets build_detection_targets(const RetinaNetOutput& out, const DetectorBatch& batch,
                                         const Assigner& assigner, const BoxCoder& coder) {
  const int64_t b_count = out.cls_logits.size(0);
  const int64_t n = out.anchors.size(0);
  const auto device = out.anchors.device();
  std::vector<at::Tensor> labels, boxes;
  for (int64_t b = 0; b < b_count; ++b) {
    AssignInput in;
    in.anchors = out.anchors;
    in.anchors_per_level = out.anchors_per_level;
    in.level_strides = out.level_strides;
    in.anchors_per_location = out.anchors_per_location;
    in.gt_boxes = batch.gt_boxes.at(static_cast<size_t>(b)).to(device);
    in.gt_labels = batch.gt_labels.at(static_cast<size_t>(b)).to(device);
    if (assigner.needs_predictions()) {
      at::NoGradGuard no_grad;
      in.cls_logits = out.cls_logits[b].detach();
      in.pred_boxes = coder.decode(out.box_deltas[b].detach(), out.anchors);
    }
    auto matched = assigner.assign(in).matched_gt.to(device);
    if (static_cast<size_t>(b) < batch.ignore_boxes.size() && batch.ignore_boxes[static_cast<size_t>(b)].size(0) > 0) {
      // An anchor over a region nobody decided is no negative: centred inside it, or overlapping
      // it as much as MaxIoU's negative threshold allows a real object. Positives stay.
      const auto regions = batch.ignore_boxes[static_cast<size_t>(b)].to(device);
      const auto inside = centers_inside_boxes(box_centers(out.anchors), regions).any(0);
      const auto overlap = pairwise_box_iou(out.anchors, regions).amax(1).ge(0.4);
      matched = at::where(matched.eq(kAssignBackground).logical_and(inside.logical_or(overlap)),
                          at::full_like(matched, kAssignIgnore), matched);
    }
    if (in.gt_boxes.size(0) == 0) {
      labels.push_back(matched);
      boxes.push_back(at::zeros({n, 4}, out.anchors.options()));
      continue;
    }
    const auto safe = matched.clamp_min(0);
    labels.push_back(at::where(matched.ge(0), in.gt_labels.index_select(0, safe), matched));
    boxes.push_back(in.gt_boxes.index_select(0, safe));
  }
  DetectionTargets t{at::stack(labels), at::stack(boxes), at::Tensor()};
  if (batch.class_mask.defined()) t.class_mask = batch.class_mask.to(device);
  return t;
}

std::vector<size_t> epoch_field_indices(size_t main_fields, size_t replay_fields, int per_epoch, uint64_t seed,
                                        int epoch) {
  std::vector<size_t> out(main_fields);
  std::iota(out.begin(), out.end(), size_t{0});
  std::vector<size_t> replay(replay_fields);
  std::iota(replay.begin(), replay.end(), main_fields);
  const size_t take = per_epoch > 0 ? std::min(replay_fields, static_cast<size_t>(per_epoch)) : replay_fields;
  if (take < replay_fields) {
    std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch),
                      0x2e91a7u};
    std::mt19937 rng(seq);
    // A partial Fisher-Yates with our own draws: the first `take` entries are the sample.
    for (size_t i = 0; i < take; ++i) std::swap(replay[i], replay[i + static_cast<size_t>(rng() % (replay_fields - i))]);
  }
  out.insert(out.end(), replay.begin(), replay.begin() + static_cast<std::ptrdiff_t>(take));
  return out;
}

Result<DetectorTrainResult> train_detector(const DetectorTrainConfig& config, const FieldDataset& train,
                                           const FieldDataset& val, const DetectorRunOptions& run,
                                           std::ostream& log) {
  FieldDataset no_replay;
  no_replay.classes = config.model.classes;
  return train_detector(config, train, val, no_replay, run, log);
}

Result<DetectorTrainResult> train_detector(const DetectorTrainConfig& config, const FieldDataset& train_in,
                                           const FieldDataset& val, const FieldDataset& replay,
                                           const DetectorRunOptions& run, std::ostream& log) {
  try {
    validate(config.model);
  } catch (const MarrowError& e) {
    return fail(ErrorCode::kInvalidArgument, std::string("config model: ") + e.what());
  }
  if (config.optim.epochs < 1 || config.optim.batch_size < 1)
    return fail(ErrorCode::kInvalidArgument, "config optim", "epochs >= 1 and batch_size >= 1",
                fmt::format("epochs {} batch_size {}", config.optim.epochs, config.optim.batch_size));
  if (train_in.classes != config.model.classes)
    return fail(ErrorCode::kInvalidArgument, "training data classes", "the model's classes (remap first)",
                fmt::format("{} classes", train_in.classes.size()));
  if (!replay.fields.empty() && replay.classes != config.model.classes)
    return fail(ErrorCode::kInvalidArgument, "replay data classes", "the model's classes (remap first)",
                fmt::format("{} classes", replay.classes.size()));
  if (config.data.replay.fields_per_epoch < 0)
    return fail(ErrorCode::kInvalidArgument, "data.replay.fields_per_epoch", "0 (all) or more",
                std::to_string(config.data.replay.fields_per_epoch));
  // The main data's fields annotate only the named classes (the replayed ones annotate all).
  FieldDataset annotated_copy;
  const FieldDataset* train_ptr = &train_in;
  if (!config.data.annotated_classes.empty()) {
    std::vector<int> ids;
    for (const auto& name : config.data.annotated_classes) {
      const int k = train_in.class_index(name);
      if (k < 0)
        return fail(ErrorCode::kInvalidArgument, "data.annotated_classes",
                    fmt::format("model classes ({})", fmt::join(config.model.classes, ", ")), "\"" + name + "\"");
      ids.push_back(k);
    }
    annotated_copy = train_in;
    for (auto& f : annotated_copy.fields) f.annotated_classes = ids;
    train_ptr = &annotated_copy;
  }
  const FieldDataset& train = *train_ptr;
  at::Device device(at::kCPU);
  try {
    device = at::Device(run.device);
  } catch (const std::exception&) {
    return fail(ErrorCode::kInvalidArgument, "--device", "cpu or cuda[:N]", run.device);
  }
  if (device.is_cuda() && !at::hasCUDA())
    return fail(ErrorCode::kInvalidArgument, "--device", "a device this LibTorch build supports (cpu)",
                run.device);

  const std::string out_dir = run.out_dir;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return fail(ErrorCode::kIo, out_dir + ": cannot create run folder: " + ec.message());
  const Json config_json = config_to_json(config);
  if (auto s = write_json_file((fs::path(out_dir) / "config.json").string(), config_json); !s)
    return tl::unexpected(s.error());

  log << fmt::format("preparing data: {} training fields, {} validation fields, input {} px\n",
                     train.fields.size(), val.fields.size(), config.model.input_size);
  log.flush();
  auto train_ds = DetectorDataset::prepare(train, config.model.input_size, config.data.max_train_fields);
  if (!train_ds) return tl::unexpected(train_ds.error());
  auto val_ds = DetectorDataset::prepare(val, config.model.input_size, config.data.max_val_fields);
  if (!val_ds) return tl::unexpected(val_ds.error());
  if (train_ds->size() == 0) return fail(ErrorCode::kInvalidArgument, "training data", "at least one field", "none");
  const size_t main_fields = train_ds->size();
  size_t replay_fields = 0;
  if (!replay.fields.empty()) {
    auto replay_ds = DetectorDataset::prepare(replay, config.model.input_size);
    if (!replay_ds) return tl::unexpected(replay_ds.error());
    replay_fields = replay_ds->size();
    if (auto s = train_ds->append(std::move(*replay_ds)); !s) return tl::unexpected(s.error());
    log << fmt::format("replay: {} original fields, {} per epoch\n", replay_fields,
                       config.data.replay.fields_per_epoch > 0
                           ? std::min<size_t>(replay_fields, static_cast<size_t>(config.data.replay.fields_per_epoch))
                           : replay_fields);
  }
  const size_t fields_per_epoch =
      epoch_field_indices(main_fields, replay_fields, config.data.replay.fields_per_epoch, config.seed, 0).size();

  at::manual_seed(config.seed);
  RetinaNet net(config.model);
  net->to(device);
  std::vector<at::Tensor> params;
  for (auto& p : net->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(config.optim.lr)
                                          .momentum(config.optim.momentum)
                                          .weight_decay(config.optim.weight_decay));
  TrainerState state;
  state.seed = config.seed;
  if (!config.init_from.empty() && !run.resume) {
    // Fine-tuning starts from a shipped or earlier model; a resumed run has its own checkpoint.
    DetectorModelInfo init_info;
    auto init = load_detector_model(config.init_from, init_info);
    if (!init) return tl::unexpected(init.error());
    if (config_to_json(init_info.model) != config_to_json(config.model))
      return fail(ErrorCode::kInvalidArgument, "init_from " + config.init_from,
                  "the run's model architecture (train-detector --init copies it from the folder)",
                  "a different model.json 'model' section");
    at::NoGradGuard no_grad;
    auto from = (*init)->named_parameters(true);
    for (auto& p : net->named_parameters(true)) p.value().copy_(from[p.key()]);
    auto from_buffers = (*init)->named_buffers(true);
    for (auto& b : net->named_buffers(true)) b.value().copy_(from_buffers[b.key()]);
    net->to(device);
    log << fmt::format("initialised from {} ({})\n", config.init_from, init_info.version);
  }
  if (run.resume) {
    const auto latest = latest_checkpoint(out_dir);
    if (!latest)
      return fail(ErrorCode::kNotFound, out_dir, "a run folder with checkpoints/epoch_NNNN to resume",
                  "no checkpoint");
    if (auto s = load_checkpoint(*latest, *net, &optimizer, state); !s) return tl::unexpected(s.error());
    net->to(device);
    log << fmt::format("resumed from {} (epoch {}, step {}, best {} {:.4f} at epoch {})\n", *latest,
                       state.epoch, state.step, config.best_metric, state.best_metric, state.best_epoch);
  }
  const Assigner assigner(config.assigner);
  const std::string metrics_path = (fs::path(out_dir) / "metrics.jsonl").string();
  // A resumed run keeps the history up to its checkpoint and drops epochs it will redo; a fresh
  // run starts an empty one.
  std::vector<EpochRecord> history = keep_history(metrics_path, state.epoch);

  DetectorLoaderOptions lo;
  lo.batch_size = config.optim.batch_size;
  lo.pixel_mean = config.model.pixel_mean;
  lo.pixel_std = config.model.pixel_std;
  lo.augment_options = config.augment;
  const int64_t steps_per_epoch =
      static_cast<int64_t>((fields_per_epoch + static_cast<size_t>(lo.batch_size) - 1) / static_cast<size_t>(lo.batch_size));
  const int eval_batch = std::max(1, config.optim.batch_size);
  std::vector<std::pair<std::string, std::string>> run_rows = {
      {"output", out_dir},
      {"command", run.command},
      {"data", run.data},
      {"classes", fmt::format("{}", fmt::join(config.model.classes, ", "))},
      {"input size", std::to_string(config.model.input_size)},
      {"assigner", config_to_json(config.assigner.kind).get<std::string>()},
      {"epochs", std::to_string(config.optim.epochs)},
      {"batch size", std::to_string(config.optim.batch_size)},
      {"training fields", std::to_string(main_fields)},
      {"validation fields", std::to_string(val_ds->size())}};
  if (!config.init_from.empty()) run_rows.push_back({"initialised from", config.init_from});
  if (replay_fields > 0)
    run_rows.push_back({"replay", fmt::format("{} ({} fields, {} per epoch)", config.data.replay.path, replay_fields,
                                              fields_per_epoch - main_fields)});

  DetectorTrainResult result;
  int epochs_this_call = 0;
  while (state.epoch < config.optim.epochs) {
    if (run.max_epochs_this_call > 0 && epochs_this_call >= run.max_epochs_this_call) break;
    const int epoch = state.epoch;  // 0-based index of the epoch being run
    net->train();
    if (replay_fields > 0)
      lo.indices = epoch_field_indices(main_fields, replay_fields, config.data.replay.fields_per_epoch, state.seed, epoch);
    DetectorBatchLoader loader(*train_ds, lo, state.seed, epoch);
    double sum_loss = 0, sum_cls = 0, sum_box = 0, sum_iou = 0, lr = 0;
    int64_t images = 0, steps = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (auto batch = loader.next()) {
      lr = config.optim.lr * lr_factor(config.optim.schedule, state.step, steps_per_epoch, config.optim.epochs);
      for (auto& g : optimizer.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
      const auto out = net->forward(batch->images.to(device));
      const auto targets = build_detection_targets(out, *batch, assigner, net->box_coder());
      const auto loss = detection_loss(out.cls_logits, out.box_deltas, out.iou_logits, out.anchors, targets,
                                       net->box_coder(), config.model.loss);
      optimizer.zero_grad();
      loss.total.backward();
      if (config.optim.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, config.optim.clip_grad_norm);
      optimizer.step();
      ++state.step;
      ++steps;
      images += batch->images.size(0);
      const double l = loss.total.item<double>();
      if (!std::isfinite(l))
        return fail(ErrorCode::kInternal, fmt::format("training diverged at epoch {} step {}: loss {}; "
                                                      "lower optim.lr or raise warm-up",
                                                      epoch + 1, state.step, l));
      sum_loss += l;
      sum_cls += loss.cls.item<double>();
      sum_box += loss.box.item<double>();
      sum_iou += loss.iou.defined() ? loss.iou.item<double>() : 0.0;
      if (config.log_every > 0 && (steps % config.log_every == 0 || steps == static_cast<int64_t>(loader.num_batches()))) {
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = images / std::max(el, 1e-9);
        const double left_images =
            static_cast<double>((static_cast<int64_t>(loader.num_batches()) - steps) * lo.batch_size +
                                (config.optim.epochs - epoch - 1) * static_cast<int64_t>(fields_per_epoch));
        log << fmt::format(
            "epoch {}/{} step {}/{} loss {:.4f} (cls {:.4f} box {:.4f} iou {:.4f}) pos {} lr {:.2e} "
            "{:.2f} img/s ETA {}\n",
            epoch + 1, config.optim.epochs, steps, loader.num_batches(), sum_loss / steps, sum_cls / steps,
            sum_box / steps, sum_iou / steps, loss.num_positive, lr, rate, format_duration(left_images / rate));
        log.flush();
      }
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.train_seconds += train_s;
    state.epoch = epoch + 1;
    ++epochs_this_call;

    EpochRecord rec;
    rec.epoch = state.epoch;
    rec.loss = sum_loss / std::max<int64_t>(1, steps);
    rec.cls = sum_cls / std::max<int64_t>(1, steps);
    rec.box = sum_box / std::max<int64_t>(1, steps);
    rec.iou = sum_iou / std::max<int64_t>(1, steps);
    rec.lr = lr;
    rec.seconds = train_s;
    rec.images_per_second = images / std::max(train_s, 1e-9);

    Json val_json;
    std::optional<DetectionMetrics> metrics;
    bool improved = false;
    if (val_ds->size() > 0) {
      const auto tv = std::chrono::steady_clock::now();
      const auto pairs = detect_prepared_fields(*net, *val_ds, eval_batch);
      DetectionEvalOptions eo;
      eo.classes = config.model.classes;
      auto m = evaluate_detections(pairs, eo);
      if (!m) return tl::unexpected(m.error());
      metrics = std::move(*m);
      val_json = detection_metrics_json(*metrics);
      val_json.erase("pr_curves");  // keep metrics.jsonl lines short; report.html has the curves
      rec.val_ap = metrics->ap;
      rec.val_ap50 = metrics->ap50;
      rec.val_ap75 = metrics->ap75;
      rec.val_ap90 = metrics->ap90;
      rec.val_ar100 = metrics->ar100;
      const double value = select_metric(*metrics, config.best_metric, config.best_metric_class);
      improved = value > state.best_metric;
      if (improved) {
        state.best_metric = value;
        state.best_epoch = state.epoch;
      }
      std::string per_class;
      for (const auto& c : metrics->per_class)
        per_class += fmt::format(" | {} AP50 {:.4f} AP75 {:.4f}", c.name, c.ap50, c.ap75);
      log << fmt::format("epoch {} validation: AP {:.4f} AP50 {:.4f} AP75 {:.4f} AP90 {:.4f} AR100 {:.4f}{} "
                         "({:.1f} s){}\n",
                         state.epoch, metrics->ap, metrics->ap50, metrics->ap75, metrics->ap90, metrics->ar100,
                         per_class,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - tv).count(),
                         improved ? " [best]" : "");
    } else {
      improved = true;  // without validation the latest weights are the best we know
      state.best_epoch = state.epoch;
    }
    history.push_back(rec);
    {
      std::ofstream out(metrics_path, std::ios::app);
      out << epoch_json(rec, state.step, val_json).dump() << "\n";
    }

    if (auto s = save_checkpoint(epoch_checkpoint_dir(out_dir, state.epoch), *net, &optimizer, state, config_json); !s)
      return tl::unexpected(s.error());
    if (improved) {
      if (auto s = save_checkpoint((fs::path(out_dir) / "checkpoints" / "best").string(), *net, &optimizer, state,
                                   config_json);
          !s)
        return tl::unexpected(s.error());
      DetectorModelInfo info;
      info.version = fmt::format("retinanet-{}-e{}", fs::path(out_dir).filename().string(), state.epoch);
      info.model = config.model;
      info.provenance = {{"data", run.data},
                         {"command", run.command},
                         {"seed", config.seed},
                         {"date", utc_now()},
                         {"epoch", state.epoch},
                         {"of_epochs", config.optim.epochs},
                         {"train_seconds", state.train_seconds},
                         {"assigner", config_to_json(config.assigner)},
                         {"optim", config_to_json(config.optim)},
                         {"run", out_dir}};
      if (!config.init_from.empty()) info.provenance["init_from"] = config.init_from;
      if (replay_fields > 0) info.provenance["replay"] = config_to_json(config.data.replay);
      info.metrics = val_json.is_null() ? Json::object() : val_json;
      net->to(at::kCPU);
      const auto s = write_detector_model((fs::path(out_dir) / "model").string(), *net, info);
      net->to(device);
      if (!s) return tl::unexpected(s.error());
    }
    prune_checkpoints(out_dir, std::max(1, config.keep_checkpoints));
    auto rows = run_rows;
    rows.push_back({"epochs done", std::to_string(state.epoch)});
    rows.push_back({"training time", format_duration(state.train_seconds)});
    rows.push_back({"best", fmt::format("{} {:.4f} at epoch {}", config.best_metric, state.best_metric, state.best_epoch)});
    write_report((fs::path(out_dir) / "report.html").string(), "Detector training — " + fs::path(out_dir).filename().string(),
                 history, metrics ? &*metrics : nullptr, rows);
    result.last_validation = val_json;
  }
  // A fine-tuned detector keeps its base's int8 speed: when the base folder has a calibration of
  // its weights, the new model gets one of its own, measured on the fields it trained on (the
  // lab's and the replayed) by the base's rule. Without one it runs bf16, as its base did.
  const fs::path model_dir = fs::path(out_dir) / "model";
  if (!config.init_from.empty() && fs::exists(model_dir / "model.json")) {
    auto init_info = read_detector_model_info(config.init_from);
    auto method = init_info ? base_int8_method(config.init_from, init_info->version, "mse")
                            : Result<std::string>(tl::unexpected(init_info.error()));
    if (method) {
      Int8MeasureRequest m;
      m.model_dir = model_dir.string();
      m.max_items = 256;
      for (const auto* ds : {&train, &replay})
        for (const auto& f : ds->fields) m.image_paths.push_back(f.image_path);
      m.method = *method;
      m.provenance = {{"fields", "the run's training fields (and replayed ones)"}, {"run", out_dir}};
      auto cal = calibrate_detector_int8(m);
      if (!cal) return tl::unexpected(cal.error());
      log << fmt::format("int8: {} calibrated on {} fields ({})\n", m.model_dir,
                         cal->provenance.at("measured_fields").get<size_t>(), m.method);
    } else if (method.error().code != ErrorCode::kNotFound) {
      log << "int8: no calibration for the new model: " << method.error().message << "\n";
    }
  }
  result.epochs_done = state.epoch;
  result.steps_done = state.step;
  result.best_metric = state.best_metric;
  result.best_epoch = state.best_epoch;
  result.train_seconds = state.train_seconds;
  return result;
}

}  // namespace ms
