// Patients (search, CRUD, CSV import/export) and their samples (accessions, status workflow).
#include "core/json_schema.h"
#include "server/api.h"
#include "server/job_workers.h"
#include "server/request_bodies.h"
#include "store/operation_log.h"
#include "store/paging.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

Json patient_page_json(const store::PatientPage& p) {
  Json items = Json::array();
  for (const auto& x : p.items) items.push_back(config_to_json(x));
  return {{"items", items}, {"total", p.total}, {"page", p.page}, {"page_size", p.page_size}};
}

Result<std::optional<store::SampleStatus>> status_param(const net::Request& req) {
  const std::string s = query_text(req, "status");
  if (s.empty()) return std::optional<store::SampleStatus>{};
  auto parsed = parse_config<store::SampleStatus>(Json(s), "query parameter 'status'");
  if (!parsed) return tl::unexpected(parsed.error());
  return std::optional<store::SampleStatus>(*parsed);
}

}  // namespace

void register_patient_routes(Api& api) {
  store::Database& db = api.db();

  api.get(R"(/api/patients)", Access::kAnyUser,
          Doc("Search patients")
              .query("q", string_schema(), "name, identifier or keyword contains (case-insensitive)")
              .query("name", string_schema(), "name contains")
              .query("identifier", string_schema(), "identifier starts with")
              .query("page", integer_schema(1, store::kMaxPageNumber), "1-based; default 1")
              .query("page_size", integer_schema(1, store::kMaxPatientPageSize), "default 20")
              .query("sort", string_schema({"id", "name", "identifier", "birth_date", "created_at", "updated_at"}),
                     "default updated_at")
              .query("order", string_schema({"asc", "desc"}), "default desc")
              .answers(200, object_of({{"items", array_of(ref("Patient"))}, {"total", integer_schema(0)},
                                       {"page", integer_schema(1)}, {"page_size", integer_schema(1)}}),
                       "one page of patients"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            store::PatientQuery q;
            q.q = query_text(req, "q");
            q.name = query_text(req, "name");
            q.identifier = query_text(req, "identifier");
            MS_ASSIGN_OR_RETURN(q.page, query_int(req, "page", 1));
            MS_ASSIGN_OR_RETURN(q.page_size, query_int(req, "page_size", 20));
            q.sort = query_text(req, "sort", q.sort);
            q.order = query_text(req, "order", q.order);
            MS_ASSIGN_OR_RETURN(auto page, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::search_patients(tx, q);
            }));
            return Reply::json(patient_page_json(page));
          });

  api.post(R"(/api/patients)", Access::kStaff, Doc("Create a patient")
               .describe("Text fields are UTF-8 without control characters (notes may hold TAB and "
                         "line breaks); `sex` is female, male, other or unknown; `birth_date` "
                         "YYYY-MM-DD, not in the future")
               .json_body(requiring(read_schema<store::PatientInput>(), {"identifier", "name"}),
                          {{"identifier", "MRN-000123"}, {"name", "Li Wei"}, {"sex", "female"},
                           {"birth_date", "1968-04-02"}})
               .answers(201, ref("Patient"), "created")
               .error(409, "the identifier is taken"),
           [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<store::PatientInput>(req));
             MS_ASSIGN_OR_RETURN(auto p, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Patient> {
               MS_ASSIGN_OR_RETURN(auto created, store::create_patient(tx, body, c.user_id()));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "patient.create", created.identifier));
               return created;
             }));
             return Reply::json(config_to_json(p), 201);
           });

  api.get(R"(/api/patients/(\d+))", Access::kAnyUser, Doc("One patient").answers(200, ref("Patient"), "the patient"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto p, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_patient(tx, id);
            }));
            return Reply::json(config_to_json(p));
          });

  api.patch(R"(/api/patients/(\d+))", Access::kStaff, Doc("Update a patient (fields present change; birth_date null clears it)")
                .json_body(read_schema<store::PatientUpdate>(), {{"keywords", "follow-up"}})
                .answers(200, ref("Patient"), "the patient after the change")
                .error(409, "the identifier is taken"),
            [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
              MS_ASSIGN_OR_RETURN(auto id, path_id(req));
              MS_ASSIGN_OR_RETURN(auto j, json_body(req));
              MS_ASSIGN_OR_RETURN(auto body, parse_config<store::PatientUpdate>(j, "request body"));
              body.clear_birth_date = j.contains("birth_date") && j["birth_date"].is_null();
              MS_ASSIGN_OR_RETURN(auto p, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Patient> {
                MS_ASSIGN_OR_RETURN(auto updated, store::update_patient(tx, id, body));
                MS_RETURN_IF_ERROR(log_operation(tx, c, "patient.update", updated.identifier));
                return updated;
              }));
              return Reply::json(config_to_json(p));
            });

  api.del(R"(/api/patients/(\d+))", Access::kStaff,
          Doc("Delete a patient and their unsigned samples")
              .no_content("deleted")
              .error(409, "the patient has a signed sample"),
          [&db, &ctx = api.ctx()](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
              MS_ASSIGN_OR_RETURN(auto p, store::get_patient(tx, id));
              MS_RETURN_IF_ERROR(store::delete_patient(tx, id));
              return log_operation(tx, c, "patient.delete", p.identifier);
            }));
            sweep_files(db, *ctx.files, ctx.workers);
            return Reply::no_content();
          });

  api.post(R"(/api/patients/import)", Access::kStaff,
           Doc("Import patients from CSV; all rows or none")
               .body("text/csv", {{"type", "string"}},
                     "UTF-8 CSV (at most 100,000 data rows, else 413) with a header naming `identifier`, "
                     "`name` and optionally `sex`, `birth_date`, `keywords`, `notes`; as the body or as "
                     "the multipart field `file`")
               .or_body("multipart/form-data", object_of({{"file", {{"type", "string"}, {"format", "binary"}}}}))
               .answers(200, object_of({{"imported", integer_schema(0)}}), "every row imported")
               .error(409, "an identifier that is taken")
               .error(422, "invalid rows (details.rows: the first 1,000; details.invalid_rows: all); nothing imported"),
           [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
             std::string csv = req.body;
             if (req.is_multipart_form_data()) {
               if (!req.has_file("file"))
                 return fail(ErrorCode::kInvalidArgument, "multipart body", "a field 'file'", "none");
               csv = req.files.find("file")->second.content;
             }
             if (csv.empty()) return fail(ErrorCode::kInvalidArgument, "CSV", "a header and rows", "an empty body");
             MS_ASSIGN_OR_RETURN(auto report, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::PatientImport> {
               MS_ASSIGN_OR_RETURN(auto r, store::import_patients_csv(tx, csv, c.user_id()));
               if (r.errors.empty())
                 MS_RETURN_IF_ERROR(log_operation(tx, c, "patient.import",
                                                  std::to_string(r.imported) + " patients"));
               return r;
             }));
             if (report.error_rows > 0) {
               Json rows = Json::array();
               for (const auto& e : report.errors) rows.push_back({{"row", e.row}, {"message", e.message}});
               std::string message = std::to_string(report.error_rows) + " row(s) are invalid; nothing was imported";
               if (report.error_rows > static_cast<std::int64_t>(report.errors.size()))
                 message += " (the first " + std::to_string(report.errors.size()) + " are listed)";
               return Reply::error(Error{ErrorCode::kCorruptInput, message},
                                   {{"rows", rows}, {"invalid_rows", report.error_rows}});
             }
             return Reply::json({{"imported", report.imported}});
           });

  api.get(R"(/api/patients/export)", Access::kAnyUser, Doc("Every patient as CSV")
              .describe("Cells a spreadsheet would run as a formula (starting with = + - @, TAB or CR) are "
                        "prefixed with '")
              .file(200, "text/csv", "every patient")
              .header("Content-Disposition", "attachment; filename=\"patients.csv\""),
          [&db](const net::Request&, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto csv, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<std::string> {
              MS_ASSIGN_OR_RETURN(auto text, store::export_patients_csv(tx));
              MS_RETURN_IF_ERROR(log_operation(tx, c, "patient.export", ""));
              return text;
            }));
            Reply r = Reply::bytes(std::move(csv), "text/csv; charset=utf-8");
            r.headers.emplace("Content-Disposition", "attachment; filename=\"patients.csv\"");
            r.headers.emplace("Cache-Control", "no-store");  // patient data
            return r;
          });

  api.get(R"(/api/patients/(\d+)/samples)", Access::kAnyUser, Doc("Samples of a patient")
              .query("status", written_schema<store::SampleStatus>(), "only samples in this status")
              .answers(200, object_of({{"items", array_of(ref("Sample"))}, {"total", integer_schema(0)}}), "the samples"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto status, status_param(req));
            MS_ASSIGN_OR_RETURN(auto samples, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::list_samples(tx, id, status);
            }));
            Json items = Json::array();
            for (const auto& s : samples) items.push_back(config_to_json(s));
            return Reply::json({{"items", items}, {"total", items.size()}});
          });

  api.post(R"(/api/patients/(\d+)/samples)", Access::kStaff,
           Doc("Create a sample")
               .describe("`count_target` defaults to 500 (bone_marrow) or 200 (peripheral_blood)")
               .json_body(requiring(read_schema<store::SampleInput>(), {"accession"}),
                          {{"accession", "BM-2026-0042"}, {"specimen", "bone_marrow"}, {"collection_date", "2026-01-15"}})
               .answers(201, ref("Sample"), "created")
               .error(409, "the accession is taken"),
           [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto body, body_as<store::SampleInput>(req));
             MS_ASSIGN_OR_RETURN(auto s, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Sample> {
               MS_ASSIGN_OR_RETURN(auto created, store::create_sample(tx, id, body, c.user_id()));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "sample.create", created.accession));
               return created;
             }));
             return Reply::json(config_to_json(s), 201);
           });

  api.get(R"(/api/samples)", Access::kAnyUser, Doc("Recent samples, optionally one status")
              .query("status", written_schema<store::SampleStatus>(), "only samples in this status")
              .answers(200, object_of({{"items", array_of(ref("Sample"))}, {"total", integer_schema(0)}}), "the samples"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto status, status_param(req));
            MS_ASSIGN_OR_RETURN(auto samples, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::list_samples(tx, std::nullopt, status);
            }));
            Json items = Json::array();
            for (const auto& s : samples) items.push_back(config_to_json(s));
            return Reply::json({{"items", items}, {"total", items.size()}});
          });

  api.get(R"(/api/samples/(\d+))", Access::kAnyUser, Doc("One sample").answers(200, ref("Sample"), "the sample"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto s, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_sample(tx, id);
            }));
            return Reply::json(config_to_json(s));
          });

  api.patch(R"(/api/samples/(\d+))", Access::kStaff, Doc("Update a sample (refused once signed)")
                .json_body(read_schema<store::SampleUpdate>(), {{"count_target", 300}})
                .answers(200, ref("Sample"), "the sample after the change")
                .error(409, "the sample is signed; the accession is taken"),
            [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
              MS_ASSIGN_OR_RETURN(auto id, path_id(req));
              MS_ASSIGN_OR_RETURN(auto body, body_as<store::SampleUpdate>(req));
              MS_ASSIGN_OR_RETURN(auto s, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Sample> {
                MS_ASSIGN_OR_RETURN(auto updated, store::update_sample(tx, id, body));
                MS_RETURN_IF_ERROR(log_operation(tx, c, "sample.update", updated.accession));
                return updated;
              }));
              return Reply::json(config_to_json(s));
            });

  api.del(R"(/api/samples/(\d+))", Access::kStaff, Doc("Delete an unsigned sample").no_content("deleted").error(409, "the sample is signed"),
          [&db, &ctx = api.ctx()](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
              MS_ASSIGN_OR_RETURN(auto s, store::get_sample(tx, id));
              MS_RETURN_IF_ERROR(store::delete_sample(tx, id));
              return log_operation(tx, c, "sample.delete", s.accession);
            }));
            sweep_files(db, *ctx.files, ctx.workers);
            return Reply::no_content();
          });

  api.post(R"(/api/samples/(\d+)/status)", Access::kStaff,
           Doc("Move a sample draft <-> in_review")
               .describe("Signing is `POST /api/samples/{id}/sign` (it stores the signed report); "
                         "`signed` here answers 409 saying so")
               .json_body(requiring(read_schema<StatusChange>(), {"status"}), {{"status", "in_review"}})
               .answers(200, ref("Sample"), "the sample after the change")
               .error(409, "status signed, or the sample is signed"),
           [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto body, body_as<StatusChange>(req));
             MS_ASSIGN_OR_RETURN(auto s, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Sample> {
               MS_ASSIGN_OR_RETURN(auto before, store::get_sample(tx, id));
               // A sample signed here would carry no report snapshot and no signature: one way in.
               if (body.status == store::SampleStatus::kSigned)
                 return fail(ErrorCode::kConflict,
                             "request body:$.status: sample " + before.accession +
                                 " is not signed through this route; use POST /api/samples/" +
                                 std::to_string(id) +
                                 "/sign (doctor or admin), which stores the report as signed. "
                                 "This route moves a sample draft <-> in_review");
               MS_ASSIGN_OR_RETURN(auto after, store::set_sample_status(tx, id, body.status));
               const std::string from = config_to_json(before.status).get<std::string>();
               const std::string to = config_to_json(after.status).get<std::string>();
               MS_RETURN_IF_ERROR(store::append_audit(
                   tx, {c.user_id(), "sample", id, "status", from, to, c.ip}));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "sample.status", after.accession, from + " -> " + to));
               return after;
             }));
             return Reply::json(config_to_json(s));
           });
}

}  // namespace ms::server
