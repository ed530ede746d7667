#include "store/cell_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/error_reason.h"
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
    return fail(ErrorCode::kConflict, Reason::kSampleSignedCells, {{"sample", sample.accession}});
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

bool cls_is_removal(const ReviewState& s) { return s.reviewed_class && *s.reviewed_class == kNotACell; }

std::string change_label(const CellChange& c) { return "change for cell " + std::to_string(c.cell_id); }

// One audit event for a cell's review state going from -> to (both carry the suggested class, so
// the trail reads without a join).
Status audit_cell(Tx& tx, const Cell& cell, const std::string& action, const ReviewState& from,
                  const ReviewState& to, const Reviewer& who, const std::string& change_id,
                  const Json& from_extra = Json::object(), const Json& to_extra = Json::object()) {
  NewAuditEvent e;
  e.user_id = who.user_id;
  e.entity_type = "cell";
  e.entity_id = cell.id;
  e.action = action;
  e.from_value = from.to_json();
  e.to_value = to.to_json();
  e.from_value["suggested_class"] = cell.suggested_class;
  e.to_value["suggested_class"] = cell.suggested_class;
  for (const auto& [k, v] : from_extra.items()) e.from_value[k] = v;
  for (const auto& [k, v] : to_extra.items()) e.to_value[k] = v;
  e.ip = who.ip;
  e.sample_id = cell.sample_id;
  e.change_id = change_id;
  return append_audit_event(tx, e);
}

// A cell's box and the classifier's answer for its crop, as a move's audit event keeps them.
Json box_state(const Cell& c) {
  return {{"box", {{"x1", c.x1}, {"y1", c.y1}, {"x2", c.x2}, {"y2", c.y2}}},
          {"model",
           {{"suggested_class", c.suggested_class},
            {"probability", c.probability},
            {"top_k", c.top_k},
            {"entropy", c.entropy},
            {"flagged", c.flagged},
            {"atypical", c.atypical ? Json(*c.atypical) : Json()},
            {"flag_reason", c.flag_reason ? Json(*c.flag_reason) : Json()},
            {"classifier_version", c.classifier_version},
            {"crop_side", c.crop_side ? Json(*c.crop_side) : Json()}}}};
}

Status write_box(Tx& tx, std::int64_t cell_id, const CellBox& b, const BoxClassification& m) {
  MS_RETURN_IF_ERROR(tx.exec(
      "UPDATE cells SET x1 = ?, y1 = ?, x2 = ?, y2 = ?, suggested_class = ?, probability = ?, top_k = ?, "
      "entropy = ?, flagged = ?, atypical = ?, flag_reason = ?, classifier_version = ?, crop_side = ?, "
      "updated_at = ? WHERE id = ?",
      {b.x1, b.y1, b.x2, b.y2, m.suggested_class, m.probability, m.top_k.dump(), m.entropy, m.flagged,
       Value(m.atypical), Value(m.flag_reason), m.classifier_version,
       m.crop_side > 0 ? Value(m.crop_side) : Value(), now_ms(), cell_id}));
  return {};
}

// The box and model answer of box_state(); kInvalidArgument for an audit value written otherwise.
Result<std::pair<CellBox, BoxClassification>> box_state_from_json(const Json& j) {
  auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument, "audit event value", "a box and a model answer", j.dump());
  };
  if (!j.is_object() || !j.contains("box") || !j.contains("model") || !j["box"].is_object() ||
      !j["model"].is_object())
    return bad();
  try {
    const Json& b = j["box"];
    const Json& m = j["model"];
    CellBox box{b.at("x1").get<double>(), b.at("y1").get<double>(), b.at("x2").get<double>(),
                b.at("y2").get<double>()};
    BoxClassification c;
    c.suggested_class = m.at("suggested_class").get<std::string>();
    c.probability = m.at("probability").get<double>();
    c.top_k = m.at("top_k");
    c.entropy = m.at("entropy").get<double>();
    c.flagged = m.at("flagged").get<bool>();
    if (m.at("atypical").is_number()) c.atypical = m["atypical"].get<double>();
    if (m.at("flag_reason").is_string()) c.flag_reason = m["flag_reason"].get<std::string>();
    c.classifier_version = m.at("classifier_version").get<std::string>();
    if (m.at("crop_side").is_number_integer()) c.crop_side = m["crop_side"].get<std::int64_t>();
    return std::make_pair(box, c);
  } catch (const Json::exception&) {
    return bad();
  }
}

bool same_box(const Cell& c, const CellBox& b) {
  return c.x1 == b.x1 && c.y1 == b.y1 && c.x2 == b.x2 && c.y2 == b.y2;
}

std::string box_text(const CellBox& b) { return fmt::format("[{}, {}, {}, {}]", b.x1, b.y1, b.x2, b.y2); }

}  // namespace

Status check_box(const CellBox& b, std::int64_t width, std::int64_t height) {
  const std::string expected = fmt::format(
      "x1 < x2 and y1 < y2, finite, inside the {} x {} image, each side at least {} pixels", width, height,
      kMinBoxSide);
  const bool finite = std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2);
  if (!finite || b.x1 < 0 || b.y1 < 0 || b.x2 > static_cast<double>(width) ||
      b.y2 > static_cast<double>(height) || b.x2 - b.x1 < kMinBoxSide || b.y2 - b.y1 < kMinBoxSide)
    return fail(ErrorCode::kInvalidArgument, "box", expected, finite ? box_text(b) : "a number that is not finite");
  return {};
}

Result<std::int64_t> crop_side_for_box(Tx& tx, std::int64_t image_id, const CellBox& box) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT crop_side FROM cells WHERE image_id = ? AND origin = 'model' "
                                          "AND crop_side IS NOT NULL ORDER BY crop_side",
                                          {image_id}));
  if (rows.empty()) return std::int64_t{0};
  const std::int64_t median = rows[rows.size() / 2].i("crop_side");
  const double longer = std::max(box.x2 - box.x1, box.y2 - box.y1);
  return std::max<std::int64_t>(median, static_cast<std::int64_t>(std::lround(longer * 1.1)));
}

Result<CellView> add_cell(Tx& tx, std::int64_t image_id, const CellBox& box, const BoxClassification& model,
                          const std::optional<std::string>& cell_class, const Reviewer& who,
                          const std::string& change_id) {
  if (!is_class_id(model.suggested_class))
    throw MarrowError(ErrorCode::kInternal, "classifier answered a class that is not a class id: " + model.suggested_class);
  MS_ASSIGN_OR_RETURN(auto image_row, tx.query_one("SELECT sample_id, width, height FROM images WHERE id = ?", {image_id}));
  if (!image_row) return fail(ErrorCode::kNotFound, "image " + std::to_string(image_id) + " does not exist");
  const std::int64_t sample_id = image_row->i("sample_id");
  MS_RETURN_IF_ERROR(require_sample_unsigned(tx, sample_id));
  MS_RETURN_IF_ERROR(check_box(box, image_row->i("width"), image_row->i("height")));
  // A reviewer's cell joins the field's finished analysis (cells belong to the job that wrote
  // them), so it is added only once the detector's cells are there to be compared with.
  MS_ASSIGN_OR_RETURN(auto job, tx.query_one("SELECT id FROM jobs WHERE image_id = ? AND status = 'done' "
                                             "ORDER BY id DESC LIMIT 1",
                                             {image_id}));
  if (!job)
    return fail(ErrorCode::kConflict, Reason::kNoFinishedAnalysis, {{"image", std::to_string(image_id)}});
  const std::int64_t job_id = job->i("id");
  ReviewState after;
  if (cell_class) {
    if (!is_class_id(*cell_class))
      return fail(ErrorCode::kInvalidArgument, "class", "a snake_case class id (a-z, 0-9, _; up to 64)",
                  "\"" + *cell_class + "\"");
    std::map<std::int64_t, SampleCheck> samples;
    MS_ASSIGN_OR_RETURN(const SampleCheck* check, check_sample(tx, sample_id, samples));
    const bool known = *cell_class == model.suggested_class || check->suggested.count(*cell_class) > 0 ||
                       (who.known_classes && who.known_classes->count(*cell_class) > 0);
    if (!known)
      return fail(ErrorCode::kInvalidArgument, "class",
                  "a class of the lab's taxonomy or one the models suggested in this sample",
                  "\"" + *cell_class + "\"");
    if (*cell_class != model.suggested_class) after.reviewed_class = *cell_class;
  }
  const auto now = now_ms();
  if (after.reviewed_class) {
    after.reviewer_id = who.user_id;
    after.reviewed_at = now;
  }
  MS_ASSIGN_OR_RETURN(auto next, tx.query_one("SELECT COALESCE(MAX(cell_index), -1) + 1 AS k FROM cells "
                                              "WHERE job_id = ?",
                                              {job_id}));
  MS_ASSIGN_OR_RETURN(auto detector, tx.query_one("SELECT detector_version, classifier_version FROM cells WHERE job_id = ? "
                                                  "ORDER BY id LIMIT 1",
                                                  {job_id}));
  MS_ASSIGN_OR_RETURN(
      auto id,
      tx.insert("INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
                "suggested_class, probability, top_k, entropy, flagged, detector_version, classifier_version, "
                "reviewed_class, reviewer_id, confirmed, reviewed_at, created_at, updated_at, crop_side, "
                "atypical, flag_reason, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, "
                "?, ?, ?, ?, ?, ?, ?) RETURNING id",
                {job_id, next->i("k"), image_id, sample_id, box.x1, box.y1, box.x2, box.y2, model.suggested_class,
                 model.probability, model.top_k.dump(), model.entropy, model.flagged,
                 detector ? detector->s("detector_version") : std::string(),
                 model.classifier_version.empty() && detector ? detector->s("classifier_version")
                                                              : model.classifier_version,
                 Value(after.reviewed_class), Value(after.reviewer_id), Value(after.reviewed_at), now, now,
                 model.crop_side > 0 ? Value(model.crop_side) : Value(), Value(model.atypical),
                 Value(model.flag_reason), std::string(kOriginReviewer)}));
  MS_ASSIGN_OR_RETURN(Cell cell, lock_cell(tx, id));
  ReviewState before;
  before.reviewed_class = std::string(kNotACell);
  MS_RETURN_IF_ERROR(audit_cell(tx, cell, "add", before, after, who, change_id, Json::object(), box_state(cell)));
  return get_cell_view(tx, id);
}

Result<CellView> move_cell(Tx& tx, std::int64_t cell_id, const CellBox& box, const BoxClassification& model,
                           const Reviewer& who, const std::string& change_id) {
  if (!is_class_id(model.suggested_class))
    throw MarrowError(ErrorCode::kInternal, "classifier answered a class that is not a class id: " + model.suggested_class);
  MS_RETURN_IF_ERROR(lock_samples_of_cells(tx, {cell_id}));
  MS_ASSIGN_OR_RETURN(Cell cell, lock_cell(tx, cell_id));
  MS_ASSIGN_OR_RETURN(auto image, tx.query_one("SELECT width, height FROM images WHERE id = ?", {cell.image_id}));
  if (!image) throw MarrowError(ErrorCode::kInternal, "cell " + std::to_string(cell_id) + " has no image");
  MS_RETURN_IF_ERROR(check_box(box, image->i("width"), image->i("height")));
  const ReviewState before = ReviewState::of(cell);
  ReviewState after = before;
  if (!who.may_confirm) after.confirmed = false;
  if (after.reviewed_class || after.confirmed || before.confirmed) {
    after.reviewer_id = who.user_id;
    after.reviewed_at = now_ms();
  }
  const Json from_box = box_state(cell);
  BoxClassification answer = model;
  if (answer.classifier_version.empty()) answer.classifier_version = cell.classifier_version;
  MS_RETURN_IF_ERROR(write_box(tx, cell.id, box, answer));
  MS_RETURN_IF_ERROR(write_state(tx, cell.id, after));
  MS_ASSIGN_OR_RETURN(Cell moved, lock_cell(tx, cell_id));
  MS_RETURN_IF_ERROR(audit_cell(tx, moved, "move", before, after, who, change_id, from_box, box_state(moved)));
  return get_cell_view(tx, cell_id);
}

Result<CellView> restore_cell(Tx& tx, std::int64_t cell_id, const Reviewer& who, const std::string& change_id) {
  MS_RETURN_IF_ERROR(lock_samples_of_cells(tx, {cell_id}));
  MS_ASSIGN_OR_RETURN(Cell cell, lock_cell(tx, cell_id));
  if (cell.reviewed_class.value_or(cell.suggested_class) != kNotACell)
    return fail(ErrorCode::kConflict, "cell " + std::to_string(cell_id) + " is not removed; nothing to restore");
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT from_value FROM audit_events WHERE entity_type = 'cell' AND "
                                             "entity_id = ? AND action = 'remove' ORDER BY id DESC LIMIT 1",
                                             {cell_id}));
  ReviewState after;  // the model's suggestion, unless the removal says what the cell was
  if (row) {
    auto was = ReviewState::from_json(Json::parse(row->s("from_value"), nullptr, false));
    if (was && !cls_is_removal(*was)) {
      after.reviewed_class = was->reviewed_class;
      // A confirmation comes back only from someone who may confirm; a technician's
      // pre-verification vouched for this same class, so it comes back with it.
      after.confirmed = was->confirmed && who.may_confirm;
      after.verified_by = was->verified_by;
      after.verified_at = was->verified_at;
    }
  }
  if (after.reviewed_class && *after.reviewed_class == cell.suggested_class) after.reviewed_class.reset();
  if (cell.suggested_class == kNotACell && !after.reviewed_class)
    return fail(ErrorCode::kConflict, "cell " + std::to_string(cell_id) +
                                          " has no class to go back to; give it a class instead");
  after.reviewer_id = who.user_id;
  after.reviewed_at = now_ms();
  const ReviewState before = ReviewState::of(cell);
  MS_RETURN_IF_ERROR(write_state(tx, cell.id, after));
  MS_RETURN_IF_ERROR(audit_cell(tx, cell, "restore", before, after, who, change_id));
  return get_cell_view(tx, cell_id);
}

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

Result<std::vector<Cell>> spread_cells(Tx& tx, std::int64_t sample_id, std::int64_t n) {
  if (n <= 0) return std::vector<Cell>{};
  // m = min(n, total). Row r (0-based, by id) is picked when some integer k has
  // r <= k * total / m < r + 1, i.e. when ceil(r * m / total) * total < (r + 1) * m.
  MS_ASSIGN_OR_RETURN(
      auto rows,
      tx.query("SELECT * FROM (SELECT c.*, ROW_NUMBER() OVER (ORDER BY c.id) - 1 AS spread_row, "
               "COUNT(*) OVER () AS spread_total, CASE WHEN COUNT(*) OVER () < ? THEN COUNT(*) OVER () "
               "ELSE ? END AS spread_m FROM cells c WHERE c.sample_id = ?) t WHERE ((spread_row * spread_m "
               "+ spread_total - 1) / spread_total) * spread_total < (spread_row + 1) * spread_m ORDER BY id",
               {n, n, sample_id}));
  std::vector<Cell> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(from_row<Cell>(r));
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
    if (c.cell_class == kNotACell) {
      s.classes.push_back(std::move(c));
      continue;
    }
    s.cells += c.cells;
    s.confirmed += c.confirmed;
    s.flagged += c.flagged;
    s.reclassified += r.i("reclassified");
    s.verified += r.i("verified");
    s.classes.push_back(std::move(c));
  }
  MS_ASSIGN_OR_RETURN(auto a, tx.query_one("SELECT COUNT(c.atypical) AS scored, COALESCE(SUM(CASE WHEN "
                                           "c.flag_reason = 'atypical' THEN 1 ELSE 0 END), 0) AS atypical "
                                           "FROM cells c" + where + " AND " + kCountedCellSql,
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
      return fail(ErrorCode::kPermissionDenied, Reason::kOnlyDoctorsConfirm);
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
      const bool known = cls == kNotACell || sample->suggested.count(cls) > 0 ||
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
    const char* action = class_changed     ? (cls_is_removal(after)    ? "remove"
                                              : effective == kNotACell ? "restore"
                                                                       : "reclassify")
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
    if (ev.action == "move") {
      MS_ASSIGN_OR_RETURN(auto old_box, box_state_from_json(ev.from_value));
      MS_ASSIGN_OR_RETURN(auto new_box, box_state_from_json(ev.to_value));
      if (!same_box(cell, new_box.first))
        return fail(ErrorCode::kConflict, fmt::format("cannot undo: the box of cell {} has been moved since", cell.id));
      MS_RETURN_IF_ERROR(write_box(tx, cell.id, old_box.first, old_box.second));
      MS_RETURN_IF_ERROR(write_state(tx, cell.id, from));
      MS_ASSIGN_OR_RETURN(Cell moved_back, lock_cell(tx, cell.id));
      MS_RETURN_IF_ERROR(audit_cell(tx, moved_back, "undo", now_state, from, who, change_id, box_state(cell),
                                    box_state(moved_back)));
      cell_ids.push_back(cell.id);
      continue;
    }
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
