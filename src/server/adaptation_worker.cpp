#include "server/adaptation_worker.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/classifier/classifier_adapt.h"
#include "pipeline/pipeline_options.h"
#include "server/cell_crops.h"
#include "server/pipeline_runner.h"
#include "store/adaptation_store.h"
#include "store/cell_store.h"
#include "store/image_store.h"

namespace ms::server {
namespace fs = std::filesystem;
namespace {

constexpr std::int64_t kPage = 2000;

struct LabCell {
  store::Cell cell;
  std::string cls;
  store::Image image;
};

// The reviewed cells the adaptation learns from: those whose effective class the classifier
// knows (review-only classes such as "not a cell" or blast are not the classifier's to learn).
Result<std::vector<LabCell>> lab_cells(store::Database& db, const Json& sample_ids,
                                       const std::vector<std::string>& classes) {
  const std::set<std::string> known(classes.begin(), classes.end());
  return db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<LabCell>> {
    std::vector<std::optional<std::int64_t>> samples;
    for (const auto& s : sample_ids) samples.push_back(s.get<std::int64_t>());
    if (samples.empty()) samples.push_back(std::nullopt);
    std::vector<LabCell> out;
    std::map<std::int64_t, store::Image> images;
    for (const auto& sample : samples) {
      store::CellQuery q;
      q.sample_id = sample;
      q.reviewed = true;
      q.limit = kPage;
      for (q.offset = 0; static_cast<std::int64_t>(out.size()) < kMaxAdaptationCells; q.offset += kPage) {
        MS_ASSIGN_OR_RETURN(auto views, store::list_cell_views(tx, q));
        for (auto& v : views) {
          if (!known.count(v.effective_class)) continue;
          if (static_cast<std::int64_t>(out.size()) >= kMaxAdaptationCells) break;
          auto it = images.find(v.cell.image_id);
          if (it == images.end()) {
            MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, v.cell.image_id));
            it = images.emplace(image.id, image).first;
          }
          out.push_back({v.cell, v.effective_class, it->second});
        }
        if (static_cast<std::int64_t>(views.size()) < kPage) break;
      }
    }
    return out;
  });
}

Status write_tree(const FileStore& files, const std::vector<LabCell>& cells, const fs::path& root) {
  CellCrops crops(files, PipelineOptions{}.crop_margin, kExportCropCacheBytes);
  for (const auto& c : cells) {
    MS_ASSIGN_OR_RETURN(auto jpeg, crops.crop_jpeg(c.image, c.cell));
    const fs::path dir = root / c.cls;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail(ErrorCode::kIo, dir.string() + ": " + ec.message());
    const fs::path file = dir / ("cell" + std::to_string(c.cell.id) + ".jpg");
    std::ofstream out(file, std::ios::binary);
    out.write(jpeg.data(), static_cast<std::streamsize>(jpeg.size()));
    if (!out) return fail(ErrorCode::kIo, file.string() + ": cannot write (disk full?)");
  }
  return {};
}

}  // namespace

AdaptationWorker::AdaptationWorker(store::Database& db, const FileStore& files, ClassifierHost& host,
                                   AdaptationSettings s, ActiveClassifierFollower* follower)
    : db_(db), files_(files), host_(host), settings_(std::move(s)), follower_(follower) {}

AdaptationWorker::~AdaptationWorker() { stop(); }

void AdaptationWorker::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { loop(); });
}

void AdaptationWorker::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_flag_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AdaptationWorker::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void AdaptationWorker::loop() {
  const std::string worker = settings_.instance + ":adapt";
  for (;;) {
    std::uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    try {
      auto claimed = store::claim_adaptation(db_, worker);
      if (!claimed) {
        spdlog::error("adaptation queue: {}", claimed.error().message);
      } else if (*claimed) {
        run_one((*claimed)->id, worker);
        continue;
      }
      if (follower_)
        if (auto synced = follower_->sync(); !synced) spdlog::error("active classifier: {}", synced.error().message);
    } catch (const std::exception& e) {
      spdlog::error("adaptation worker: {}", e.what());
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(settings_.poll_ms),
                 [&] { return stopping_ || wakeups_ != seen; });
  }
}

void AdaptationWorker::run_one(const std::int64_t id, const std::string& worker) {
  const fs::path scratch = fs::path(files_.scratch()) / ("adaptation-" + std::to_string(id));
  const fs::path out = fs::path(settings_.data_dir) / "models" / ("classifier-adapted-" + std::to_string(id));
  std::error_code ec;
  auto run = [&]() -> Result<store::AdaptationOutcome> {
    MS_ASSIGN_OR_RETURN(auto a, db_.transact(store::TxMode::kRead, [&](store::Tx& tx) {
      return store::get_adaptation(tx, id);
    }));
    MS_ASSIGN_OR_RETURN(auto cells, lab_cells(db_, a.sample_ids, host_.classes()));
    report_adaptation_progress(db_, id, worker, fmt::format("cropping {} reviewed cells", cells.size()));
    fs::remove_all(scratch, ec);
    // A folder left by an earlier attempt was never registered (registration is the last step).
    fs::remove_all(out, ec);
    fs::create_directories(out.parent_path(), ec);
    if (ec) return fail(ErrorCode::kIo, out.parent_path().string() + ": " + ec.message());
    if (cells.empty())
      return fail(ErrorCode::kConflict, "no reviewed cell of a class the classifier knows: review cells first");
    MS_RETURN_IF_ERROR(write_tree(files_, cells, scratch));
    AdaptRequest req;
    req.base_model = host_.classifier_dir();
    req.lab_cells = scratch.string();
    req.replay_list = settings_.replay_list;
    req.replay_data = settings_.replay_data;
    req.out = out.string();
    req.command = fmt::format("adaptation {} in the lab server", id);
    if (a.options.contains("max_epochs")) req.options.max_epochs = a.options["max_epochs"].get<int>();
    if (a.options.contains("seed")) req.options.seed = a.options["seed"].get<std::uint64_t>();
    req.log = [&](const std::string& line) {
      auto owned = store::report_adaptation_progress(db_, id, worker, line);
      if (owned && !*owned) stop_flag_ = true;  // no longer ours (e.g. requeued by another server)
    };
    req.should_stop = [&] { return stop_flag_.load(); };
    MS_ASSIGN_OR_RETURN(auto r, adapt_classifier(req));
    MS_ASSIGN_OR_RETURN(auto info, describe_model("classifier", r.model_dir, r.version));
    store::AdaptationOutcome o;
    o.version = r.version;
    o.model_dir = fs::relative(out, settings_.data_dir).string();
    o.model = info;
    o.lab_cells = static_cast<std::int64_t>(cells.size());
    o.held_back = r.held_back;
    o.before_accuracy = r.before_accuracy;
    o.after_accuracy = r.after_accuracy;
    o.summary = r.summary;
    return o;
  };
  Result<store::AdaptationOutcome> result = fail(ErrorCode::kInternal, "not run");
  try {
    result = run();
  } catch (const std::exception& e) {
    result = fail(ErrorCode::kInternal, std::string("adaptation failed: ") + e.what());
  }
  fs::remove_all(scratch, ec);
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  if (!stopping) stop_flag_ = false;
  if (result) {
    auto done = store::finish_adaptation(db_, id, worker, *result);
    if (done && *done) {
      spdlog::info("adaptation {}: {} ({:.4f} -> {:.4f} on {} held-back cells)", id, result->version,
                   result->before_accuracy, result->after_accuracy, result->held_back);
      return;
    }
    fs::remove_all(out, ec);  // not ours any more: the run that owns it registers its own
    return;
  }
  fs::remove_all(out, ec);
  if (stopping) return;  // left running: the next start queues it again
  spdlog::warn("adaptation {} failed: {}", id, result.error().message);
  (void)store::fail_adaptation(db_, id, worker, result.error().message);
}

}  // namespace ms::server
