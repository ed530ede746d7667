#include "store/operation_log.h"

#include "store/paging.h"

namespace ms::store {

Status append_log(Tx& tx, const LogInput& e) {
  MS_RETURN_IF_ERROR(tx.exec("INSERT INTO log_entries (at, user_id, username, action, target, "
                             "details, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             {now_ms(), Value(e.user_id), e.username.substr(0, 200), e.action,
                              e.target.substr(0, 500), e.details.substr(0, 4000), e.ip}));
  return {};
}

Result<LogPage> query_log(Tx& tx, const LogQuery& q) {
  if (q.page < 1 || q.page > kMaxPageNumber || q.page_size < 1 || q.page_size > kMaxLogPageSize)
    return fail(ErrorCode::kInvalidArgument, "page / page_size",
                "page 1 to " + std::to_string(kMaxPageNumber) + ", page_size 1 to " + std::to_string(kMaxLogPageSize),
                std::to_string(q.page) + " / " + std::to_string(q.page_size));
  std::string where = " WHERE 1 = 1";
  Params params;
  if (q.user_id) {
    where += " AND user_id = ?";
    params.push_back(*q.user_id);
  }
  if (!q.username.empty()) {
    where += " AND username = ?";
    params.push_back(q.username);
  }
  if (!q.action.empty()) {
    if (q.action.back() == '.') {
      where += " AND SUBSTR(action, 1, ?) = ?";
      params.push_back(static_cast<std::int64_t>(q.action.size()));
    } else {
      where += " AND action = ?";
    }
    params.push_back(q.action);
  }
  if (q.from_ms) {
    where += " AND at >= ?";
    params.push_back(*q.from_ms);
  }
  if (q.to_ms) {
    where += " AND at <= ?";
    params.push_back(*q.to_ms);
  }
  LogPage page;
  page.page = q.page;
  page.page_size = q.page_size;
  MS_ASSIGN_OR_RETURN(auto total, tx.query_one("SELECT COUNT(*) AS n FROM log_entries" + where, params));
  page.total = total->i("n");
  params.push_back(q.page_size);
  params.push_back((q.page - 1) * q.page_size);
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT id, at, user_id, username, action, target, "
                                          "details, ip FROM log_entries" +
                                              where + " ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
                                          params));
  for (const auto& r : rows) page.items.push_back(from_row<LogEntry>(r));
  return page;
}

Status append_audit(Tx& tx, const AuditInput& e) {
  MS_RETURN_IF_ERROR(tx.exec("INSERT INTO audit_events (at, user_id, entity_type, entity_id, "
                             "action, from_value, to_value, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             {now_ms(), Value(e.user_id), e.entity_type, e.entity_id, e.action,
                              Value(e.from_value), Value(e.to_value), e.ip}));
  return {};
}

}  // namespace ms::store
