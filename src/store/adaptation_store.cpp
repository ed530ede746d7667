#include "store/adaptation_store.h"

#include <fmt/format.h>

namespace ms::store {
namespace {

constexpr const char* kSelect =
    "SELECT a.id, a.status, a.base_version, a.version, a.options, a.sample_ids, a.progress, a.attempts, "
    "a.lab_cells, a.held_back, a.before_accuracy, a.after_accuracy, a.summary, a.error, a.requested_by, "
    "a.created_at, a.started_at, a.finished_at, (SELECT m.id FROM model_versions m WHERE m.kind = "
    "'classifier' AND m.version = a.version AND m.model_dir = a.model_dir) AS model_version_id "
    "FROM adaptations a";

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

Result<Adaptation> create_adaptation(Tx& tx, const std::string& base_version, const Json& options,
                                     const std::vector<std::int64_t>& sample_ids,
                                     std::optional<std::int64_t> requested_by) {
  MS_ASSIGN_OR_RETURN(auto busy, tx.query_one("SELECT id, status FROM adaptations WHERE status IN "
                                              "('queued', 'running') ORDER BY id LIMIT 1"));
  if (busy)
    return fail(ErrorCode::kConflict, fmt::format("adaptation {} is still {}: one adaptation runs at a time",
                                                  busy->i("id"), busy->s("status")));
  Json ids = Json::array();
  for (auto id : sample_ids) ids.push_back(id);
  MS_ASSIGN_OR_RETURN(auto id, tx.insert("INSERT INTO adaptations (status, base_version, options, sample_ids, "
                                         "requested_by, created_at) VALUES ('queued', ?, ?, ?, ?, ?) RETURNING id",
                                         {base_version, dump(options), dump(ids), Value(requested_by), now_ms()}));
  return get_adaptation(tx, id);
}

Result<Adaptation> get_adaptation(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string(kSelect) + " WHERE a.id = ?", {id}));
  if (!row) return fail(ErrorCode::kNotFound, "adaptation " + std::to_string(id) + " does not exist");
  return from_row<Adaptation>(*row);
}

Result<std::vector<Adaptation>> list_adaptations(Tx& tx, std::int64_t limit) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(std::string(kSelect) + " ORDER BY a.id DESC LIMIT ?", {limit}));
  std::vector<Adaptation> out;
  for (const auto& r : rows) out.push_back(from_row<Adaptation>(r));
  return out;
}

Result<std::optional<Adaptation>> claim_adaptation(Database& db, const std::string& worker) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<std::optional<Adaptation>> {
    std::string pick = "SELECT id, attempts, error FROM adaptations WHERE status = 'queued' ORDER BY id LIMIT 1";
    if (tx.dialect() == Dialect::kPostgres) pick += " FOR UPDATE SKIP LOCKED";
    for (int given_up = 0; given_up < 20; ++given_up) {
      MS_ASSIGN_OR_RETURN(auto row, tx.query_one(pick));
      if (!row) return std::optional<Adaptation>{};
      const auto id = row->i("id");
      const auto now = now_ms();
      if (row->i("attempts") >= kMaxAdaptationAttempts) {
        const std::string error = fmt::format("gave up after {} attempts; last error: {}", row->i("attempts"),
                                              row->opt_s("error").value_or("none recorded"));
        MS_RETURN_IF_ERROR(tx.exec("UPDATE adaptations SET status = 'failed', error = ?, worker = NULL, "
                                   "finished_at = ? WHERE id = ?",
                                   {error.substr(0, 4000), now, id}));
        continue;
      }
      MS_RETURN_IF_ERROR(tx.exec("UPDATE adaptations SET status = 'running', worker = ?, heartbeat_at = ?, "
                                 "attempts = attempts + 1, started_at = ?, progress = '' WHERE id = ?",
                                 {worker, now, now, id}));
      MS_ASSIGN_OR_RETURN(auto a, get_adaptation(tx, id));
      return std::optional<Adaptation>(std::move(a));
    }
    return std::optional<Adaptation>{};
  });
}

Result<bool> report_adaptation_progress(Database& db, std::int64_t id, const std::string& worker,
                                        const std::string& line) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    MS_ASSIGN_OR_RETURN(auto n, tx.exec("UPDATE adaptations SET progress = ?, heartbeat_at = ? WHERE id = ? AND "
                                        "status = 'running' AND worker = ?",
                                        {line.substr(0, 500), now_ms(), id, worker}));
    return n == 1;
  });
}

Result<bool> finish_adaptation(Database& db, std::int64_t id, const std::string& worker,
                               const AdaptationOutcome& o) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    const auto now = now_ms();
    MS_ASSIGN_OR_RETURN(auto n, tx.exec("UPDATE adaptations SET status = 'done', version = ?, model_dir = ?, "
                                        "lab_cells = ?, held_back = ?, before_accuracy = ?, after_accuracy = ?, "
                                        "summary = ?, error = NULL, worker = NULL, finished_at = ? "
                                        "WHERE id = ? AND status = 'running' AND worker = ?",
                                        {o.version, o.model_dir, o.lab_cells, o.held_back, o.before_accuracy,
                                         o.after_accuracy, dump(o.summary), now, id, worker}));
    if (n != 1) return false;
    MS_RETURN_IF_ERROR(tx.exec("INSERT INTO model_versions (kind, name, version, sha256, metrics, active, "
                               "created_at, model_dir) VALUES ('classifier', ?, ?, ?, ?, 0, ?, ?) "
                               "ON CONFLICT (kind, name, version) DO UPDATE SET model_dir = excluded.model_dir, "
                               "sha256 = excluded.sha256, metrics = excluded.metrics",
                               {o.model.name, o.model.version, o.model.sha256, o.model.metrics_json, now,
                                o.model_dir}));
    return true;
  });
}

Result<bool> fail_adaptation(Database& db, std::int64_t id, const std::string& worker, const std::string& error) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<bool> {
    MS_ASSIGN_OR_RETURN(auto n, tx.exec("UPDATE adaptations SET status = 'failed', error = ?, worker = NULL, "
                                        "finished_at = ? WHERE id = ? AND status = 'running' AND worker = ?",
                                        {error.substr(0, 4000), now_ms(), id, worker}));
    return n == 1;
  });
}

Result<std::int64_t> requeue_adaptations(Database& db, bool all, std::int64_t stale_ms) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Result<std::int64_t> {
    const std::string set =
        "UPDATE adaptations SET status = 'queued', error = 'attempt ' || CAST(attempts AS TEXT) || "
        "' ended without a result: the server (' || COALESCE(worker, '?') || ') stopped while adapting', "
        "worker = NULL WHERE status = 'running'";
    if (all) return tx.exec(set);
    return tx.exec(set + " AND (heartbeat_at IS NULL OR heartbeat_at < ?)", {now_ms() - stale_ms});
  });
}

Result<ActiveModel> get_model_version(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT id, kind, name, version, sha256, metrics, active, created_at, "
                                             "model_dir FROM model_versions WHERE id = ?",
                                             {id}));
  if (!row) return fail(ErrorCode::kNotFound, "model version " + std::to_string(id) + " does not exist");
  return ActiveModel{from_row<ModelVersion>(*row), row->s("model_dir")};
}

Status activate_model_version(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto m, get_model_version(tx, id));
  MS_RETURN_IF_ERROR(tx.exec("UPDATE model_versions SET active = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE kind = ?",
                             {id, m.row.kind}));
  return {};
}

Result<std::optional<ActiveModel>> active_adapted_classifier(Tx& tx) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT id FROM model_versions WHERE kind = 'classifier' AND "
                                             "active = 1 AND model_dir <> '' ORDER BY id DESC LIMIT 1"));
  if (!row) return std::optional<ActiveModel>{};
  MS_ASSIGN_OR_RETURN(auto m, get_model_version(tx, row->i("id")));
  return std::optional<ActiveModel>(std::move(m));
}

}  // namespace ms::store
