#include "engine/classifier/classifier_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/nn/functional.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "data/formats/formats.h"
#include "engine/classifier/cell_batch_loader.h"
#include "engine/classifier/cell_cache.h"
#include "engine/classifier/classifier_evaluator.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/classifier/classifier_report.h"
#include "engine/train/checkpoint.h"
#include "engine/train/image_tensor.h"
#include "models/vit/contrastive_loss.h"

namespace ms {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

Status validate(const ClassifierTrainConfig& c, const std::string& source) {
  auto bad = [&](const std::string& key, const std::string& expected, const std::string& found) {
    return fail(ErrorCode::kInvalidArgument, source + ":$." + key, expected, found);
  };
  if (c.data.crop_fraction <= 0 || c.data.crop_fraction > 1)
    return bad("data.crop_fraction", "a value in (0,1]", std::to_string(c.data.crop_fraction));
  if (c.data.val_fraction <= 0 || c.data.val_fraction >= 1)
    return bad("data.val_fraction", "a value in (0,1)", std::to_string(c.data.val_fraction));
  if (c.optim.batch_size < 2) return bad("optim.batch_size", ">= 2", std::to_string(c.optim.batch_size));
  if (c.optim.epochs < 1) return bad("optim.epochs", ">= 1", std::to_string(c.optim.epochs));
  if (c.optim.lr <= 0) return bad("optim.lr", "> 0", std::to_string(c.optim.lr));
  if (c.optim.label_smoothing < 0 || c.optim.label_smoothing >= 1)
    return bad("optim.label_smoothing", "a value in [0,1)", std::to_string(c.optim.label_smoothing));
  if (c.keep_checkpoints < 1)
    return bad("keep_checkpoints", ">= 1", std::to_string(c.keep_checkpoints));
  if (c.log_every < 1) return bad("log_every", ">= 1", std::to_string(c.log_every));
  if (c.eval_batch < 1) return bad("eval_batch", ">= 1", std::to_string(c.eval_batch));
  if (c.data.sampling == SamplingKind::kBalanced) {
    if (auto s = ClassBalancedSampler::create({}, c.data.balance, 0, source + ":$.data.balance"); !s)
      return tl::unexpected(s.error());
  }
  return validate_augment_options(c.data.augment, source + ":$.data.augment");
}

namespace {

// Stratified hold-out: per class, a seeded shuffle puts round(val_fraction * n) cells in val.
void stratified_holdout(const CellCache& cache, double val_fraction, uint64_t seed,
                        std::vector<int>& train, std::vector<int>& val) {
  for (size_t c = 0; c < cache.classes.size(); ++c) {
    std::vector<int> members;
    for (size_t i = 0; i < cache.labels.size(); ++i)
      if (cache.labels[i] == static_cast<int>(c)) members.push_back(static_cast<int>(i));
    std::mt19937_64 rng(mix_seed(seed, c, 7));
    std::shuffle(members.begin(), members.end(), rng);
    const size_t nv = static_cast<size_t>(std::lround(val_fraction * members.size()));
    val.insert(val.end(), members.begin(), members.begin() + nv);
    train.insert(train.end(), members.begin() + nv, members.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
}

// Stratified K folds: per class, a seeded shuffle dealt round-robin into folds.
std::vector<int> stratified_folds(const CellCache& cache, int k, uint64_t seed) {
  std::vector<int> fold(cache.labels.size(), 0);
  for (size_t c = 0; c < cache.classes.size(); ++c) {
    std::vector<int> members;
    for (size_t i = 0; i < cache.labels.size(); ++i)
      if (cache.labels[i] == static_cast<int>(c)) members.push_back(static_cast<int>(i));
    std::mt19937_64 rng(mix_seed(seed, c, 11));
    std::shuffle(members.begin(), members.end(), rng);
    for (size_t j = 0; j < members.size(); ++j) fold[members[j]] = static_cast<int>(j % k);
  }
  return fold;
}

Status write_list(const std::string& path, const CellCache& cache, const std::vector<int>& idx) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return fail(ErrorCode::kIo, path + ": cannot write file");
  for (int i : idx) out << cache.classes[cache.labels[i]] << "\t" << cache.paths[i] << "\n";
  return out ? Status{} : fail(ErrorCode::kIo, path + ": write failed");
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Keeps metrics.jsonl lines of epochs <= `epoch` (a resumed run rewrites what follows).
void truncate_metrics(const std::string& path, int epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> keep;
  std::string line;
  while (std::getline(in, line)) {
    auto j = Json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("epoch") && j["epoch"].get<int>() <= epoch) keep.push_back(line);
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : keep) out << l << "\n";
}

struct Optim {
  std::unique_ptr<torch::optim::Optimizer> opt;
  OptimizerKind kind;
  void set_lr(double lr) {
    for (auto& g : opt->param_groups()) {
      if (kind == OptimizerKind::kAdamW)
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      else
        static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
    }
  }
};

Optim make_optimizer(ClassifierNetImpl& net, const ClassifierOptimOptions& o) {
  std::vector<at::Tensor> decay, no_decay;
  net.split_decay(decay, no_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  Optim out;
  out.kind = o.kind;
  if (o.kind == OptimizerKind::kAdamW) {
    auto base = torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay);
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(base));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(o.lr).weight_decay(0)));
    out.opt = std::make_unique<torch::optim::AdamW>(std::move(groups), base);
  } else {
    auto base = torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(true).weight_decay(
        o.weight_decay);
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(base));
    auto nd = base;
    nd.weight_decay(0);
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(nd));
    out.opt = std::make_unique<torch::optim::SGD>(std::move(groups), base);
  }
  return out;
}

struct FoldResult {
  int epochs_done = 0, best_epoch = -1;
  double best_accuracy = 0, best_macro_f1 = 0;
  Json best_metrics;
};

// The config name of an enum value (core/config.h's enum_names).
template <class E>
std::string name_of(E value) {
  for (const auto& [v, name] : enum_names(value))
    if (v == value) return name;
  return "?";
}

// The "Run" rows that open a run's report.html.
std::vector<std::pair<std::string, std::string>> run_rows(const ClassifierTrainConfig& cfg,
                                                          const ClassifierTrainRequest& req,
                                                          size_t train_cells, size_t val_cells) {
  return {{"config", cfg.name},
          {"architecture", name_of(cfg.model.arch)},
          {"input size", std::to_string(cfg.model.input_size) + " px"},
          {"data", req.data_dir},
          {"sampling", name_of(cfg.data.sampling)},
          {"optimizer", name_of(cfg.optim.kind)},
          {"epochs planned", std::to_string(cfg.optim.epochs)},
          {"train / val cells", fmt::format("{} / {}", train_cells, val_cells)},
          {"device", req.device},
          {"command", req.command}};
}

// One training run on a fixed split, in `out`.
Result<FoldResult> train_split(const ClassifierTrainConfig& cfg, const Json& cfg_json,
                               const CellCache& cache, const std::vector<int>& train_idx,
                               const std::vector<int>& val_idx, const std::string& out,
                               const ClassifierTrainRequest& req,
                               const std::function<void(const std::string&)>& log) {
  const at::Device device(req.device);
  const int input = cfg.model.input_size;
  const int classes = static_cast<int>(cache.classes.size());
  std::error_code ec;
  fs::create_directories(fs::path(out) / "checkpoints", ec);
  if (ec) return fail(ErrorCode::kIo, out + ": cannot create run folder: " + ec.message());
  if (auto s = write_json_file((fs::path(out) / "config.json").string(), cfg_json); !s)
    return tl::unexpected(s.error());
  if (auto s = write_list((fs::path(out) / "train.txt").string(), cache, train_idx); !s)
    return tl::unexpected(s.error());
  if (auto s = write_list((fs::path(out) / "val.txt").string(), cache, val_idx); !s)
    return tl::unexpected(s.error());

  // Normalisation from the training cells only (no peeking at validation).
  std::vector<cv::Mat> train_imgs;
  for (int i : train_idx) train_imgs.push_back(cache.images[i]);
  Normalization norm = measure_normalization(train_imgs);
  // The training cells' stain, as the network sees them: what samples are compared with, and the
  // standardisation's target when the config asks for one.
  for (cv::Mat& m : train_imgs) m = center_crop(m, input);
  const StainStandardisation training_stain = stain_reference(train_imgs);
  if (cfg.data.stain_standardise) norm.stain = training_stain;
  train_imgs.clear();

  torch::manual_seed(cfg.seed);
  std::shared_ptr<ClassifierNetImpl> net = make_classifier(cfg.model, classes);
  net->to(device);
  Optim optim = make_optimizer(*net, cfg.optim);
  TrainerState state;
  state.seed = cfg.seed;
  const std::string metrics_path = (fs::path(out) / "metrics.jsonl").string();
  if (req.resume) {
    if (auto last = latest_checkpoint(out)) {
      if (auto s = load_checkpoint(*last, *net, optim.opt.get(), state); !s)
        return tl::unexpected(s.error());
      net->to(device);
      log(fmt::format("resumed from {} (epoch {}, step {}, best acc {:.4f} at epoch {})", *last,
                      state.epoch, state.step, state.best_metric, state.best_epoch));
      truncate_metrics(metrics_path, state.epoch);
    } else {
      log("no checkpoint in " + out + "; starting from scratch");
    }
  } else {
    std::ofstream(metrics_path, std::ios::trunc);
  }

  // Balanced sampling (thesis ch. 5): the sampler indexes train_idx; its epoch is a function of
  // (seed, epoch), so resuming stays exact.
  std::optional<ClassBalancedSampler> sampler;
  if (cfg.data.sampling == SamplingKind::kBalanced) {
    std::vector<int> train_labels;
    for (int i : train_idx) train_labels.push_back(cache.labels[i]);
    auto s = ClassBalancedSampler::create(std::move(train_labels), cfg.data.balance, cfg.seed,
                                          "config:$.data.balance");
    if (!s) return tl::unexpected(s.error());
    sampler = std::move(*s);
    std::string counts;
    const auto per_class = sampler->per_class_counts();
    for (size_t c = 0; c < per_class.size(); ++c)
      counts += fmt::format("{}{} {}", c ? ", " : "", cache.classes[c], per_class[c]);
    log(fmt::format("balanced sampling: {} draws per epoch ({})", sampler->epoch_size(), counts));
  }
  const size_t epoch_cells = sampler ? sampler->epoch_size() : train_idx.size();
  const int64_t per_epoch_full = static_cast<int64_t>(epoch_cells) / cfg.optim.batch_size;
  const int64_t steps_per_epoch =
      std::max<int64_t>(1, cfg.max_steps_per_epoch > 0
                               ? std::min<int64_t>(per_epoch_full, cfg.max_steps_per_epoch)
                               : per_epoch_full);
  const int64_t total_steps = steps_per_epoch * cfg.optim.epochs;
  log(fmt::format("{} parameters, {} train / {} val cells, {} steps/epoch, {} epochs, input {} px",
                  count_parameters(*net), train_idx.size(), val_idx.size(), steps_per_epoch,
                  cfg.optim.epochs, input));

  ClassifierModelInfo info;
  info.model = cfg.model;
  info.classes = cache.classes;
  info.crop_fraction = cfg.data.crop_fraction;
  info.normalization = norm;
  info.training_stain = training_stain;

  FoldResult result;
  result.best_epoch = state.best_epoch;
  result.best_accuracy = std::max(0.0, state.best_metric);
  double run_rate = 0;  // images/s of the latest epoch, for the ETA
  for (int epoch = state.epoch; epoch < cfg.optim.epochs; ++epoch) {
    // Everything random in this epoch derives from (seed, epoch): exact resume.
    torch::manual_seed(mix_seed(cfg.seed, epoch, 1));
    std::vector<int> order;
    std::vector<bool> extra_copy;
    if (sampler) {
      for (const auto& d : sampler->epoch(static_cast<uint64_t>(epoch))) {
        order.push_back(train_idx[d.index]);
        extra_copy.push_back(d.augment);
      }
    } else {
      order = train_idx;
      std::mt19937_64 shuffle_rng(mix_seed(cfg.seed, epoch, 2));
      std::shuffle(order.begin(), order.end(), shuffle_rng);
    }
    const size_t used = std::min<size_t>(order.size(), steps_per_epoch * cfg.optim.batch_size);
    order.resize(used);
    if (!extra_copy.empty()) extra_copy.resize(used);
    CellLoaderOptions lo;
    lo.batch_size = cfg.optim.batch_size;
    lo.input_size = input;
    lo.train = true;
    lo.augment = cfg.data.augment;
    lo.norm = norm;
    lo.seed = cfg.seed;
    lo.epoch = epoch;
    CellBatchLoader loader(cache, order, lo, extra_copy);
    net->train();
    const auto t0 = std::chrono::steady_clock::now();
    double sum_loss = 0, sum_ce = 0, sum_con = 0;
    int64_t seen = 0, correct = 0, steps = 0;
    while (auto batch = loader.next()) {
      const double lr = cfg.optim.lr * lr_factor(cfg.optim.schedule, state.step, steps_per_epoch,
                                                 cfg.optim.epochs);
      optim.set_lr(lr);
      auto images = batch->images.to(device), labels = batch->labels.to(device);
      auto r = net->forward(images);
      auto ce = F::cross_entropy(
          r.logits, labels, F::CrossEntropyFuncOptions().label_smoothing(cfg.optim.label_smoothing));
      at::Tensor loss = ce, con;
      if (cfg.optim.contrastive_weight > 0) {
        con = contrastive_loss(r.embedding, labels, cfg.optim.contrastive_margin);
        loss = loss + cfg.optim.contrastive_weight * con;
      }
      optim.opt->zero_grad();
      loss.backward();
      if (cfg.optim.grad_clip > 0)
        torch::nn::utils::clip_grad_norm_(net->parameters(), cfg.optim.grad_clip);
      optim.opt->step();
      ++state.step;
      ++steps;
      const int64_t n = labels.size(0);
      seen += n;
      correct += r.logits.argmax(1).eq(labels).sum().item<int64_t>();
      sum_loss += loss.item<double>() * n;
      sum_ce += ce.item<double>() * n;
      if (con.defined()) sum_con += con.item<double>() * n;
      if (!std::isfinite(loss.item<double>()))
        return fail(ErrorCode::kInternal, fmt::format("training diverged at epoch {} step {}: loss "
                                                      "is not finite (lower optim.lr?)",
                                                      epoch + 1, state.step));
      if (steps % cfg.log_every == 0 || steps == steps_per_epoch) {
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = seen / std::max(el, 1e-9);
        const double eta = (total_steps - state.step) * cfg.optim.batch_size / rate;
        log(fmt::format("epoch {}/{} step {}/{} loss {:.4f} (ce {:.4f} con {:.4f}) acc {:.3f} "
                        "lr {:.2e} {:.1f} img/s ETA {}",
                        epoch + 1, cfg.optim.epochs, steps, steps_per_epoch, sum_loss / seen,
                        sum_ce / seen, sum_con / seen, static_cast<double>(correct) / seen, lr,
                        rate, format_duration(eta)));
      }
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    run_rate = seen / std::max(train_s, 1e-9);
    state.train_seconds += train_s;
    state.epoch = epoch + 1;

    auto preds = predict_cells(*net, cache, val_idx, input, norm, cfg.eval_batch, req.device, false);
    auto m = score_predictions(preds, cache.classes);
    if (!m) return tl::unexpected(m.error());
    Json mj = evaluation_json(*m, preds);
    const bool best = m->accuracy > state.best_metric;
    if (best) {
      state.best_metric = m->accuracy;
      state.best_epoch = state.epoch;
    }
    Json line = {{"epoch", state.epoch},
                 {"step", state.step},
                 {"lr", cfg.optim.lr * lr_factor(cfg.optim.schedule, std::max<int64_t>(0, state.step - 1),
                                                 steps_per_epoch, cfg.optim.epochs)},
                 {"train_loss", sum_loss / std::max<int64_t>(1, seen)},
                 {"train_ce", sum_ce / std::max<int64_t>(1, seen)},
                 {"train_contrastive", sum_con / std::max<int64_t>(1, seen)},
                 {"train_accuracy", static_cast<double>(correct) / std::max<int64_t>(1, seen)},
                 {"val_accuracy", m->accuracy},
                 {"val_macro_f1", m->macro_f1},
                 {"val_top5", m->top_k_accuracy},
                 {"train_img_per_s", run_rate},
                 {"val_cells_per_s", mj["cells_per_second"]},
                 {"epoch_seconds", train_s},
                 {"train_seconds_total", state.train_seconds},
                 {"time", utc_now()}};
    // Checkpoint before logging the epoch: a metrics line always has its checkpoint.
    if (auto s = save_checkpoint(epoch_checkpoint_dir(out, state.epoch), *net, optim.opt.get(),
                                 state, cfg_json);
        !s)
      return tl::unexpected(s.error());
    if (best) {
      if (auto s = save_checkpoint((fs::path(out) / "checkpoints" / "best").string(), *net,
                                   optim.opt.get(), state, cfg_json);
          !s)
        return tl::unexpected(s.error());
      info.version = fmt::format("{}-e{}", cfg.name, state.epoch);
      info.metrics = mj;
      info.provenance = {{"data", req.data_dir},
                         {"command", req.command},
                         {"seed", cfg.seed},
                         {"split_seed", cfg.data.split_seed},
                         {"epoch", state.epoch},
                         {"epochs_planned", cfg.optim.epochs},
                         {"train_seconds", state.train_seconds},
                         {"date", utc_now()},
                         {"train_cells", train_idx.size()},
                         {"val_cells", val_idx.size()}};
      if (auto s = write_classifier_model((fs::path(out) / "model").string(), *net, info); !s)
        return tl::unexpected(s.error());
      if (auto s = write_json_file((fs::path(out) / "best_metrics.json").string(), mj); !s)
        return tl::unexpected(s.error());
      result.best_metrics = mj;
    }
    prune_checkpoints(out, cfg.keep_checkpoints);
    {
      std::ofstream f(metrics_path, std::ios::app);
      f << line.dump() << "\n";
    }
    // A report that cannot be written must not stop training; say so and go on.
    if (auto s = write_classifier_run_report(
            out, "Classifier training — " + cfg.name + " (" + fs::path(out).filename().string() + ")",
            run_rows(cfg, req, train_idx.size(), val_idx.size()));
        !s)
      log("warning: " + s.error().message);
    log(fmt::format("epoch {}/{} done in {}: train loss {:.4f} acc {:.4f} | val acc {:.4f} "
                    "macro-F1 {:.4f} top5 {:.4f}{} | {:.1f} img/s",
                    state.epoch, cfg.optim.epochs, format_duration(train_s),
                    sum_loss / std::max<int64_t>(1, seen),
                    static_cast<double>(correct) / std::max<int64_t>(1, seen), m->accuracy,
                    m->macro_f1, m->top_k_accuracy, best ? " (best)" : "", run_rate));
    result.epochs_done = state.epoch;
    result.best_epoch = state.best_epoch;
    result.best_accuracy = state.best_metric;
    if (best) result.best_macro_f1 = m->macro_f1;
  }
  result.epochs_done = state.epoch;
  if (result.best_metrics.is_null()) {
    auto j = read_json_file((fs::path(out) / "best_metrics.json").string());
    if (j) {
      result.best_metrics = *j;
      result.best_macro_f1 = (*j).value("macro_f1", 0.0);
    }
  }
  return result;
}

}  // namespace

Result<ClassifierTrainResult> train_classifier(const ClassifierTrainRequest& req) {
  auto log = req.log ? req.log : [](const std::string& s) { std::cout << s << std::endl; };
  ClassifierTrainConfig cfg = req.config;
  const std::string config_path = (fs::path(req.out_dir) / "config.json").string();
  if (req.resume && fs::exists(config_path)) {
    // The run's own config wins over the command line: resuming must not change the run.
    auto j = read_json_file(config_path);
    if (!j) return tl::unexpected(j.error());
    auto c = parse_config<ClassifierTrainConfig>(*j, config_path);
    if (!c) return tl::unexpected(c.error());
    cfg = *c;
  }
  if (auto s = validate(cfg, "config"); !s) return tl::unexpected(s.error());
  if (req.device != "cpu") {
    if (req.device.rfind("cuda", 0) != 0)
      return fail(ErrorCode::kInvalidArgument, "--device", "cpu or cuda[:N]", req.device);
    if (!torch::cuda::is_available())
      return fail(ErrorCode::kInvalidArgument, "--device", "a CUDA-enabled LibTorch with a GPU",
                  "no CUDA device available");
  }
  if (req.folds == 1 || req.folds < 0)
    return fail(ErrorCode::kInvalidArgument, "--folds", "0 (hold-out) or K >= 2",
                std::to_string(req.folds));
  // Fail on a bad architecture before the slow cache build.
  try {
    make_classifier(cfg.model, 2);
  } catch (const MarrowError& e) {
    return fail(ErrorCode::kInvalidArgument, std::string("config: ") + e.what());
  }

  auto ds = read_folder_tree(req.data_dir);
  if (!ds) return tl::unexpected(ds.error());
  if (ds->classes.size() < 2)
    return fail(ErrorCode::kInvalidArgument, req.data_dir, "at least 2 class folders",
                std::to_string(ds->classes.size()));
  const int cache_side = cache_side_for(cfg.model.input_size, cfg.data.crop_fraction);
  const auto t0 = std::chrono::steady_clock::now();
  auto cache = build_cell_cache(*ds, cache_side, [&](size_t done, size_t total) {
    if (done == total || done % 2048 == 1)
      log(fmt::format("caching cells {}/{} at {} px", done, total, cache_side));
  });
  if (!cache) return tl::unexpected(cache.error());
  for (const auto& s : cache->skipped) log("skipped " + s);
  log(fmt::format("cached {} cells of {} classes in {}", cache->images.size(), cache->classes.size(),
                  format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count())));

  const Json cfg_json = config_to_json(cfg);
  std::error_code ec;
  fs::create_directories(req.out_dir, ec);
  if (ec) return fail(ErrorCode::kIo, req.out_dir + ": cannot create run folder: " + ec.message());
  ClassifierTrainResult out;
  if (req.folds <= 1) {
    std::vector<int> train_idx, val_idx;
    stratified_holdout(*cache, cfg.data.val_fraction, cfg.data.split_seed, train_idx, val_idx);
    auto r = train_split(cfg, cfg_json, *cache, train_idx, val_idx, req.out_dir, req, log);
    if (!r) return tl::unexpected(r.error());
    out.epochs_done = r->epochs_done;
    out.best_epoch = r->best_epoch;
    out.best_accuracy = r->best_accuracy;
    out.best_macro_f1 = r->best_macro_f1;
    out.model_dir = (fs::path(req.out_dir) / "model").string();
    out.report = (fs::path(req.out_dir) / "report.html").string();
    out.summary = r->best_metrics;
    return out;
  }
  // K-fold cross-validation (the thesis used 5): fold k validates on the k-th stratified part.
  const auto fold = stratified_folds(*cache, req.folds, cfg.data.split_seed);
  std::vector<FoldSummary> folds;
  size_t val_cells = 0;
  for (int k = 0; k < req.folds; ++k) {
    std::vector<int> train_idx, val_idx;
    for (size_t i = 0; i < fold.size(); ++i) (fold[i] == k ? val_idx : train_idx).push_back(static_cast<int>(i));
    log(fmt::format("fold {}/{}", k + 1, req.folds));
    const std::string dir = (fs::path(req.out_dir) / fmt::format("fold_{}", k)).string();
    auto r = train_split(cfg, cfg_json, *cache, train_idx, val_idx, dir, req, log);
    if (!r) return tl::unexpected(r.error());
    auto best = classification_metrics_from_json(r->best_metrics, dir + "/best_metrics.json");
    if (!best) return tl::unexpected(best.error());
    folds.push_back({k, r->best_epoch, std::move(*best), dir});
    val_cells += val_idx.size();
  }
  out.summary = cross_validation_json(folds);
  if (auto s = write_json_file((fs::path(req.out_dir) / "folds.json").string(), out.summary); !s)
    return tl::unexpected(s.error());
  out.report = (fs::path(req.out_dir) / "report.html").string();
  if (auto s = write_cross_validation_report(
          out.report, fmt::format("Classifier {}-fold cross-validation — {}", req.folds, cfg.name),
          folds, run_rows(cfg, req, cache->images.size() - val_cells / req.folds, val_cells / req.folds));
      !s)
    return tl::unexpected(s.error());
  const double am = out.summary["accuracy_mean"], as = out.summary["accuracy_sd"];
  const double fm = out.summary["macro_f1_mean"], fsd = out.summary["macro_f1_sd"];
  log(fmt::format("{}-fold CV: accuracy {:.4f} +- {:.4f}, macro-F1 {:.4f} +- {:.4f} -> {}", req.folds, am,
                  as, fm, fsd, out.report));
  out.folds = req.folds;
  out.best_accuracy = am;
  out.accuracy_sd = as;
  out.best_macro_f1 = fm;
  out.macro_f1_sd = fsd;
  out.epochs_done = cfg.optim.epochs;
  return out;
}

}  // namespace ms
