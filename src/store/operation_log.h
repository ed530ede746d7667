#pragma once
// The operation log (who did what, when, from where: logins, uploads, analyses, reviews,
// sign-offs) and the per-object audit trail of changes (from -> to). Both are append-only and are
// written in the same transaction as the change they describe.
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

struct LogInput {
  std::optional<std::int64_t> user_id;
  std::string username, action, target, details, ip;
};
Status append_log(Tx& tx, const LogInput& e);

struct LogQuery {
  std::optional<std::int64_t> user_id;
  std::string username;  // exact
  std::string action;    // exact, or a prefix ending in '.' ("patient.")
  std::optional<std::int64_t> from_ms, to_ms;  // inclusive range of `at`
  std::int64_t page = 1, page_size = 50;
};
struct LogPage {
  std::vector<LogEntry> items;
  std::int64_t total = 0, page = 1, page_size = 50;
};
Result<LogPage> query_log(Tx& tx, const LogQuery& q);

struct AuditInput {
  std::optional<std::int64_t> user_id;
  std::string entity_type;  // "cell", "sample", ...
  std::int64_t entity_id = 0;
  std::string action;       // "reclassify", "confirm", "sign", ...
  std::optional<std::string> from_value, to_value;
  std::string ip;
};
Status append_audit(Tx& tx, const AuditInput& e);

}  // namespace ms::store
