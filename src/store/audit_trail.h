#pragma once
// The audit trail of review changes: one append-only row per changed object (who, when, from ->
// to), grouped by a change id per request and by sample, so a cell's history, a sample's review
// trail and "undo my last change" are single indexed queries. Written in the transaction of the
// change it records.
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

struct AuditEvent {
  std::int64_t id = 0, at = 0;
  std::optional<std::int64_t> user_id;
  std::string username;  // of user_id at read time; "" when the account is gone
  std::string entity_type;
  std::int64_t entity_id = 0;
  std::string action;
  Json from_value, to_value;  // JSON when the stored text is JSON, else the text as a string
  std::string ip;
  std::optional<std::int64_t> sample_id;
  std::optional<std::string> change_id;
  std::optional<std::int64_t> undone_at;
  Json to_json() const;
};

struct NewAuditEvent {
  std::optional<std::int64_t> user_id;
  std::string entity_type;  // "cell"
  std::int64_t entity_id = 0;
  std::string action;
  Json from_value, to_value;  // stored as JSON text; null stays NULL
  std::string ip;
  std::optional<std::int64_t> sample_id;
  std::string change_id;
};
Status append_audit_event(Tx& tx, const NewAuditEvent& e);

// Oldest first.
Result<std::vector<AuditEvent>> audit_history(Tx& tx, const std::string& entity_type,
                                              std::int64_t entity_id);

struct AuditPage {
  std::vector<AuditEvent> items;
  std::int64_t total = 0;
};
// A sample's trail, newest first; user_id filters to one reviewer.
Result<AuditPage> sample_audit(Tx& tx, std::int64_t sample_id, std::optional<std::int64_t> user_id,
                               std::int64_t limit, std::int64_t offset);

// The newest change id of this user in this sample that is neither undone nor an undo itself.
Result<std::optional<std::string>> last_undoable_change(Tx& tx, std::int64_t sample_id,
                                                        std::optional<std::int64_t> user_id);
// Events of one change, in the order they were written.
Result<std::vector<AuditEvent>> change_events(Tx& tx, const std::string& change_id);
Status mark_change_undone(Tx& tx, const std::string& change_id, std::int64_t at);

}  // namespace ms::store
