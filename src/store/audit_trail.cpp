#include "store/audit_trail.h"

#include <algorithm>

#include "store/paging.h"

namespace ms::store {
namespace {

constexpr const char* kEventSelect =
    "SELECT a.id, a.at, a.user_id, COALESCE(u.username, '') AS username, a.entity_type, "
    "a.entity_id, a.action, a.from_value, a.to_value, a.ip, a.sample_id, a.change_id, a.undone_at "
    "FROM audit_events a LEFT JOIN users u ON u.id = a.user_id";

// from_value / to_value are JSON text for review events; older or foreign rows may hold plain
// text, which is returned as a JSON string rather than dropped.
Json stored_value(const Row& r, std::string_view column) {
  if (r.is_null(column)) return nullptr;
  const std::string text = r.s(column);
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json(text) : j;
}

AuditEvent event_from_row(const Row& r) {
  AuditEvent e;
  e.id = r.i("id");
  e.at = r.i("at");
  e.user_id = r.opt_i("user_id");
  e.username = r.s("username");
  e.entity_type = r.s("entity_type");
  e.entity_id = r.i("entity_id");
  e.action = r.s("action");
  e.from_value = stored_value(r, "from_value");
  e.to_value = stored_value(r, "to_value");
  e.ip = r.s("ip");
  e.sample_id = r.opt_i("sample_id");
  e.change_id = r.opt_s("change_id");
  e.undone_at = r.opt_i("undone_at");
  return e;
}

Result<std::vector<AuditEvent>> events(Tx& tx, const std::string& sql, const Params& params) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
  std::vector<AuditEvent> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(event_from_row(r));
  return out;
}

Value json_text(const Json& j) {
  if (j.is_null()) return Value();
  return Value(j.dump());
}

}  // namespace

Json AuditEvent::to_json() const {
  return {{"id", id},           {"at", at},
          {"user_id", user_id ? Json(*user_id) : Json()},
          {"username", username},
          {"entity_type", entity_type},
          {"entity_id", entity_id},
          {"action", action},   {"from", from_value},
          {"to", to_value},     {"ip", ip},
          {"sample_id", sample_id ? Json(*sample_id) : Json()},
          {"change_id", change_id ? Json(*change_id) : Json()},
          {"undone_at", undone_at ? Json(*undone_at) : Json()}};
}

Status append_audit_event(Tx& tx, const NewAuditEvent& e) {
  MS_RETURN_IF_ERROR(tx.exec(
      "INSERT INTO audit_events (at, user_id, entity_type, entity_id, action, from_value, to_value, "
      "ip, sample_id, change_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {now_ms(), Value(e.user_id), e.entity_type, e.entity_id, e.action, json_text(e.from_value),
       json_text(e.to_value), e.ip, Value(e.sample_id), e.change_id}));
  return {};
}

Result<std::vector<AuditEvent>> audit_history(Tx& tx, const std::string& entity_type,
                                              std::int64_t entity_id) {
  return events(tx, std::string(kEventSelect) +
                        " WHERE a.entity_type = ? AND a.entity_id = ? ORDER BY a.id",
                {entity_type, entity_id});
}

Result<AuditPage> sample_audit(Tx& tx, std::int64_t sample_id, std::optional<std::int64_t> user_id,
                               std::int64_t limit, std::int64_t offset) {
  if (limit < 1 || limit > kMaxAuditPageSize || offset < 0 || offset > kMaxOffset)
    return fail(ErrorCode::kInvalidArgument, "limit / offset",
                "limit 1 to " + std::to_string(kMaxAuditPageSize) + ", offset 0 to " + std::to_string(kMaxOffset),
                std::to_string(limit) + " / " + std::to_string(offset));
  std::string where = " WHERE a.sample_id = ?";
  Params params = {sample_id};
  if (user_id) {
    where += " AND a.user_id = ?";
    params.push_back(*user_id);
  }
  AuditPage page;
  MS_ASSIGN_OR_RETURN(auto total, tx.query_one("SELECT COUNT(*) AS n FROM audit_events a" + where, params));
  page.total = total->i("n");
  params.push_back(limit);
  params.push_back(offset);
  MS_ASSIGN_OR_RETURN(page.items, events(tx, std::string(kEventSelect) + where +
                                                 " ORDER BY a.id DESC LIMIT ? OFFSET ?",
                                         params));
  return page;
}

Result<std::optional<std::string>> last_undoable_change(Tx& tx, std::int64_t sample_id,
                                                        std::optional<std::int64_t> user_id) {
  if (!user_id) return std::optional<std::string>{};
  MS_ASSIGN_OR_RETURN(auto row,
                      tx.query_one("SELECT change_id FROM audit_events WHERE sample_id = ? AND "
                                   "user_id = ? AND undone_at IS NULL AND action <> 'undo' AND "
                                   "change_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                                   {sample_id, *user_id}));
  if (!row) return std::optional<std::string>{};
  return row->opt_s("change_id");
}

Result<std::vector<AuditEvent>> change_events(Tx& tx, const std::string& change_id) {
  return events(tx, std::string(kEventSelect) + " WHERE a.change_id = ? ORDER BY a.id", {change_id});
}

Status mark_change_undone(Tx& tx, const std::string& change_id, std::int64_t at) {
  MS_RETURN_IF_ERROR(tx.exec("UPDATE audit_events SET undone_at = ? WHERE change_id = ?", {at, change_id}));
  return {};
}

}  // namespace ms::store
