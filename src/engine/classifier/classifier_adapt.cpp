#include "engine/classifier/classifier_adapt.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/nn/functional.h>
#include <torch/optim/sgd.h>

#include "core/utc_time.h"
#include "data/formats/formats.h"
#include "engine/classifier/atypical.h"
#include "engine/classifier/cell_batch_loader.h"
#include "engine/classifier/cell_cache.h"
#include "engine/classifier/cell_list.h"
#include "engine/classifier/classifier_evaluator.h"
#include "engine/classifier/classifier_model_file.h"
#include "engine/predict/int8_measure.h"

namespace ms {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

Status validate(const AdaptOptions& o, const std::string& source) {
  auto bad = [&](const std::string& key, const std::string& expected, const std::string& found) {
    return fail(ErrorCode::kInvalidArgument, source + ":$." + key, expected, found);
  };
  if (!(o.holdout_fraction > 0 && o.holdout_fraction < 1))
    return bad("holdout_fraction", "a value in (0,1)", std::to_string(o.holdout_fraction));
  if (o.max_epochs < 1 || o.max_epochs > 200) return bad("max_epochs", "1..200", std::to_string(o.max_epochs));
  if (o.patience < 1) return bad("patience", ">= 1", std::to_string(o.patience));
  if (!(o.lr > 0 && o.lr < 1)) return bad("lr", "a value in (0,1)", std::to_string(o.lr));
  if (!(o.weight_decay >= 0)) return bad("weight_decay", ">= 0", std::to_string(o.weight_decay));
  if (o.batch_size < 2 || o.batch_size > 1024) return bad("batch_size", "2..1024", std::to_string(o.batch_size));
  if (o.min_steps_per_epoch < 1 || o.min_steps_per_epoch > 10000)
    return bad("min_steps_per_epoch", "1..10000", std::to_string(o.min_steps_per_epoch));
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
    return bad("label_smoothing", "a value in [0,1)", std::to_string(o.label_smoothing));
  if (!(o.replay_ratio >= 0)) return bad("replay_ratio", ">= 0", std::to_string(o.replay_ratio));
  if (o.max_lab_cells < 2 || o.max_lab_cells > 200000)
    return bad("max_lab_cells", "2..200000", std::to_string(o.max_lab_cells));
  if (o.min_replay < 0 || o.max_replay < o.min_replay)
    return bad("max_replay", ">= min_replay >= 0", fmt::format("{} and {}", o.min_replay, o.max_replay));
  return validate_augment_options(o.augment, source + ":$.augment");
}

namespace {

// Parameters and buffers, copied: the best epoch's weights while later epochs train.
std::vector<at::Tensor> snapshot(ClassifierNetImpl& net) {
  std::vector<at::Tensor> out;
  for (const auto& p : net.parameters()) out.push_back(p.detach().clone());
  for (const auto& b : net.buffers()) out.push_back(b.detach().clone());
  return out;
}

void restore(ClassifierNetImpl& net, const std::vector<at::Tensor>& saved) {
  c10::NoGradGuard no_grad;
  size_t k = 0;
  for (auto& p : net.parameters()) p.copy_(saved[k++]);
  for (auto& b : net.buffers()) b.copy_(saved[k++]);
}

// The epoch is chosen by the held-back cells' mean negative log-likelihood: with the few dozen
// cells a lab holds back, accuracy moves in steps of several percent and stops training at the
// first plateau, while the likelihood still tells a better fit from a worse one.
struct HeldBackScore {
  double accuracy = 0, nll = 0;
  bool better_than(const HeldBackScore& o) const { return nll < o.nll - 1e-9; }
};

HeldBackScore score(ClassifierNetImpl& net, const CellCache& cache, const std::vector<int>& idx,
                    const ClassifierModelInfo& info) {
  auto p = predict_cells(net, cache, idx, info.model.input_size, info.normalization, 64, "cpu", false,
                         info.test_time_views);
  HeldBackScore s;
  for (size_t i = 0; i < p.probs.size(); ++i) {
    const auto& row = p.probs[i];
    const int top = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
    s.accuracy += top == p.truth[i];
    s.nll -= std::log(std::max(1e-12f, row[p.truth[i]]));
  }
  s.accuracy /= std::max<size_t>(1, p.probs.size());
  s.nll /= std::max<size_t>(1, p.probs.size());
  return s;
}

}  // namespace

Result<AdaptResult> adapt_classifier(const AdaptRequest& req) {
  auto log = [&](const std::string& s) {
    if (req.log) req.log(s);
  };
  const AdaptOptions& o = req.options;
  if (auto s = validate(o, "adapt options"); !s) return tl::unexpected(s.error());
  if (req.out.empty()) return fail(ErrorCode::kInvalidArgument, "adapt: no output folder");
  if (fs::exists(req.out))
    return fail(ErrorCode::kConflict, req.out + ": already exists (an adapted model never overwrites a folder)");
  ClassifierModelInfo info;
  auto loaded = load_classifier_model(req.base_model, info);
  if (!loaded) return tl::unexpected(loaded.error());
  ClassifierNetImpl& net = **loaded;
  const std::vector<std::string>& classes = info.classes;

  // The lab's cells, mapped onto the model's classes; a folder naming another class is refused.
  auto lab = read_folder_tree(req.lab_cells);
  if (!lab) return tl::unexpected(lab.error());
  std::vector<std::string> unknown;
  for (const auto& c : lab->classes)
    if (std::find(classes.begin(), classes.end(), c) == classes.end()) unknown.push_back(c);
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    return fail(ErrorCode::kInvalidArgument, req.lab_cells,
                "class folders named after the model's classes", list);
  }
  CellDataset all;
  all.classes = classes;
  for (const auto& c : lab->cells) {
    const auto it = std::find(classes.begin(), classes.end(), lab->classes[c.class_id]);
    all.cells.push_back({c.image_path, static_cast<int>(it - classes.begin())});
  }
  std::mt19937_64 rng(o.seed);
  if (all.cells.size() > static_cast<size_t>(o.max_lab_cells)) {
    log(fmt::format("{} lab cells: a random {} of them are used", all.cells.size(), o.max_lab_cells));
    std::shuffle(all.cells.begin(), all.cells.end(), rng);
    all.cells.resize(static_cast<size_t>(o.max_lab_cells));
  }
  const size_t lab_count = all.cells.size();
  if (!req.replay_list.empty()) {
    auto replay = read_cell_list(req.replay_list, req.replay_data, classes);
    if (!replay) return tl::unexpected(replay.error());
    // Only the replayed share is decoded: at most what the lab's cells can ask for, plus some
    // that stay out of training and scale the refitted atypical reference.
    std::shuffle(replay->cells.begin(), replay->cells.end(), rng);
    const size_t most = std::min<size_t>(
        static_cast<size_t>(o.max_replay),
        std::max<size_t>(static_cast<size_t>(o.min_replay),
                         static_cast<size_t>(std::lround(o.replay_ratio * static_cast<double>(lab_count)))));
    constexpr size_t kCalibrationReplay = 300;
    replay->cells.resize(std::min(replay->cells.size(), most + kCalibrationReplay));
    all.cells.insert(all.cells.end(), replay->cells.begin(), replay->cells.end());
  }
  const int cache_side = cache_side_for(info.model.input_size, info.crop_fraction);
  auto cache = build_cell_cache(all, cache_side);
  if (!cache) return tl::unexpected(cache.error());
  for (const auto& s : cache->skipped) log("skipped " + s);
  // build_cell_cache drops unreadable files: tell lab cells from replay ones by path.
  std::vector<int> lab_idx, replay_idx;
  {
    std::map<std::string, int> lab_paths;
    for (size_t i = 0; i < lab_count; ++i) lab_paths[all.cells[i].image_path] = 1;
    for (size_t i = 0; i < cache->paths.size(); ++i)
      (lab_paths.count(cache->paths[i]) ? lab_idx : replay_idx).push_back(static_cast<int>(i));
  }
  if (lab_idx.size() < 2)
    return fail(ErrorCode::kInvalidArgument, req.lab_cells, "at least 2 readable cells",
                std::to_string(lab_idx.size()));

  // Held back per class: a seeded shuffle; a class with one cell trains only.
  std::vector<int> train_idx, held_idx;
  Json per_class = Json::object();
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<int> members;
    for (int i : lab_idx)
      if (cache->labels[i] == static_cast<int>(c)) members.push_back(i);
    if (members.empty()) continue;
    std::shuffle(members.begin(), members.end(), rng);
    size_t nh = members.size() >= 2
                    ? std::clamp<size_t>(static_cast<size_t>(std::lround(o.holdout_fraction * members.size())), 1,
                                         members.size() - 1)
                    : 0;
    held_idx.insert(held_idx.end(), members.begin(), members.begin() + nh);
    train_idx.insert(train_idx.end(), members.begin() + nh, members.end());
    per_class[classes[c]] = {{"train", members.size() - nh}, {"held_back", nh}};
  }
  if (held_idx.empty())
    return fail(ErrorCode::kInvalidArgument, req.lab_cells,
                "a class with at least 2 cells (one is held back to judge the adaptation)", "none");
  std::shuffle(replay_idx.begin(), replay_idx.end(), rng);
  const size_t want_replay = std::min<size_t>(
      static_cast<size_t>(o.max_replay),
      std::max<size_t>(static_cast<size_t>(o.min_replay),
                       static_cast<size_t>(std::lround(o.replay_ratio * train_idx.size()))));
  replay_idx.resize(std::min(replay_idx.size(), want_replay));
  log(fmt::format("{} lab cells ({} train, {} held back), {} replayed training cells", lab_idx.size(),
                  train_idx.size(), held_idx.size(), replay_idx.size()));

  AdaptResult result;
  result.lab_train = static_cast<int>(train_idx.size());
  result.held_back = static_cast<int>(held_idx.size());
  result.replay = static_cast<int>(replay_idx.size());
  const HeldBackScore before = score(net, *cache, held_idx, info);
  result.before_accuracy = before.accuracy;
  log(fmt::format("before: held-back accuracy {:.4f}", before.accuracy));

  std::vector<at::Tensor> decay, no_decay;
  net.split_decay(decay, no_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto sgd = [&](double wd) { return torch::optim::SGDOptions(o.lr).momentum(0.9).nesterov(true).weight_decay(wd); };
  groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(sgd(o.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(sgd(0)));
  torch::optim::SGD opt(std::move(groups), sgd(o.weight_decay));

  std::vector<int> pool = train_idx;
  pool.insert(pool.end(), replay_idx.begin(), replay_idx.end());
  const int batch = std::min<int>(o.batch_size, static_cast<int>(pool.size()));
  const int64_t steps_per_epoch =
      std::max<int64_t>(o.min_steps_per_epoch, static_cast<int64_t>(pool.size()) / batch);
  const int64_t total = steps_per_epoch * o.max_epochs;
  HeldBackScore best = before;
  std::vector<at::Tensor> best_weights = snapshot(net);
  int since_best = 0;
  int64_t step = 0;
  Json epochs = Json::array();
  for (int epoch = 1; epoch <= o.max_epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int> order;
    std::mt19937_64 shuffle_rng(mix_seed(o.seed, static_cast<uint64_t>(epoch), 2));
    while (order.size() < static_cast<size_t>(steps_per_epoch * batch)) {
      std::vector<int> pass = pool;
      std::shuffle(pass.begin(), pass.end(), shuffle_rng);
      order.insert(order.end(), pass.begin(), pass.end());
    }
    order.resize(static_cast<size_t>(steps_per_epoch * batch));
    CellLoaderOptions lo;
    lo.batch_size = batch;
    lo.input_size = info.model.input_size;
    lo.train = true;
    lo.augment = o.augment;
    lo.norm = info.normalization;
    lo.seed = o.seed;
    lo.epoch = epoch;
    CellBatchLoader loader(*cache, order, lo);
    net.train();
    double loss_sum = 0;
    while (auto b = loader.next()) {
      if (req.should_stop && req.should_stop())
        return fail(ErrorCode::kConflict, fmt::format("adaptation stopped at epoch {}: the server is stopping", epoch));
      const double lr = o.lr * (0.01 + 0.99 * 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / total)));
      for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
      auto r = net.forward(b->images);
      auto loss = F::cross_entropy(r.logits, b->labels,
                                   F::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
      opt.zero_grad();
      loss.backward();
      opt.step();
      ++step;
      loss_sum += loss.item<double>();
      if (!std::isfinite(loss_sum))
        return fail(ErrorCode::kInternal, fmt::format("adaptation diverged at epoch {} (lower lr?)", epoch));
    }
    const HeldBackScore s = score(net, *cache, held_idx, info);
    const bool improved = s.better_than(best);
    if (improved) {
      best = s;
      best_weights = snapshot(net);
      result.best_epoch = epoch;
      since_best = 0;
    } else {
      ++since_best;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    epochs.push_back({{"epoch", epoch}, {"train_loss", loss_sum / steps_per_epoch},
                      {"held_back_accuracy", s.accuracy}, {"held_back_nll", s.nll}, {"seconds", secs}});
    log(fmt::format("epoch {}/{}: loss {:.4f}, held-back accuracy {:.4f}{} ({:.0f} s)", epoch, o.max_epochs,
                    loss_sum / steps_per_epoch, s.accuracy, improved ? " (best)" : "", secs));
    result.epochs_run = epoch;
    if (since_best >= o.patience) break;
  }
  restore(net, best_weights);
  net.eval();
  result.after_accuracy = best.accuracy;

  // The atypical reference follows the new features: fitted on the cells it trained on, scaled
  // on cells it did not (the held-back lab cells and replayed cells left out of training).
  Json atypical_note = "none (the base folder has none)";
  std::optional<AtypicalReference> ref;
  if (fs::exists(fs::path(req.base_model) / kAtypicalFile)) {
    std::vector<int> cal = held_idx;
    std::vector<int> unused;
    {
      std::vector<char> used(cache->paths.size(), 0);
      for (int i : pool) used[i] = 1;
      for (int i : held_idx) used[i] = 1;
      for (size_t i = 0; i < used.size(); ++i)
        if (!used[i]) unused.push_back(static_cast<int>(i));
      std::shuffle(unused.begin(), unused.end(), rng);
      unused.resize(std::min<size_t>(unused.size(), 500));
      cal.insert(cal.end(), unused.begin(), unused.end());
    }
    auto fit = predict_cells(net, *cache, pool, info.model.input_size, info.normalization, 64, "cpu", true,
                             info.test_time_views);
    auto calp = predict_cells(net, *cache, cal, info.model.input_size, info.normalization, 64, "cpu", true,
                              info.test_time_views);
    auto r = fit_atypical(fit.embeddings, fit.truth, classes, calp.embeddings);
    if (r) {
      ref = std::move(*r);
      ref->provenance = {{"fit_cells", fit.embeddings.size()}, {"calibration_cells", calp.embeddings.size()},
                         {"refitted_by", "adapt"}};
      atypical_note = "refitted";
    } else {
      // A lab set that leaves a class without cells (no replay) cannot refit: say so, ship none.
      atypical_note = "not refitted: " + r.error().message;
    }
  }

  result.version = req.version.empty()
                       ? fmt::format("{}-adapted-{}", info.version, utc_time_text("%Y%m%dT%H%M%SZ"))
                       : req.version;
  result.model_dir = req.out;
  result.summary = {{"base_version", info.version},
                    {"version", result.version},
                    {"lab_cells", req.lab_cells},
                    {"lab_train", result.lab_train},
                    {"held_back", result.held_back},
                    {"replay", result.replay},
                    {"per_class", per_class},
                    {"before_accuracy", result.before_accuracy},
                    {"after_accuracy", result.after_accuracy},
                    {"best_epoch", result.best_epoch},
                    {"epochs_run", result.epochs_run},
                    {"epochs", epochs},
                    {"atypical", atypical_note},
                    {"options", config_to_json(o)}};
  ClassifierModelInfo out_info = info;
  const std::string base_version = info.version;
  out_info.version = result.version;
  out_info.provenance = {{"adapted_from", base_version},
                         {"base_provenance", info.provenance},
                         {"command", req.command},
                         {"date", utc_time_text()},
                         {"adaptation", result.summary}};
  out_info.metrics = {{"held_back_accuracy_before", result.before_accuracy},
                      {"held_back_accuracy", result.after_accuracy},
                      {"held_back_cells", result.held_back}};
  // Written beside the target and renamed into place: a failed write leaves no half folder.
  const fs::path tmp = fs::path(req.out).string() + ".tmp-" + utc_time_text("%Y%m%dT%H%M%SZ");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (auto s = write_classifier_model(tmp.string(), net, out_info); !s) {
    fs::remove_all(tmp, ec);
    return tl::unexpected(s.error());
  }
  if (ref) {
    if (auto s = write_atypical(tmp.string(), *ref); !s) {
      fs::remove_all(tmp, ec);
      return tl::unexpected(s.error());
    }
  }
  // The int8 calibration follows the new weights as the atypical reference does: measured on the
  // cells it trained on (lab and replayed) by the base's rule, so the adapted version runs as fast
  // as the base. A base without one (or with one of other weights) gives a version without one.
  if (auto method = base_int8_method(req.base_model, info.version, "minmax")) {
    Int8MeasureRequest m;
    m.model_dir = tmp.string();
    for (int i : pool) m.image_paths.push_back(cache->paths[i]);
    m.method = *method;
    m.provenance = {{"cells", "the adaptation's training cells (lab and replayed)"}, {"refitted_by", "adapt"}};
    auto cal = calibrate_classifier_int8(m);
    if (!cal) {
      fs::remove_all(tmp, ec);
      return tl::unexpected(cal.error());
    }
    result.summary["int8"] = "recalibrated (" + m.method + ")";
  } else {
    result.summary["int8"] = "none: " + method.error().message;
  }
  if (auto s = write_json_file((tmp / "adaptation.json").string(), result.summary); !s) {
    fs::remove_all(tmp, ec);
    return tl::unexpected(s.error());
  }
  fs::rename(tmp, req.out, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    return fail(ErrorCode::kIo, req.out + ": cannot move the adapted model into place");
  }
  log(fmt::format("after: held-back accuracy {:.4f} (epoch {}) -> {}", result.after_accuracy, result.best_epoch,
                  req.out));
  return result;
}

}  // namespace ms
