// Editing the boxes of a field: add a missed cell (classified at once by the loaded classifier),
// remove a false box (it becomes not_a_cell: kept and audited, out of every count) and restore it,
// and move or resize a box (re-cropped and re-classified). Staff edit, like they reclassify;
// signed samples are locked (409); every edit is one audited change that undo can take back.
#include "server/field_edit_routes.h"

#include <functional>
#include <set>

#include <fmt/format.h>

#include "core/error_reason.h"
#include "core/json_schema.h"
#include "server/cell_recognizer.h"
#include "server/crypto.h"
#include "server/request_bodies.h"
#include "server/review_access.h"
#include "store/cell_store.h"
#include "store/image_store.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

Result<store::CellBox> box_of(const CellDraw& d) {
  const std::pair<const char*, const std::optional<double>*> coords[] = {
      {"x1", &d.x1}, {"y1", &d.y1}, {"x2", &d.x2}, {"y2", &d.y2}};
  for (const auto& [name, v] : coords)
    if (!*v) return fail(ErrorCode::kInvalidArgument, std::string("request body:$.") + name, "a number", "nothing");
  return store::CellBox{*d.x1, *d.y1, *d.x2, *d.y2};
}

Json draw_schema(bool with_class) {
  Json s = read_schema<CellDraw>();
  if (!with_class) s["properties"].erase("class");
  s["required"] = {"x1", "y1", "x2", "y2"};
  for (const char* k : {"x1", "y1", "x2", "y2"}) {
    s["properties"][k] = {{"type", "number"}, {"minimum", 0}};
    s["properties"][k]["description"] = "pixels of the field image (xyxy)";
  }
  return s;
}

// What an edit needs from the database before the classifier runs: the field, and the side of
// the crop the classifier is to see.
struct FieldOfBox {
  store::Image image;
  std::int64_t crop_side = 0;
};

Result<FieldOfBox> field_of_box(store::Tx& tx, std::int64_t image_id, const store::CellBox& box) {
  FieldOfBox f;
  MS_ASSIGN_OR_RETURN(f.image, store::get_image(tx, image_id));
  MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, f.image.sample_id));
  // Checked again under the sample's lock when the edit is written; this spares the classifier.
  if (sample.status == store::SampleStatus::kSigned)
    return fail(ErrorCode::kConflict, Reason::kSampleSignedCells, {{"sample", sample.accession}});
  MS_RETURN_IF_ERROR(store::check_box(box, f.image.width, f.image.height));
  MS_ASSIGN_OR_RETURN(f.crop_side, store::crop_side_for_box(tx, image_id, box));
  return f;
}

Status require_recognizer(const ServerContext& ctx) {
  if (!ctx.recognizer)
    return fail(ErrorCode::kConflict,
                "this server runs without an analysis pipeline (started with --no-analysis); a drawn "
                "box needs the classifier");
  return {};
}

// The classifier's answer for the crop of `box` in the field, framed as the pipeline frames it.
Result<store::BoxClassification> classify_box(const ServerContext& ctx, CellCrops& crops, const FieldOfBox& f,
                                              const store::CellBox& box) {
  store::Cell probe;
  probe.x1 = box.x1;
  probe.y1 = box.y1;
  probe.x2 = box.x2;
  probe.y2 = box.y2;
  if (f.crop_side > 0) probe.crop_side = f.crop_side;
  MS_ASSIGN_OR_RETURN(auto crop, crops.crop(f.image, probe));
  MS_ASSIGN_OR_RETURN(auto answers, ctx.recognizer->classify_crops({crop}));
  if (answers.size() != 1)
    throw MarrowError(ErrorCode::kInternal,
                      "recognizer returned " + std::to_string(answers.size()) + " results for one crop");
  const store::AnalysedCell& a = answers.front();
  store::BoxClassification c;
  c.suggested_class = a.cell_class;
  c.probability = a.probability;
  for (const auto& [name, p] : a.top_k) c.top_k.push_back({{"class", name}, {"p", p}});
  c.entropy = a.entropy;
  c.flagged = a.flagged;
  if (a.atypical >= 0.f) c.atypical = a.atypical;
  if (!a.flag_reason.empty()) c.flag_reason = a.flag_reason;
  c.classifier_version = ctx.recognizer->classifier_version();
  c.crop_side = f.crop_side > 0 ? f.crop_side : crop.cols;
  return c;
}

using Edit = std::function<Result<store::CellView>(store::Tx&, const store::Reviewer&, const std::string& change_id)>;

// One audited edit of one cell, in one write transaction with its operation-log line (`action`,
// "change <id>", details of the edited cell).
Result<Reply> logged_edit(store::Database& db, const Caller& c, const std::set<std::string>* known,
                          const std::string& action, const Edit& edit,
                          const std::function<std::string(const store::CellView&)>& details, int status = 200) {
  const std::string change_id = random_hex(12);
  const store::Reviewer who = reviewer_of(c, known);
  MS_ASSIGN_OR_RETURN(auto view, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::CellView> {
    MS_ASSIGN_OR_RETURN(auto v, edit(tx, who, change_id));
    MS_RETURN_IF_ERROR(log_operation(tx, c, action, "change " + change_id, details(v)));
    return v;
  }));
  return Reply::json(view.to_json(), status);
}

std::string cell_text(const store::CellView& v) { return fmt::format("cell {}, {}", v.cell.id, v.effective_class); }

}  // namespace

void register_field_edit_routes(Api& api, std::shared_ptr<CellCrops> crops) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();
  auto known = review_classes(ctx);
  const Json box_example = {{"x1", 120}, {"y1", 84}, {"x2", 176}, {"y2", 142}};

  api.post(R"(/api/images/(\d+)/cells)", Access::kStaff,
           Doc("Add a cell the detector missed: draw its box on the field")
               .describe("The box is cropped as the pipeline crops the field's cells and classified at once "
                         "by the loaded classifier; `class` (optional) is the reviewer's class for it. The "
                         "cell's `origin` is `reviewer`. Boxes must lie inside the image, each side at least " +
                         fmt::format("{}", store::kMinBoxSide) +
                         " pixels. Audited as `add`; undo turns the cell into `not_a_cell`")
               .json_body(draw_schema(true), [&] {
                 Json e = box_example;
                 e["class"] = "myelocyte";
                 return e;
               }())
               .answers(201, ref("Cell"), "the new cell")
               .error(404, "no such image")
               .error(409, "the sample is signed; the field has no finished analysis; no classifier loaded"),
           [&ctx, &db, crops, known](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto image_id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto body, body_as<CellDraw>(req));
             MS_ASSIGN_OR_RETURN(auto box, box_of(body));
             MS_RETURN_IF_ERROR(require_recognizer(ctx));
             MS_ASSIGN_OR_RETURN(auto field, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
               return field_of_box(tx, image_id, box);
             }));
             MS_ASSIGN_OR_RETURN(auto model, classify_box(ctx, *crops, field, box));
             return logged_edit(
                 db, c, known.get(), "cell.add",
                 [&](store::Tx& tx, const store::Reviewer& who, const std::string& change_id) {
                   return store::add_cell(tx, image_id, box, model, body.cell_class, who, change_id);
                 },
                 [&](const store::CellView& v) { return fmt::format("image {}, {}", image_id, cell_text(v)); }, 201);
           });

  api.del(R"(/api/cells/(\d+))", Access::kStaff,
          Doc("Remove a false box: the cell becomes `not_a_cell`")
              .describe("The cell stays (in the audit trail, the field and the gallery's not-a-cell bin) but "
                        "leaves every count, total and differential. Audited as `remove`; undo or "
                        "POST /api/cells/{id}/restore brings it back")
              .answers(200, ref("Cell"), "the cell, now not_a_cell")
              .error(404, "no such cell")
              .error(409, "the sample is signed"),
          [&db, known](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            return logged_edit(
                db, c, known.get(), "cell.remove",
                [&](store::Tx& tx, const store::Reviewer& who, const std::string& change_id) -> Result<store::CellView> {
                  MS_ASSIGN_OR_RETURN(auto v, store::review_cells(tx, {{id, std::string(store::kNotACell), std::nullopt, std::nullopt}},
                                                                  who, change_id));
                  return v.front();
                },
                cell_text);
          });

  api.post(R"(/api/cells/(\d+)/restore)", Access::kStaff,
           Doc("Restore a removed box")
               .describe("The cell gets back the class it had before its latest removal (the model's "
                         "suggestion when it had none), and its confirmation when a doctor or admin restores it. "
                         "Audited as `restore`")
               .answers(200, ref("Cell"), "the restored cell")
               .error(404, "no such cell")
               .error(409, "the cell is not removed; the sample is signed"),
           [&db, known](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             return logged_edit(
                 db, c, known.get(), "cell.restore",
                 [&](store::Tx& tx, const store::Reviewer& who, const std::string& change_id) {
                   return store::restore_cell(tx, id, who, change_id);
                 },
                 cell_text);
           });

  api.put(R"(/api/cells/(\d+)/box)", Access::kStaff,
          Doc("Move or resize a cell's box")
              .describe("The new box is re-cropped and re-classified (suggested class, probability, top-k). "
                        "The reviewer's class stays; a confirmation stays when a doctor or admin moves the "
                        "box and is cleared when a technician does. Audited as `move` with both boxes; undo "
                        "puts the old box back")
              .json_body(draw_schema(false), box_example)
              .answers(200, ref("Cell"), "the cell with its new box")
              .error(404, "no such cell")
              .error(409, "the sample is signed; no classifier loaded"),
          [&ctx, &db, crops, known](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto body, body_as<CellDraw>(req));
            if (body.cell_class)
              return fail(ErrorCode::kInvalidArgument, "request body:$.class",
                          "no class (reclassify with PATCH /api/cells/{id})", "\"" + *body.cell_class + "\"");
            MS_ASSIGN_OR_RETURN(auto box, box_of(body));
            MS_RETURN_IF_ERROR(require_recognizer(ctx));
            MS_ASSIGN_OR_RETURN(auto field, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<FieldOfBox> {
              MS_ASSIGN_OR_RETURN(auto v, store::get_cell_view(tx, id));
              return field_of_box(tx, v.cell.image_id, box);
            }));
            MS_ASSIGN_OR_RETURN(auto model, classify_box(ctx, *crops, field, box));
            return logged_edit(
                db, c, known.get(), "cell.move",
                [&](store::Tx& tx, const store::Reviewer& who, const std::string& change_id) {
                  return store::move_cell(tx, id, box, model, who, change_id);
                },
                [&](const store::CellView& v) {
                  return fmt::format("{} to [{}, {}, {}, {}]", cell_text(v), box.x1, box.y1, box.x2, box.y2);
                });
          });
}

}  // namespace ms::server
