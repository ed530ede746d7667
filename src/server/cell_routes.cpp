// Cells and their review: lists with filters and review-queue orders, one cell, crops, per-class
// summaries, reclassify / confirm one cell or many in one all-or-nothing request, the audit trail
// of a cell and of a sample, and undo of the caller's last change.
//
// Roles (doctors review, confirm and sign; technicians run analyses): staff (admin,
// doctor, technician) may reclassify; only doctors and admins may confirm or unconfirm; viewers
// read. Signed samples are locked (409); later corrections are report addenda.
#include <cstdlib>
#include <set>

#include <spdlog/spdlog.h>

#include "core/json_schema.h"
#include "core/paths.h"
#include "report/domain_check.h"
#include "report/taxonomy.h"
#include "server/api.h"
#include "server/sample_answers.h"
#include "server/cell_crops.h"
#include "server/cell_recognizer.h"
#include "server/lab_taxonomies.h"
#include "server/crypto.h"
#include "server/domain_stain.h"
#include "server/field_edit_routes.h"
#include "server/request_bodies.h"
#include "server/review_access.h"
#include "store/audit_trail.h"
#include "store/cell_store.h"
#include "store/image_store.h"
#include "store/paging.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

constexpr std::size_t kMaxBatch = 5000;
// A crop's side when the caller resizes it (GET /api/cells/{id}/crop?size=), in pixels.
constexpr int kMinCropSize = 16, kMaxCropSize = 512;

Result<std::vector<store::CellChange>> batch_changes(const BatchReview& b) {
  if (!b.changes.empty() && !b.ids.empty())
    return fail(ErrorCode::kInvalidArgument, "request body", "either \"changes\" or \"ids\"", "both");
  std::vector<store::CellChange> out;
  if (!b.changes.empty()) {
    if (b.cell_class || b.confirmed || b.verified)
      return fail(ErrorCode::kInvalidArgument, "request body",
                  "\"class\" / \"confirmed\" / \"verified\" inside each of \"changes\"", "them beside \"changes\"");
    for (const auto& c : b.changes) out.push_back({c.id, c.cell_class, c.confirmed, c.verified});
  } else {
    for (auto id : b.ids) out.push_back({id, b.cell_class, b.confirmed, b.verified});
  }
  if (out.empty())
    return fail(ErrorCode::kInvalidArgument, "request body", "\"changes\" or \"ids\" with at least one cell",
                "none");
  if (out.size() > kMaxBatch)
    return fail(ErrorCode::kInvalidArgument, "request body",
                "at most " + std::to_string(kMaxBatch) + " cells", std::to_string(out.size()));
  return out;
}

Result<store::CellQuery> cell_query(const net::Request& req) {
  store::CellQuery q;
  q.cell_class = query_text(req, "class");
  auto flag = [&](const std::string& name) -> Result<std::optional<bool>> {
    const std::string v = query_text(req, name);
    if (v.empty()) return std::optional<bool>{};
    if (v == "true" || v == "1") return std::optional<bool>(true);
    if (v == "false" || v == "0") return std::optional<bool>(false);
    return fail(ErrorCode::kInvalidArgument, "query parameter '" + name + "'", "true|false", "\"" + v + "\"");
  };
  MS_ASSIGN_OR_RETURN(q.reviewed, flag("reviewed"));
  MS_ASSIGN_OR_RETURN(q.flagged, flag("flagged"));
  q.order = query_text(req, "order", "id");
  MS_ASSIGN_OR_RETURN(q.limit, query_int(req, "limit", 500));
  MS_ASSIGN_OR_RETURN(q.offset, query_int(req, "offset", 0));
  return q;
}

Json views_json(const std::vector<store::CellView>& views) {
  Json items = Json::array();
  for (const auto& v : views) items.push_back(v.to_json());
  return items;
}

// BatchReview as read, with the batch limit batch_changes() enforces.
Json batch_review_schema() {
  Json s = read_schema<BatchReview>();
  s["properties"]["changes"]["maxItems"] = kMaxBatch;
  s["properties"]["ids"]["maxItems"] = kMaxBatch;
  return s;
}

std::string describe_changes(const std::vector<store::CellChange>& changes) {
  std::string out = std::to_string(changes.size()) + " cell(s)";
  const auto& first = changes.front();
  if (first.cell_class) out += " class=" + *first.cell_class;
  if (first.confirmed) out += std::string(" confirmed=") + (*first.confirmed ? "true" : "false");
  if (first.verified) out += std::string(" verified=") + (*first.verified ? "true" : "false");
  return out;
}

}  // namespace

// Classes a reviewer may choose besides those the models suggested in the sample: every class of
// the lab's taxonomies (marrow and blood) and of the classifier in use, and kReviewOnlyClasses.
std::shared_ptr<const std::set<std::string>> review_classes(const ServerContext& ctx) {
  const auto ids = ctx.taxonomies->all_class_ids();
  auto known = std::make_shared<std::set<std::string>>(ids.begin(), ids.end());
  // The gallery's bins for what is on a field but not a countable cell, whatever the taxonomy.
  for (const char* c : kReviewOnlyClasses) known->insert(c);
  return known;
}

store::Reviewer reviewer_of(const Caller& c, const std::set<std::string>* known) {
  store::Reviewer r;
  r.user_id = c.user_id();
  r.ip = c.ip;
  r.may_confirm = has_role(c, Access::kDoctor);
  r.known_classes = known;
  return r;
}

void register_cell_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();
  MS_CHECK(ctx.cell_crops != nullptr, "register_cell_routes: the server context has no crop cache");
  auto crops = ctx.cell_crops;
  auto known = review_classes(ctx);

  MS_CHECK(ctx.sample_answers != nullptr, "register_cell_routes: the server context has no answer cache");
  auto answers = ctx.sample_answers;
  auto list = [&db, answers](const net::Request& req, bool by_sample) -> Result<Reply> {
    MS_ASSIGN_OR_RETURN(auto id, path_id(req));
    MS_ASSIGN_OR_RETURN(auto q, cell_query(req));
    if (by_sample) {
      // The review queue's pages: kept under the sample's revision. The key holds every
      // parameter that shapes the page, as parsed.
      q.sample_id = id;
      auto flag = [](const std::optional<bool>& b) { return b ? Json(*b) : Json(nullptr); };
      const std::string key = Json::array({"cells", id, q.cell_class, flag(q.reviewed), flag(q.flagged),
                                           q.order, q.limit, q.offset})
                                  .dump(-1, ' ', false, Json::error_handler_t::replace);
      return sample_answer(db, *answers, req, id, key, [&](store::Tx& tx) -> Result<Json> {
        MS_ASSIGN_OR_RETURN(auto cells, store::list_cell_views(tx, q));
        MS_ASSIGN_OR_RETURN(auto total, store::count_cells(tx, q));
        return Json{{"items", views_json(cells)}, {"total", total}, {"limit", q.limit}, {"offset", q.offset}};
      });
    }
    q.image_id = id;
    Json out;
    MS_RETURN_IF_ERROR(db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
      if (by_sample) MS_RETURN_IF_ERROR(store::get_sample(tx, id));
      else MS_RETURN_IF_ERROR(store::get_image(tx, id));
      MS_ASSIGN_OR_RETURN(auto cells, store::list_cell_views(tx, q));
      MS_ASSIGN_OR_RETURN(auto total, store::count_cells(tx, q));
      out = {{"items", views_json(cells)}, {"total", total}, {"limit", q.limit}, {"offset", q.offset}};
      return {};
    }));
    return Reply::json(out);
  };
  // The filters of cell_query(), shared by the lists and the summary.
  auto filtered = [](Doc d, bool paged) {
    d.query("class", string_schema(), "effective class (reviewed, else suggested)")
        .query("reviewed", string_schema({"true", "false", "1", "0"}), "confirmed or not")
        .query("flagged", string_schema({"true", "false", "1", "0"}), "needs attention or not");
    if (paged)
      d.query("order", string_schema({"id", "confidence", "entropy", "attention"}),
              "id (default) | confidence = lowest first | entropy = highest first | attention = "
              "flagged first, then lowest confidence")
          .query("limit", integer_schema(1, store::kMaxCellPageSize), "default 500")
          .query("offset", integer_schema(0, store::kMaxOffset), "default 0");
    return d;
  };
  const Json cell_page = object_of({{"items", array_of(ref("Cell"))}, {"total", integer_schema(0)},
                                    {"limit", integer_schema(1)}, {"offset", integer_schema(0)}});
  api.get(R"(/api/samples/(\d+)/cells)", Access::kAnyUser,
          filtered(Doc("Cells of a sample"), true)
              .answers(200, cell_page, "one page of cells")
              .header("ETag", "names the sample's revision; changes with any change to the sample or its cells. "
                              "Send it back as If-None-Match to revalidate a copy")
              .no_body(304, "the sample has not changed since the If-None-Match the request sent"),
          [list](const net::Request& req, const Caller&) { return list(req, true); });
  api.get(R"(/api/images/(\d+)/cells)", Access::kAnyUser,
          filtered(Doc("Cells of one field image"), true).answers(200, cell_page, "one page of cells"),
          [list](const net::Request& req, const Caller&) { return list(req, false); });

  api.get(R"(/api/samples/(\d+)/cells/summary)", Access::kAnyUser,
          filtered(Doc("Cells of a sample per effective class and in total"), false)
              .answers(200, ref("CellSummary"), "per class (cells, confirmed, flagged) and totals (with reclassified)"),
          [&db, stain = ctx.stain_check](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto q, cell_query(req));
            q.sample_id = id;
            MS_ASSIGN_OR_RETURN(auto s, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<store::CellSummary> {
              MS_RETURN_IF_ERROR(store::get_sample(tx, id));
              return store::summarise_cells(tx, q);
            }));
            // Whether the sample looks like the classifier's training lab (report/domain_check.h).
            Json j = s.to_json();
            j["domain"] = domain_json(check_domain({s.cells, s.atypical_scored, s.atypical}), stain, id);
            return Reply::json(j);
          });

  api.get(R"(/api/cells/(\d+))", Access::kAnyUser,
          Doc("One cell").answers(200, ref("Cell"), "the cell"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto v, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_cell_view(tx, id);
            }));
            return Reply::json(v.to_json());
          });

  api.get(R"(/api/cells/(\d+)/crop)", Access::kAnyUser,
          Doc("The cell's crop as JPEG, framed as the classifier saw it")
              .describe("Square, `crop_side` pixels of the field centred on the box (cells without "
                        "`crop_side`: the pipeline's crop margin around the box)")
              .query("size", integer_schema(kMinCropSize, kMaxCropSize), "resize to this many pixels per side")
              .file(200, "image/jpeg", "the crop")
              .header("Cache-Control", "private, no-store"),
          [&db, crops](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto side, query_int(req, "size", 0));
            if (side != 0 && (side < kMinCropSize || side > kMaxCropSize))
              return fail(ErrorCode::kInvalidArgument, "query parameter 'size'",
                          std::to_string(kMinCropSize) + " to " + std::to_string(kMaxCropSize) + " pixels",
                          std::to_string(side));
            store::Image image;
            store::Cell cell;
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
              MS_ASSIGN_OR_RETURN(auto v, store::get_cell_view(tx, id));
              MS_ASSIGN_OR_RETURN(image, store::get_image(tx, v.cell.image_id));
              cell = std::move(v.cell);
              return {};
            }));
            MS_ASSIGN_OR_RETURN(auto jpeg, crops->crop_jpeg(image, cell, static_cast<int>(side)));
            Reply r = Reply::bytes(std::move(jpeg), "image/jpeg");
            // Patient images: not kept by the browser after the page (shared ward workstations).
            r.headers.emplace("Cache-Control", "private, no-store");
            r.headers.emplace("Vary", "Cookie");
            return r;
          });

  auto apply = [&db, known](const Caller& c, const std::vector<store::CellChange>& changes)
      -> Result<std::vector<store::CellView>> {
    const std::string change_id = random_hex(12);
    const store::Reviewer who = reviewer_of(c, known.get());
    return db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<std::vector<store::CellView>> {
      MS_ASSIGN_OR_RETURN(auto views, store::review_cells(tx, changes, who, change_id));
      MS_RETURN_IF_ERROR(log_operation(tx, c, "cell.review", "change " + change_id, describe_changes(changes)));
      return views;
    });
  };

  api.patch(R"(/api/cells/(\d+))", Access::kStaff,
            Doc("Review one cell: reclassify, pre-verify and/or confirm")
                .describe("Staff reclassify and pre-verify (`verified`: a technician vouches for the class, "
                          "recorded with who and when; a new class without `verified` clears it); doctors "
                          "and admins confirm or unconfirm (a technician's `confirmed` answers 403; a "
                          "technician's new class clears a confirmation). A "
                          "class must be snake_case and known (the lab's marrow and blood taxonomies, the classifier, or a class "
                          "already suggested in the sample). Audited")
                .json_body(read_schema<CellPatch>(), {{"class", "myelocyte"}, {"confirmed", true}})
                .answers(200, ref("Cell"), "the cell after the change")
                .error(409, "the sample is signed"),
            [apply](const net::Request& req, const Caller& c) -> Result<Reply> {
              MS_ASSIGN_OR_RETURN(auto id, path_id(req));
              MS_ASSIGN_OR_RETURN(auto body, body_as<CellPatch>(req));
              MS_ASSIGN_OR_RETURN(auto views, apply(c, {{id, body.cell_class, body.confirmed, body.verified}}));
              return Reply::json(views.front().to_json());
            });

  api.post(R"(/api/cells/review)", Access::kStaff,
           Doc("Review many cells at once, all or nothing")
               .describe("Either `changes` (one change per cell) or `ids` with one `class` / `confirmed` / `verified` "
                         "for all (at most " + std::to_string(kMaxBatch) + " cells). One unknown cell (404), "
                         "bad class (400), signed sample (409) or forbidden confirm (403) refuses the whole "
                         "request")
               .json_body(batch_review_schema(), {{"ids", {101, 102, 103}}, {"class", "lymphocyte"}})
               .answers(200, object_of({{"items", array_of(ref("Cell"))}}), "the cells after the change, in request order")
               .error(404, "a cell that does not exist")
               .error(409, "a cell's sample is signed"),
           [apply](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<BatchReview>(req));
             MS_ASSIGN_OR_RETURN(auto changes, batch_changes(body));
             MS_ASSIGN_OR_RETURN(auto views, apply(c, changes));
             return Reply::json({{"items", views_json(views)}});
           });

  api.get(R"(/api/cells/(\d+)/audit)", Access::kAnyUser,
          Doc("Audit history of a cell, oldest first: who, when, action, from -> to")
              .answers(200, object_of({{"items", array_of(ref("AuditEvent"))}}), "the events"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto evs, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<store::AuditEvent>> {
              MS_RETURN_IF_ERROR(store::get_cell_view(tx, id));
              return store::audit_history(tx, "cell", id);
            }));
            Json items = Json::array();
            for (const auto& e : evs) items.push_back(e.to_json());
            return Reply::json({{"items", items}});
          });

  api.get(R"(/api/samples/(\d+)/audit)", Access::kAnyUser,
          Doc("Review trail of a sample, newest first")
              .query("user_id", integer_schema(), "only this account's changes")
              .query("limit", integer_schema(1, store::kMaxAuditPageSize), "default 100")
              .query("offset", integer_schema(0, store::kMaxOffset), "default 0")
              .answers(200, object_of({{"items", array_of(ref("AuditEvent"))}, {"total", integer_schema(0)}}), "the events"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto user, query_opt_int(req, "user_id"));
            MS_ASSIGN_OR_RETURN(auto limit, query_int(req, "limit", 100));
            MS_ASSIGN_OR_RETURN(auto offset, query_int(req, "offset", 0));
            MS_ASSIGN_OR_RETURN(auto page, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<store::AuditPage> {
              MS_RETURN_IF_ERROR(store::get_sample(tx, id));
              return store::sample_audit(tx, id, user, limit, offset);
            }));
            Json items = Json::array();
            for (const auto& e : page.items) items.push_back(e.to_json());
            return Reply::json({{"items", items}, {"total", page.total}});
          });

  api.post(R"(/api/samples/(\d+)/review/undo)", Access::kStaff,
           Doc("Undo the caller's last review change in the sample (a batch is one change)")
               .describe("Call again to go further back")
               .answers(200, object_of({{"undone_change_id", string_schema()}, {"items", array_of(ref("Cell"))}}),
                        "the cells as restored")
               .error(404, "nothing of the caller's is left to undo")
               .error(409, "someone changed one of the cells since; the sample is signed"),
           [&db, known](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             const std::string change_id = random_hex(12);
             const store::Reviewer who = reviewer_of(c, known.get());
             MS_ASSIGN_OR_RETURN(auto undone, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::UndoResult> {
               MS_RETURN_IF_ERROR(store::get_sample(tx, id));
               MS_ASSIGN_OR_RETURN(auto u, store::undo_last_change(tx, id, who, change_id));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "cell.undo", "change " + u.undone_change_id,
                                                std::to_string(u.cells.size()) + " cell(s)"));
               return u;
             }));
             return Reply::json({{"undone_change_id", undone.undone_change_id},
                                 {"items", views_json(undone.cells)}});
           });

  register_field_edit_routes(api, crops);
}

}  // namespace ms::server
