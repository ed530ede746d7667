#include "server/api_schemas.h"

#include <algorithm>

#include "core/error_reason.h"
#include "core/json_schema.h"
#include "report/report_data.h"
#include "report/rule_set.h"
#include "report/taxonomy.h"
#include "server/http_error.h"
#include "server/route_doc.h"
#include "store/cell_store.h"
#include "store/adaptation_store.h"
#include "store/job_queue.h"
#include "store/records.h"
#include "store/report_store.h"

namespace ms::server {
namespace {

Json integer() { return {{"type", "integer"}}; }
Json number() { return {{"type", "number"}}; }
Json text() { return {{"type", "string"}}; }
Json boolean() { return {{"type", "boolean"}}; }

// Keys a newer server may add to a shape: allowed (nullable), never required, so answers of
// servers with and without them both fit.
void add_optional(Json& object_schema, const std::string& key, Json schema) {
  object_schema["properties"][key] = nullable(std::move(schema));
  Json& req = object_schema["required"];
  req.erase(std::remove(req.begin(), req.end(), Json(key)), req.end());
}

void add_required(Json& object_schema, const std::string& key, Json schema) {
  object_schema["properties"][key] = std::move(schema);
  object_schema["required"].push_back(key);
}

Json error_schema() {
  const Json file_problems = object_of(
      {{"files", array_of(object_of({{"filename", text()},
                                     {"code", with_description(text(), "error code of this file")},
                                     {"message", text()}}))}});
  const Json csv_rows = object_of(
      {{"rows", with_description(array_of(object_of({{"row", with_description(integer(), "1 = the header")},
                                                     {"message", text()}})),
                                 "the first 1,000 invalid rows")},
       {"invalid_rows", with_description(integer(), "every invalid row")}});
  const Json tries = object_of(
      {{"tries_left", with_description(integer_schema(0), "wrong passwords left before the lock")},
       {"lock_minutes", with_description(integer_schema(1), "how long the lock lasts")}});
  const Json retry = object_of({{"retry_after_s", with_description(integer_schema(0), "as the Retry-After header")}});
  Json details = {
      {"description",
       "Only where there is more to say: `files` (each refused file of an upload), `rows` and "
       "`invalid_rows` (a CSV import), `tries_left` and `lock_minutes` (a wrong password), "
       "`retry_after_s` (a throttled sign-in, registration or password change)"},
      {"oneOf", Json::array({file_problems, csv_rows, tries, retry})}};
  Json error = object_of({{"code", with_description(string_schema(), "machine-readable; see the table in docs/API.md")},
                          {"message", with_description(text(), "readable; names the input, what was expected and what was found")},
                          {"details", details}});
  error["properties"]["code"]["enum"] = error_code_names();
  error["required"] = Json::array({"code", "message"});
  // Clients translate by reason; x-messages gives each reason's English template, the one source
  // the web app's texts are checked against.
  Json names = Json::array(), messages = Json::object();
  for (const auto& r : all_reasons()) {
    names.push_back(std::string(r.name));
    messages[std::string(r.name)] = std::string(r.template_);
  }
  Json reason = with_description(string_schema(),
                                 "which refusal this is, where a person meets it in the app; `message` is "
                                 "its English template (x-messages) filled in with `params`");
  reason["enum"] = names;
  reason["x-messages"] = messages;
  error["properties"]["reason"] = reason;
  error["properties"]["params"] =
      with_description({{"type", "object"}, {"additionalProperties", {{"type", "string"}}}},
                       "the values of the reason's {placeholders}");
  Json s = object_of({{"error", error}});
  s["description"] = "The one error shape of every 4xx and 5xx answer";
  s["example"] = {{"error", {{"code", "invalid_argument"},
                             {"message", "request body:$.nmae: expected a known key (identifier, name, ...), found unknown key"}}}};
  return s;
}

Json top_k_schema() {
  return with_description(array_of(object_of({{"class", text()}, {"p", with_description(number(), "probability, 0..1")}})),
                          "the most probable classes, best first");
}

Json cell_schema() {
  Json s = written_schema<store::Cell>();
  s["properties"]["top_k"] = top_k_schema();
  s["properties"]["x1"]["description"] = "box, xyxy in pixels of the field image";
  s["properties"]["entropy"]["description"] = "nats, of the full class distribution";
  s["properties"]["flagged"]["description"] = "needs attention (low confidence, high entropy or atypical)";
  s["properties"]["crop_side"]["description"] =
      "side (field pixels) of the square crop the classifier saw, centred on the box; null when not recorded";
  s["properties"]["origin"] = with_description(
      {{"type", "string"}, {"enum", {store::kOriginModel, store::kOriginReviewer}}},
      "who drew the box: model (the detector) or reviewer (a missed cell added on the field)");
  add_required(s, "class",
               with_description(text(), "effective class: reviewed_class, else suggested_class; not_a_cell for "
                                        "a removed box (left out of every count)"));
  add_required(s, "reviewer",
               nullable(object_of({{"id", nullable(integer())}, {"username", text()}, {"display_name", text()}})));
  add_required(s, "verifier",
               with_description(nullable(object_of({{"id", nullable(integer())}, {"username", text()},
                                                    {"display_name", text()}})),
                                "who pre-verified the cell (a technician); null when nobody has"));
  add_required(s, "verified", with_description(boolean(), "pre-verified (verified_at is set)"));
  s["properties"]["verified_at"]["description"] = "when the cell was pre-verified, Unix ms";
  add_optional(s, "atypical",
               with_description({{"type", "number"}, {"minimum", 0}, {"maximum", 1}},
                                "how unusual the cell looks compared with the classifier's training cells"));
  add_optional(s, "flag_reason",
               with_description(text(), "why the cell is flagged, e.g. low_confidence, high_entropy, atypical"));
  return s;
}

Json slide_upload_schema() {
  Json s = written_schema<store::SlideUpload>();
  s["properties"]["received"]["description"] = "bytes on disk, in order: the next chunk starts here";
  s["properties"]["chunk_bytes"] = with_description(integer_schema(1), "most bytes one PUT may carry");
  s["required"].push_back("chunk_bytes");
  return s;
}

Json suggested_areas_schema() {
  const Json area = object_of({{"x", integer_schema(0)}, {"y", integer_schema(0)}, {"w", integer_schema(1)},
                               {"h", integer_schema(1)},
                               {"score", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}}});
  return object_of(
      {{"width", integer_schema(1)},
       {"height", integer_schema(1)},
       {"cols", integer_schema(0)},
       {"rows", integer_schema(0)},
       {"cell_w", with_description(integer_schema(1), "level-0 pixels per grid square")},
       {"cell_h", integer_schema(1)},
       {"scores", with_description(array_of({{"type", "number"}, {"minimum", 0}, {"maximum", 1}}),
                                   "rows x cols, row-major: how countable each square looks (monolayer "
                                   "with white cells 1; glass, feathered edge or thick part 0)")},
       {"areas", with_description(array_of(area), "proposed counting areas, best first, not overlapping")}});
}

Json job_schema() {
  Json s = written_schema<store::Job>();
  s["properties"]["kind"] = string_schema({"analyse_image", "analyse_area"});
  s["properties"]["region"] = with_description(
      nullable(object_of({{"x", integer_schema(0)}, {"y", integer_schema(0)}, {"w", integer_schema(1)},
                          {"h", integer_schema(1)}})),
      "an area job's rectangle of its slide, level-0 pixels; null for a field's analysis");
  s["properties"]["eta_s"] = with_description(nullable({{"type", "number"}, {"minimum", 0}}),
                                              "seconds left while running, estimated from the progress so far");
  return s;
}

Json audit_event_schema() {
  return object_of({{"id", integer()},
                    {"at", with_description(integer(), "Unix ms")},
                    {"user_id", nullable(integer())},
                    {"username", with_description(text(), "empty when the account is gone")},
                    {"entity_type", text()},
                    {"entity_id", integer()},
                    {"action", text()},
                    {"from", with_description(Json::object(), "review state {class, confirmed, reviewer_id, reviewed_at, suggested_class}, or text")},
                    {"to", Json::object()},
                    {"ip", text()},
                    {"sample_id", nullable(integer())},
                    {"change_id", nullable(text())},
                    {"undone_at", nullable(integer())}});
}

Json addendum_schema() {
  Json s = written_schema<store::Addendum>();
  add_required(s, "created", with_description(text(), "ISO 8601 UTC"));
  return s;
}

Json suggestion_schema() {
  Json s = written_schema<Suggestion>();
  add_required(s, "rule_set_title", text());
  return s;
}

Json report_view_schema() {
  const Json sign_off = object_of({{"signed_by", nullable(integer())},
                                   {"signer_name", text()},
                                   {"signed_at", integer()},
                                   {"signature", with_description(text(), "sha256:<hex> of the snapshot")},
                                   {"snapshot_sha256", text()}});
  return object_of({{"sample", ref("Sample")},
                    {"status", string_schema({"preliminary", "final"})},
                    {"snapshot", with_description(boolean(), "whether `report` is the signed snapshot")},
                    {"lab", object_of({{"name", text()}, {"address", text()}})},
                    {"cells", integer()},
                    {"unmapped", with_description({{"type", "object"}, {"additionalProperties", integer()}},
                                                  "cells per class the taxonomy does not know")},
                    {"report", ref("Report")},
                    {"statements", with_description(array_of(written_schema<DisplayNames>()),
                                                     "count against target, cells per review state, models, "
                                                     "domain warning: the lines every export prints")},
                    {"icsh_count_target", with_description(integer(), "the ICSH-recommended count of the specimen (as GET /api/taxonomy)")},
                    {"sign_off", nullable(sign_off)},
                    {"addenda", array_of(ref("Addendum"))}});
}

Json differential_view_schema() {
  return object_of({{"sample_id", integer()},
                    {"accession", text()},
                    {"status", written_schema<store::SampleStatus>()},
                    {"source", string_schema({"live", "signed"})},
                    {"cells", integer()},
                    {"unreviewed", integer()},
                    {"unmapped", {{"type", "object"}, {"additionalProperties", integer()}}},
                    {"differential", ref("Differential")},
                    {"suggestions", array_of(ref("Suggestion"))},
                    {"disclaimer", written_schema<DisplayNames>()}});
}

Json taxonomy_schema() {
  Json s = written_schema<Taxonomy>();
  add_required(s, "reporting_order", with_description(array_of(text()), "class ids in hematology reporting order"));
  add_required(s, "specimen", with_description(string_schema({"bone_marrow", "peripheral_blood"}),
                                               "the specimen whose samples use this taxonomy"));
  add_required(s, "classifier_classes",
               with_description(nullable(array_of(text())),
                                "the classes the classifier names; null when the server has no classifier"));
  add_required(s, "combine_neutrophils",
               with_description(boolean(), "band and segmented neutrophils are reported as one row (ICSH 2015)"));
  add_required(s, "icsh_count_target",
               with_description(integer_schema(1), "the ICSH-recommended number of cells to count in this specimen "
                                                   "(500 marrow, 200 blood): the suggested and warned-about target"));
  add_required(s["properties"]["classes"]["items"], "review_only",
               with_description(boolean(), "the classifier cannot name this class: only reviewers assign it"));
  return s;
}

Json cell_summary_schema() {
  Json s = object_of({{"classes", array_of(object_of({{"class", text()}, {"cells", integer()},
                                                      {"confirmed", integer()}, {"flagged", integer()}}))},
                      {"cells", integer()},
                      {"confirmed", integer()},
                      {"verified", with_description(integer(), "pre-verified by a technician and not confirmed")},
                      {"flagged", integer()},
                      {"reclassified", integer()}});
  add_optional(s, "atypical_scored", with_description(integer_schema(0), "cells with an atypical score"));
  add_optional(s, "atypical", with_description(integer_schema(0), "of them, cells flagged as atypical"));
  add_optional(s, "domain",
               with_description(object_of({{"known", {{"type", "boolean"}}},
                                           {"outside", {{"type", "boolean"}}},
                                           {"atypical_share", number()},
                                           {"expected_share", number()},
                                           {"reasons", array_of(text())}}),
                                "whether the sample looks like the classifier's training cells"));
  add_optional(s["properties"]["domain"], "stain",
               with_description(
                   object_of({{"cells", integer_schema(1)},
                              {"background", array_of(number())},
                              {"nuclear_od", array_of(number())},
                              {"reference_background", array_of(number())},
                              {"reference_nuclear_od", array_of(number())},
                              {"differences", array_of(text())}}),
                   "the sample's stain measured on up to 40 of its cells' crops (median background RGB on [0,1] "
                   "and 99th-percentile optical density per channel) against the classifier's training lab; "
                   "absent when the classifier has no stain reference"));
  return s;
}

// Examples written by the records' own JSON writer (config_to_json), so they have every field the
// answers have; the values are those of a typical marrow sample.
store::User example_user() {
  store::User u;
  u.id = 3;
  u.username = "jsmith";
  u.role = store::Role::kDoctor;
  u.enabled = true;
  u.display_name = "Dr. Jane Smith";
  u.department = "Haematology";
  u.created_at = 1767225600000;
  u.updated_at = 1767225600000;
  u.last_login_at = 1768470000000;
  return u;
}

Json example_cell() {
  store::Cell c;
  c.id = 101;
  c.job_id = 7;
  c.cell_index = 4;
  c.image_id = 12;
  c.sample_id = 5;
  c.x1 = 412.5;
  c.y1 = 230;
  c.x2 = 468;
  c.y2 = 287.5;
  c.det_score = 0.93;
  c.suggested_class = "myelocyte";
  c.probability = 0.81;
  c.top_k = Json::array({{{"class", "myelocyte"}, {"p", 0.81}}, {{"class", "metamyelocyte"}, {"p", 0.12}}});
  c.entropy = 0.62;
  c.detector_version = "detector-1.0";
  c.classifier_version = "classifier-1.0";
  c.reviewed_class = "metamyelocyte";
  c.reviewer_id = 3;
  c.confirmed = true;
  c.reviewed_at = 1768470120000;
  c.created_at = 1768469000000;
  c.updated_at = 1768470120000;
  c.crop_side = 96;
  Json j = config_to_json(c);
  j["class"] = "metamyelocyte";
  j["reviewer"] = {{"id", 3}, {"username", "jsmith"}, {"display_name", "Dr. Jane Smith"}};
  j["verifier"] = nullptr;
  j["verified"] = false;
  // Set here, not by the writer, so the example is the same for servers with and without them.
  j["atypical"] = 0.12;
  j["flag_reason"] = nullptr;
  return j;
}

Json example_patient() {
  store::Patient p;
  p.id = 2;
  p.identifier = "MRN-000123";
  p.name = "Li Wei";
  p.sex = "female";
  p.birth_date = "1968-04-02";
  p.sample_count = 1;
  p.created_at = 1768400000000;
  p.updated_at = 1768400000000;
  return config_to_json(p);
}

Json example_sample() {
  store::Sample s;
  s.id = 5;
  s.patient_id = 2;
  s.accession = "BM-2026-0042";
  s.collection_date = "2026-01-15";
  s.status = store::SampleStatus::kInReview;
  s.created_at = 1768400000000;
  s.updated_at = 1768470120000;
  return config_to_json(s);
}

Json build_components() {
  Json c = Json::object();
  c["Error"] = error_schema();
  c["User"] = written_schema<store::User>();
  c["User"]["example"] = config_to_json(example_user());
  c["Session"] = object_of({{"user", ref("User")},
                            {"csrf_token", with_description(text(), "send as X-CSRF-Token on POST, PUT, PATCH and DELETE")}});
  c["Session"]["example"] = {{"user", config_to_json(example_user())}, {"csrf_token", std::string(64, 'f')}};
  c["Patient"] = written_schema<store::Patient>();
  c["Patient"]["example"] = example_patient();
  c["Sample"] = written_schema<store::Sample>();
  c["Sample"]["example"] = example_sample();
  c["Image"] = written_schema<store::Image>();
  c["Job"] = job_schema();
  c["SlideUpload"] = slide_upload_schema();
  c["SuggestedAreas"] = suggested_areas_schema();
  c["Cell"] = cell_schema();
  c["Cell"]["example"] = example_cell();
  c["TopK"] = top_k_schema();
  c["AuditEvent"] = audit_event_schema();
  c["CellSummary"] = cell_summary_schema();
  c["LogEntry"] = written_schema<store::LogEntry>();
  c["ModelVersion"] = written_schema<store::ModelVersion>();
  c["Adaptation"] = written_schema<store::Adaptation>();
  c["SampleProgress"] = written_schema<store::SampleProgress>();
  c["QueueCounts"] = written_schema<store::QueueCounts>();
  c["Addendum"] = addendum_schema();
  c["Taxonomy"] = taxonomy_schema();
  c["Differential"] = written_schema<Differential>();
  c["Suggestion"] = suggestion_schema();
  c["Report"] = written_schema<ReportData>();
  c["ReportView"] = report_view_schema();
  c["DifferentialView"] = differential_view_schema();
  return c;
}

}  // namespace

Json error_code_names() {
  Json names = Json::array();
  for (ErrorCode code : {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kCorruptInput,
                         ErrorCode::kUnsupportedFormat, ErrorCode::kTooLarge, ErrorCode::kConflict,
                         ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied, ErrorCode::kIo,
                         ErrorCode::kInternal})
    names.push_back(std::string(error_code_name(code)));
  for (const auto& [status, name] : transport_error_codes())
    if (std::find(names.begin(), names.end(), Json(name)) == names.end()) names.push_back(name);
  return names;
}

const Json& api_components() {
  static const Json c = build_components();
  return c;
}

}  // namespace ms::server
