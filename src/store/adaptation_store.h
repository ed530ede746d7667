#pragma once
// Classifier adaptations as durable records: an admin asks for one, the server's adaptation
// thread claims it (one at a time), fine-tunes the active classifier on the lab's reviewed cells
// and registers the result as a new, inactive model version. An admin activates it after
// reading the before/after accuracy on the held-back cells; every earlier version stays listed and
// can be activated again. A server that stops mid-run leaves the record running: the next start
// (or, on a shared PostgreSQL, any server once the heartbeat is stale) queues it again.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/analysis_runner.h"
#include "store/records.h"

namespace ms::store {

// At most this many runs of one adaptation (a run that crashes the server is not retried forever).
inline constexpr std::int64_t kMaxAdaptationAttempts = 2;

struct Adaptation {
  std::int64_t id = 0;
  JobStatus status = JobStatus::kQueued;  // queued | running | done | failed
  std::string base_version;               // the classifier version it starts from
  std::optional<std::string> version;     // of the new model (when done)
  std::optional<std::int64_t> model_version_id;  // its model_versions row (when done)
  Json options = Json::object();          // what the admin chose (max_epochs, seed)
  Json sample_ids = Json::array();        // sample ids; empty: every sample's reviewed cells
  std::string progress;                   // the last progress line
  std::int64_t attempts = 0, lab_cells = 0, held_back = 0;
  std::optional<double> before_accuracy, after_accuracy;  // on the held-back cells
  Json summary = Json::object();          // the adaptation's summary (per class, per epoch)
  std::optional<std::string> error;
  std::optional<std::int64_t> requested_by;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> started_at, finished_at;
  template <class V>
  void visit(V& v) {
    v("id", id); v("status", status); v("base_version", base_version); v("version", version);
    v("model_version_id", model_version_id); v("options", options); v("sample_ids", sample_ids);
    v("progress", progress); v("attempts", attempts); v("lab_cells", lab_cells);
    v("held_back", held_back); v("before_accuracy", before_accuracy); v("after_accuracy", after_accuracy);
    v("summary", summary); v("error", error); v("requested_by", requested_by);
    v("created_at", created_at); v("started_at", started_at); v("finished_at", finished_at);
  }
};

// Queues an adaptation; kConflict while another one is queued or running (one at a time: each
// takes both cores for minutes).
Result<Adaptation> create_adaptation(Tx& tx, const std::string& base_version, const Json& options,
                                     const std::vector<std::int64_t>& sample_ids,
                                     std::optional<std::int64_t> requested_by);
Result<Adaptation> get_adaptation(Tx& tx, std::int64_t id);
// Newest first.
Result<std::vector<Adaptation>> list_adaptations(Tx& tx, std::int64_t limit);

// The oldest queued adaptation, now running under `worker`; nullopt if none. One already run
// kMaxAdaptationAttempts times is marked failed instead, naming its last error.
Result<std::optional<Adaptation>> claim_adaptation(Database& db, const std::string& worker);
// Records a progress line and refreshes the heartbeat; false when the worker no longer owns it.
Result<bool> report_adaptation_progress(Database& db, std::int64_t id, const std::string& worker,
                                        const std::string& line);

struct AdaptationOutcome {
  std::string version, model_dir;  // model_dir relative to the data directory
  ModelInfo model;                 // registered as an inactive model version
  std::int64_t lab_cells = 0, held_back = 0;
  double before_accuracy = 0, after_accuracy = 0;
  Json summary = Json::object();
};
// Marks it done and registers the new model version (inactive), in one transaction. False
// (nothing written) when the worker no longer owns it.
Result<bool> finish_adaptation(Database& db, std::int64_t id, const std::string& worker,
                               const AdaptationOutcome& outcome);
Result<bool> fail_adaptation(Database& db, std::int64_t id, const std::string& worker,
                             const std::string& error);
// Start-up recovery: running adaptations go back to the queue. `all`: every running one (a
// single process owns the database); otherwise those whose heartbeat is older than stale_ms.
Result<std::int64_t> requeue_adaptations(Database& db, bool all, std::int64_t stale_ms);

// The model_versions row `id` becomes the active one of its kind. Its folder: model_dir
// (relative to the data directory) or '' for a model the server was started with.
struct ActiveModel {
  ModelVersion row;
  std::string model_dir;
};
Result<ActiveModel> get_model_version(Tx& tx, std::int64_t id);
Status activate_model_version(Tx& tx, std::int64_t id);
// The active classifier when it is an adapted one (a folder under the data directory).
Result<std::optional<ActiveModel>> active_adapted_classifier(Tx& tx);

}  // namespace ms::store
