#include "store/model_versions.h"

namespace ms::store {

Status record_models(Database& db, const std::vector<ModelInfo>& models) {
  if (models.empty()) return {};
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    const auto now = now_ms();
    for (const auto& m : models) {
      MS_RETURN_IF_ERROR(tx.exec(
          "INSERT INTO model_versions (kind, name, version, sha256, metrics, active, created_at) "
          "VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (kind, name, version) DO NOTHING",
          {m.kind, m.name, m.version, m.sha256, m.metrics_json, now}));
      MS_RETURN_IF_ERROR(tx.exec("UPDATE model_versions SET active = CASE WHEN name = ? AND version = ? "
                                 "THEN 1 ELSE 0 END WHERE kind = ?",
                                 {m.name, m.version, m.kind}));
    }
    return {};
  });
}

}  // namespace ms::store
