#pragma once
// Patients and their samples (accessions): create, read, update, delete, search with paging and
// sorting, CSV import (validated, all-or-nothing, every bad row listed) and export, and the
// sample status workflow draft -> in_review -> signed (signed samples are locked).
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

struct PatientInput {
  std::string identifier, name;
  std::string sex = "unknown";
  std::optional<std::string> birth_date;
  std::string keywords, notes;
  template <class V>
  void visit(V& v) {
    v("identifier", identifier); v("name", name); v("sex", sex); v("birth_date", birth_date);
    v("keywords", keywords); v("notes", notes);
  }
};
struct PatientUpdate {
  std::optional<std::string> identifier, name, sex, birth_date, keywords, notes;
  bool clear_birth_date = false;  // "birth_date": null in a PATCH
  template <class V>
  void visit(V& v) {
    v("identifier", identifier); v("name", name); v("sex", sex); v("birth_date", birth_date);
    v("keywords", keywords); v("notes", notes);
  }
};
Status validate_patient(const PatientInput& p);
// "YYYY-MM-DD", a real calendar date, not after today.
Status validate_date(const std::string& field, const std::string& value);

struct PatientQuery {
  std::string q;           // name, identifier or keyword contains (case-insensitive)
  std::string name;        // name contains
  std::string identifier;  // identifier starts with
  std::int64_t page = 1, page_size = 20;
  std::string sort = "updated_at";  // id|name|identifier|birth_date|created_at|updated_at
  std::string order = "desc";       // asc|desc
};
struct PatientPage {
  std::vector<Patient> items;
  std::int64_t total = 0, page = 1, page_size = 20;
};
Status validate_patient_query(const PatientQuery& q);

Result<Patient> create_patient(Tx& tx, const PatientInput& p, std::optional<std::int64_t> user_id);
Result<Patient> get_patient(Tx& tx, std::int64_t id);
Result<Patient> update_patient(Tx& tx, std::int64_t id, const PatientUpdate& u);
// Refused (kConflict) while the patient has a signed sample.
Status delete_patient(Tx& tx, std::int64_t id);
Result<PatientPage> search_patients(Tx& tx, const PatientQuery& q);

struct CsvRowError {
  std::int64_t row = 0;  // 1 = header
  std::string message;
};
struct PatientImport {
  std::int64_t imported = 0;
  std::vector<CsvRowError> errors;  // non-empty: nothing was written; the first kMaxListedCsvErrors
  std::int64_t error_rows = 0;      // every invalid row (errors lists at most kMaxListedCsvErrors)
};
inline constexpr std::size_t kMaxCsvImportRows = 100000;   // data rows, header not counted
inline constexpr std::size_t kMaxListedCsvErrors = 1000;
// Columns (header row, any order): identifier, name, and optionally sex, birth_date, keywords,
// notes. Validates every row first; writes all rows or none. More than kMaxCsvImportRows rows is
// kTooLarge; a row that is not UTF-8 is kInvalidArgument naming the row (nothing else is read).
Result<PatientImport> import_patients_csv(Tx& tx, const std::string& csv,
                                          std::optional<std::int64_t> user_id);
Result<std::string> export_patients_csv(Tx& tx);

struct SampleInput {
  std::string accession;
  Specimen specimen = Specimen::kBoneMarrow;
  std::optional<std::string> collection_date;
  std::optional<std::int64_t> count_target;  // default by specimen
  std::string notes;
  std::optional<double> um_per_px;  // declared scale of the fields; none when absent
  template <class V>
  void visit(V& v) {
    v("accession", accession); v("specimen", specimen); v("collection_date", collection_date);
    v("count_target", count_target); v("notes", notes); v("um_per_px", um_per_px);
  }
};
struct SampleUpdate {
  std::optional<std::string> accession, collection_date, notes;
  std::optional<Specimen> specimen;
  std::optional<std::int64_t> count_target;
  std::optional<double> um_per_px;  // 0 removes the declared scale
  template <class V>
  void visit(V& v) {
    v("accession", accession); v("collection_date", collection_date); v("notes", notes);
    v("specimen", specimen); v("count_target", count_target); v("um_per_px", um_per_px);
  }
};

Result<Sample> create_sample(Tx& tx, std::int64_t patient_id, const SampleInput& s,
                             std::optional<std::int64_t> user_id);
Result<Sample> get_sample(Tx& tx, std::int64_t id);
// The sample's revision (table sample_revisions, kept by triggers): it changes with every
// transaction that changes the sample row, its cells or the names of their reviewers, so an
// answer made of those may be reused while it holds. Read it first in the read transaction that
// reads the data (a later read never sees older data). A sample that does not exist: not found.
Result<std::int64_t> sample_revision(Tx& tx, std::int64_t id);
// get_sample in a write transaction that must see the sample's final status: on PostgreSQL the
// row is locked (SELECT ... FOR UPDATE) until commit, so a sign-off cannot commit between this
// read and the caller's writes (and a caller that waited for a sign-off reads `signed`). SQLite's
// write transactions exclude each other already. Every transaction that signs, reviews, undoes,
// uploads into, retries a job of, or deletes a sample takes this lock first, before any cell or
// job row, so the lock order is always sample, then its rows.
Result<Sample> lock_sample(Tx& tx, std::int64_t id);
// Samples of one patient (patient_id set) or of all, optionally one status, newest first.
Result<std::vector<Sample>> list_samples(Tx& tx, std::optional<std::int64_t> patient_id,
                                         std::optional<SampleStatus> status);
Result<Sample> update_sample(Tx& tx, std::int64_t id, const SampleUpdate& u);
Status delete_sample(Tx& tx, std::int64_t id);
// draft <-> in_review only. Signing is not a status change of its own: record_sign_off
// (store/report_store.h) stores the signed report and sets `signed` in the same transaction, so
// no sample is ever signed without its report. kConflict for `signed` as the target, a signed
// sample, or any other move.
Result<Sample> set_sample_status(Tx& tx, std::int64_t id, SampleStatus to);
// kConflict when the sample is signed (uploads and edits are refused).
Status require_unsigned(const Sample& s);

}  // namespace ms::store
