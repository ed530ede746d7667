#include "store/cell_store.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "store/audit_trail.h"
#include "store/paging.h"
#include "store/patient_store.h"

namespace ms::store {
namespace {

constexpr const char* kViewSelect =
    "SELECT c.*, COALESCE(u.username, '') AS reviewer_username, "
    "COALESCE(u.display_name, '') AS reviewer_name, COALESCE(vu.username, '') AS verifier_username, "
    "COALESCE(vu.display_name, '') AS verifier_name FROM cells c "
    "LEFT JOIN users u ON u.id = c.reviewer_id LEFT JOIN users vu ON vu.id = c.verified_by";

Result<std::string> where_clause(const CellQuery& q, Params& params) {
  if (!q.sample_id && !q.image_id)
    return fail(ErrorCode::kInvalidArgument, "cell query", "a sample or an image", "neither");
  std::string where = " WHERE 1 = 1";
  if (q.sample_id) {
    where += " AND c.sample_id = ?";
    params.push_back(*q.sample_id);
  }
  if (q.image_id) {
    where += " AND c.image_id = ?";
    params.push_back(*q.image_id);
  }
  if (!q.cell_class.empty()) {
    where += " AND COALESCE(c.reviewed_class, c.suggested_class) = ?";
    params.push_back(q.cell_class);
  }
  if (q.reviewed) {
    where += " AND c.confirmed = ?";
    params.push_back(*q.reviewed);
  }
  if (q.flagged) {
    where += " AND c.flagged = ?";
    params.push_back(*q.flagged);
  }
  return where;
}

Result<std::string> order_and_page(const CellQuery& q, Params& params) {
  std::string order;
  if (q.order == "id") order = " ORDER BY c.id";
  else if (q.order == "confidence") order = " ORDER BY c.probability ASC, c.id";
  else if (q.order == "entropy") order = " ORDER BY c.entropy DESC, c.id";
  // Atypical cells first among the flagged: their class is a guess whatever its probability.
  else if (q.order == "attention")
    order = " ORDER BY c.flagged DESC, CASE WHEN c.flag_reason = 'atypical' THEN 0 ELSE 1 END, "
            "c.probability ASC, c.id";
  else
    return fail(ErrorCode::kInvalidArgument, "order", "id|confidence|entropy|attention",
                "\"" + q.order + "\"");
  if (q.limit < 1 || q.limit > kMaxCellPageSize || q.offset < 0 || q.offset > kMaxOffset)
    return fail(ErrorCode::kInvalidArgument, "limit / offset",
                "limit 1 to " + std::to_string(kMaxCellPageSize) + ", offset 0 to " + std::to_string(kMaxOffset),
                std::to_string(q.limit) + " / " + std::to_string(q.offset));
  params.push_back(q.limit);
  params.push_back(q.offset);
  return order + " LIMIT ? OFFSET ?";
}

CellView view_from_row(const Row& r) {
  CellView v;
  v.cell = from_row<Cell>(r);
  v.effective_class = v.cell.reviewed_class.value_or(v.cell.suggested_class);
  v.reviewer_username = r.s("reviewer_username");
  v.reviewer_name = r.s("reviewer_name");
  v.verifier_username = r.s("verifier_username");
  v.verifier_name = r.s("verifier_name");
  return v;
}

// The cell row, locked against concurrent reviews until commit (PostgreSQL; SQLite's write
// transaction already excludes other writers).
Result<Cell> lock_cell(Tx& tx, std::int64_t id) {
  std::string sql = "SELECT * FROM cells WHERE id = ?";
  if (tx.dialect() == Dialect::kPostgres) sql += " FOR UPDATE";
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(sql, {id}));
  if (!row) return fail(ErrorCode::kNotFound, "cell " + std::to_string(id) + " does not exist");
  return from_row<Cell>(*row);
}

// The sample locked (lock_sample) and open for review.
Status require_sample_unsigned(Tx& tx, std::int64_t sample_id) {
  MS_ASSIGN_OR_RETURN(Sample sample, lock_sample(tx, sample_id));
  if (sample.status == SampleStatus::kSigned)
    return fail(ErrorCode::kConflict, "sample " + sample.accession +
                                          " is signed and locked; cells can no longer be changed "
                                          "(add an addendum to the report instead)");
  return {};
}

// The samples of the named cells, locked in id order before any cell row (the lock order every
// sample-changing transaction follows: sample, then its rows), each checked open for review.
// Cells that do not exist are left to lock_cell's 404.
Status lock_samples_of_cells(Tx& tx, const std::vector<std::int64_t>& cell_ids) {
  std::set<std::int64_t> samples;
  constexpr std::size_t kChunk = 500;
  for (std::size_t from = 0; from < cell_ids.size(); from += kChunk) {
    const std::size_t to = std::min(cell_ids.size(), from + kChunk);
    std::string sql = "SELECT DISTINCT sample_id FROM cells WHERE id IN (";
    Params params;
    for (std::size_t k = from; k < to; ++k) {
      sql += k == from ? "?" : ", ?";
      params.push_back(cell_ids[k]);
    }
    sql += ")";
    MS_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
    for (const auto& r : rows) samples.insert(r.i("sample_id"));
  }
  for (const auto id : samples) MS_RETURN_IF_ERROR(require_sample_unsigned(tx, id));
  return {};
}

Status write_state(Tx& tx, std::int64_t cell_id, const ReviewState& s) {
  MS_RETURN_IF_ERROR(tx.exec("UPDATE cells SET reviewed_class = ?, confirmed = ?, reviewer_id = ?, "
                             "reviewed_at = ?, verified_by = ?, verified_at = ?, updated_at = ? WHERE id = ?",
                             {Value(s.reviewed_class), s.confirmed, Value(s.reviewer_id),
                              Value(s.reviewed_at), Value(s.verified_by), Value(s.verified_at), now_ms(),
                              cell_id}));
  return {};
}

// Per sample: is it open for review, and which classes does it already hold.
struct SampleCheck {
  std::set<std::string> suggested;
};

Result<const SampleCheck*> check_sample(Tx& tx, std::int64_t sample_id,
                                        std::map<std::int64_t, SampleCheck>& seen) {
  auto it = seen.find(sample_id);
  if (it != seen.end()) return &it->second;
  MS_RETURN_IF_ERROR(require_sample_unsigned(tx, sample_id));
  SampleCheck check;
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT DISTINCT suggested_class FROM cells WHERE sample_id = ?",
                                          {sample_id}));
  for (const auto& r : rows) check.suggested.insert(r.s("suggested_class"));
  return &seen.emplace(sample_id, std::move(check)).first->second;
}

std::string change_label(const CellChange& c) { return "change for cell " + std::to_string(c.cell_id); }

// One audit event for a cell's review state going from -> to (both carry the suggested class, so
// the trail reads without a join).
Status audit_cell(Tx& tx, const Cell& cell, const std::string& action, const ReviewState& from,
                  const ReviewState& to, const Reviewer& who, const std::string& change_id) {
  NewAuditEvent e;
  e.user_id = who.user_id;
  e.entity_type = "cell";
  e.entity_id = cell.id;
  e.action = action;
  e.from_value = from.to_json();
  e.to_value = to.to_json();
  e.from_value["suggested_class"] = cell.suggested_class;
  e.to_value["suggested_class"] = cell.suggested_class;
  e.ip = who.ip;
  e.sample_id = cell.sample_id;
  e.change_id = change_id;
  return append_audit_event(tx, e);
}

}  // namespace

bool is_class_id(const std::string& s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'; });
}

Json ReviewState::to_json() const {
  return {{"class", reviewed_class ? Json(*reviewed_class) : Json()},
          {"confirmed", confirmed},
          {"reviewer_id", reviewer_id ? Json(*reviewer_id) : Json()},
          {"reviewed_at", reviewed_at ? Json(*reviewed_at) : Json()},
          {"verified_by", verified_by ? Json(*verified_by) : Json()},
          {"verified_at", verified_at ? Json(*verified_at) : Json()}};
}

ReviewState ReviewState::of(const Cell& c) {
  return {c.reviewed_class, c.confirmed, c.reviewer_id, c.reviewed_at, c.verified_by, c.verified_at};
}

Result<ReviewState> ReviewState::from_json(const Json& j) {
  auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument, "audit event value", "a review state {class, confirmed}",
                j.dump());
  };
  if (!j.is_object() || !j.contains("confirmed") || !j["confirmed"].is_boolean()) return bad();
  ReviewState s;
  s.confirmed = j["confirmed"].get<bool>();
  const Json cls = j.value("class", Json());
  if (cls.is_string()) s.reviewed_class = cls.get<std::string>();
  else if (!cls.is_null()) return bad();
  const Json rid = j.value("reviewer_id", Json());
  if (rid.is_number_integer()) s.reviewer_id = rid.get<std::int64_t>();
  const Json at = j.value("reviewed_at", Json());
  if (at.is_number_integer()) s.reviewed_at = at.get<std::int64_t>();
  // Events written before pre-verification existed have neither key: not verified.
  const Json vby = j.value("verified_by", Json());
  if (vby.is_number_integer()) s.verified_by = vby.get<std::int64_t>();
  const Json vat = j.value("verified_at", Json());
  if (vat.is_number_integer()) s.verified_at = vat.get<std::int64_t>();
  return s;
}

Json CellView::to_json() const {
  Json j = config_to_json(cell);
  j["class"] = effective_class;
  j["reviewer"] = reviewer_username.empty()
                      ? Json()
                      : Json{{"id", cell.reviewer_id ? Json(*cell.reviewer_id) : Json()},
                             {"username", reviewer_username},
                             {"display_name", reviewer_name}};
  j["verifier"] = verifier_username.empty()
                      ? Json()
                      : Json{{"id", cell.verified_by ? Json(*cell.verified_by) : Json()},
                             {"username", verifier_username},
                             {"display_name", verifier_name}};
  j["verified"] = cell.verified_at.has_value();
  return j;
}

Json CellSummary::to_json() const {
  Json by_class = Json::array();
  for (const auto& c : classes)
    by_class.push_back({{"class", c.cell_class}, {"cells", c.cells}, {"confirmed", c.confirmed},
                        {"flagged", c.flagged}});
  return {{"classes", by_class}, {"cells", cells}, {"confirmed", confirmed}, {"verified", verified},
          {"flagged", flagged}, {"reclassified", reclassified},
          {"atypical_scored", atypical_scored}, {"atypical", atypical}};
}

Result<std::vector<Cell>> list_cells(Tx& tx, const CellQuery& q) {
  MS_ASSIGN_OR_RETURN(auto views, list_cell_views(tx, q));
  std::vector<Cell> out;
  out.reserve(views.size());
  for (auto& v : views) out.push_back(std::move(v.cell));
  return out;
}

Result<std::vector<CellView>> list_cell_views(Tx& tx, const CellQuery& q) {
  Params params;
  MS_ASSIGN_OR_RETURN(auto where, where_clause(q, params));
  MS_ASSIGN_OR_RETURN(auto tail, order_and_page(q, params));
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(kViewSelect + where + tail, params));
  std::vector<CellView> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(view_from_row(r));
  return out;
}

Result<std::int64_t> count_cells(Tx& tx, const CellQuery& q) {
  Params params;
  MS_ASSIGN_OR_RETURN(auto where, where_clause(q, params));
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT COUNT(*) AS n FROM cells c" + where, params));
  return row->i("n");
}

Result<CellView> get_cell_view(Tx& tx, std::int64_t cell_id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string(kViewSelect) + " WHERE c.id = ?", {cell_id}));
  if (!row) return fail(ErrorCode::kNotFound, "cell " + std::to_string(cell_id) + " does not exist");
  return view_from_row(*row);
}

Result<CellSummary> summarise_cells(Tx& tx, const CellQuery& q) {
  Params params;
  MS_ASSIGN_OR_RETURN(auto where, where_clause(q, params));
  MS_ASSIGN_OR_RETURN(
      auto rows,
      tx.query("SELECT COALESCE(c.reviewed_class, c.suggested_class) AS k, COUNT(*) AS n, "
               "COALESCE(SUM(c.confirmed), 0) AS confirmed, COALESCE(SUM(c.flagged), 0) AS flagged, "
               "COALESCE(SUM(CASE WHEN c.reviewed_class IS NOT NULL AND c.reviewed_class <> "
               "c.suggested_class THEN 1 ELSE 0 END), 0) AS reclassified, COALESCE(SUM(CASE WHEN c.verified_at IS NOT "
               "NULL AND c.confirmed = 0 THEN 1 ELSE 0 END), 0) AS verified FROM cells c" +
                   where + " GROUP BY COALESCE(c.reviewed_class, c.suggested_class) ORDER BY 1",
               params));
  CellSummary s;
  for (const auto& r : rows) {
    ClassSummary c{r.s("k"), r.i("n"), r.i("confirmed"), r.i("flagged")};
    s.cells += c.cells;
    s.confirmed += c.confirmed;
    s.flagged += c.flagged;
    s.reclassified += r.i("reclassified");
    s.verified += r.i("verified");
    s.classes.push_back(std::move(c));
  }
  MS_ASSIGN_OR_RETURN(auto a, tx.query_one("SELECT COUNT(c.atypical) AS scored, COALESCE(SUM(CASE WHEN "
                                           "c.flag_reason = 'atypical' THEN 1 ELSE 0 END), 0) AS atypical "
                                           "FROM cells c" + where,
                                           params));
  s.atypical_scored = a->i("scored");
  s.atypical = a->i("atypical");
  return s;
}

Result<std::vector<CellView>> review_cells(Tx& tx, const std::vector<CellChange>& changes,
                                           const Reviewer& who, const std::string& change_id) {
  if (changes.empty())
    return fail(ErrorCode::kInvalidArgument, "review request", "one or more cell changes", "none");
  std::set<std::int64_t> named;
  for (const auto& c : changes) {
    if (!c.cell_class && !c.confirmed && !c.verified)
      return fail(ErrorCode::kInvalidArgument, change_label(c), "\"class\", \"confirmed\" and/or \"verified\"",
                  "none of them");
    if (!named.insert(c.cell_id).second)
      return fail(ErrorCode::kInvalidArgument, "review request", "each cell at most once",
                  "cell " + std::to_string(c.cell_id) + " twice");
    if (c.confirmed && !who.may_confirm)
      return fail(ErrorCode::kPermissionDenied,
                  "only doctors and admins confirm cells; technicians may reclassify them");
    if (c.cell_class && !is_class_id(*c.cell_class))
      return fail(ErrorCode::kInvalidArgument, change_label(c) + ": class",
                  "a snake_case class id (a-z, 0-9, _; up to 64)", "\"" + *c.cell_class + "\"");
  }
  {
    std::vector<std::int64_t> ids;
    for (const auto& c : changes) ids.push_back(c.cell_id);
    MS_RETURN_IF_ERROR(lock_samples_of_cells(tx, ids));
  }
  std::map<std::int64_t, SampleCheck> samples;
  const auto now = now_ms();
  // Rows are locked in id order whatever the request order, so two batches over the same cells
  // cannot deadlock (PostgreSQL row locks).
  std::vector<const CellChange*> by_id;
  for (const auto& c : changes) by_id.push_back(&c);
  std::sort(by_id.begin(), by_id.end(), [](const CellChange* a, const CellChange* b) { return a->cell_id < b->cell_id; });
  for (const CellChange* pc : by_id) {
    const CellChange& change = *pc;
    MS_ASSIGN_OR_RETURN(Cell cell, lock_cell(tx, change.cell_id));
    MS_ASSIGN_OR_RETURN(const SampleCheck* sample, check_sample(tx, cell.sample_id, samples));
    const ReviewState before = ReviewState::of(cell);
    ReviewState after = before;
    const std::string effective = cell.reviewed_class.value_or(cell.suggested_class);
    bool class_changed = false;
    if (change.cell_class && *change.cell_class != effective) {
      const std::string& cls = *change.cell_class;
      const bool known = sample->suggested.count(cls) > 0 ||
                         (who.known_classes && who.known_classes->count(cls) > 0);
      if (!known)
        return fail(ErrorCode::kInvalidArgument, change_label(change) + ": class",
                    "a class of the lab's taxonomy or one the models suggested in this sample",
                    "\"" + cls + "\"");
      after.reviewed_class = cls;
      class_changed = true;
    }
    if (change.confirmed) {
      after.confirmed = *change.confirmed;
    } else if (class_changed && !who.may_confirm) {
      // A confirmation vouches for one class; a technician's new class has not been vouched
      // for, so the cell is no longer doctor-confirmed until a doctor or admin confirms it.
      after.confirmed = false;
    }
    const bool was_verified = before.verified_at.has_value();
    if (change.verified && *change.verified != was_verified) {
      after.verified_by = *change.verified ? who.user_id : std::nullopt;
      after.verified_at = *change.verified ? std::optional<std::int64_t>(now) : std::nullopt;
    } else if (class_changed && !change.verified && was_verified) {
      // The pre-verification vouched for the old class.
      after.verified_by.reset();
      after.verified_at.reset();
    }
    if (after == before) continue;  // nothing to change, nothing to audit
    after.reviewer_id = who.user_id;
    after.reviewed_at = now;
    MS_RETURN_IF_ERROR(write_state(tx, cell.id, after));
    const bool confirm_changed = after.confirmed != before.confirmed;
    const char* action = class_changed     ? "reclassify"
                         : confirm_changed ? (after.confirmed ? "confirm" : "unconfirm")
                                           : (after.verified_at ? "verify" : "unverify");
    MS_RETURN_IF_ERROR(audit_cell(tx, cell, action, before, after, who, change_id));
  }
  std::vector<CellView> out;
  out.reserve(changes.size());
  for (const auto& change : changes) {
    MS_ASSIGN_OR_RETURN(auto v, get_cell_view(tx, change.cell_id));
    out.push_back(std::move(v));
  }
  return out;
}

Result<UndoResult> undo_last_change(Tx& tx, std::int64_t sample_id, const Reviewer& who,
                                    const std::string& change_id) {
  MS_RETURN_IF_ERROR(require_sample_unsigned(tx, sample_id));
  MS_ASSIGN_OR_RETURN(auto last, last_undoable_change(tx, sample_id, who.user_id));
  if (!last)
    return fail(ErrorCode::kNotFound,
                "nothing to undo: you have no review change in sample " + std::to_string(sample_id) +
                    " that is not undone already");
  MS_ASSIGN_OR_RETURN(auto evs, change_events(tx, *last));
  const auto now = now_ms();
  UndoResult result;
  result.undone_change_id = *last;
  std::vector<std::int64_t> cell_ids;
  for (auto it = evs.rbegin(); it != evs.rend(); ++it) {
    const AuditEvent& ev = *it;
    if (ev.entity_type != "cell") continue;
    MS_ASSIGN_OR_RETURN(Cell cell, lock_cell(tx, ev.entity_id));
    MS_ASSIGN_OR_RETURN(auto from, ReviewState::from_json(ev.from_value));
    MS_ASSIGN_OR_RETURN(auto to, ReviewState::from_json(ev.to_value));
    const ReviewState now_state = ReviewState::of(cell);
    if (!(now_state == to))
      return fail(ErrorCode::kConflict,
                  fmt::format("cannot undo: cell {} has been changed since (now {}{}); undo would "
                              "overwrite that change",
                              cell.id, cell.reviewed_class.value_or(cell.suggested_class),
                              cell.confirmed ? ", confirmed" : ", not confirmed"));
    MS_RETURN_IF_ERROR(write_state(tx, cell.id, from));
    MS_RETURN_IF_ERROR(audit_cell(tx, cell, "undo", now_state, from, who, change_id));
    cell_ids.push_back(cell.id);
  }
  MS_RETURN_IF_ERROR(mark_change_undone(tx, *last, now));
  std::reverse(cell_ids.begin(), cell_ids.end());
  for (auto id : cell_ids) {
    MS_ASSIGN_OR_RETURN(auto v, get_cell_view(tx, id));
    result.cells.push_back(std::move(v));
  }
  return result;
}

}  // namespace ms::store
