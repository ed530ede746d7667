#include "store/patient_store.h"

#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/error_reason.h"
#include "core/scale.h"
#include "core/utf8.h"
#include "store/csv.h"
#include "store/paging.h"

namespace ms::store {
namespace {

constexpr const char* kPatientSelect =
    "SELECT p.id, p.identifier, p.name, p.sex, p.birth_date, p.keywords, p.notes, p.created_at, "
    "p.updated_at, (SELECT COUNT(*) FROM samples s WHERE s.patient_id = p.id) AS sample_count "
    "FROM patients p";
constexpr const char* kSampleColumns =
    "id, patient_id, accession, specimen, collection_date, count_target, status, notes, um_per_px, "
    "signed_by, signed_at, created_at, updated_at";

Status check_um_per_px(std::optional<double> v) {
  if (v && !(*v > 0 && *v <= kMaxUmPerPx))
    return fail(ErrorCode::kInvalidArgument, "um_per_px",
                fmt::format("micrometres per pixel, above 0 and at most {:g}", kMaxUmPerPx), fmt::format("{:g}", *v));
  return {};
}

std::string dq(const std::string& s) { return "\"" + s + "\""; }

// Text a user typed or imported: bounded, UTF-8, and free of control characters, which would
// travel into the HL7 export (MLLP framing bytes 0x0B / 0x1C), CSV and reports. Multi-line fields
// (notes) may hold TAB, LF and CR.
Status check_text(const std::string& field, const std::string& v, std::size_t max, bool required,
                  bool multiline = false) {
  if (required && v.empty()) return fail(ErrorCode::kInvalidArgument, field, "a value", "nothing");
  if (v.size() > max)
    return fail(ErrorCode::kInvalidArgument, field, fmt::format("at most {} bytes", max),
                fmt::format("{} bytes", v.size()));
  if (const auto bad = first_invalid_utf8(v); bad != std::string::npos)
    return fail(ErrorCode::kInvalidArgument, field, "UTF-8 text",
                fmt::format("a malformed byte 0x{:02X} at byte {}", static_cast<unsigned char>(v[bad]), bad));
  if (const auto ctl = first_control_char(v, multiline); ctl != std::string::npos)
    return fail(ErrorCode::kInvalidArgument, field,
                multiline ? "text without control characters (TAB and line breaks allowed)"
                          : "text without control characters",
                fmt::format("control character 0x{:02X} at byte {}", static_cast<unsigned char>(v[ctl]), ctl));
  return {};
}

Status check_sex(const std::string& v) {
  static const std::set<std::string> ok = {"female", "male", "other", "unknown"};
  if (!ok.count(v))
    return fail(ErrorCode::kInvalidArgument, "sex", "female|male|other|unknown", dq(v));
  return {};
}

std::string today() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// Counts the patient's signed samples with every sample row of the patient locked (PostgreSQL;
// in id order, as lock_sample takes them one at a time), so no sign-off commits between this
// count and the delete.
Result<std::int64_t> count_signed_samples(Tx& tx, std::int64_t patient_id) {
  std::string sql = "SELECT id, status FROM samples WHERE patient_id = ? ORDER BY id";
  if (tx.dialect() == Dialect::kPostgres) sql += " FOR UPDATE";
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(sql, {patient_id}));
  std::int64_t n = 0;
  for (const auto& r : rows) n += r.s("status") == "signed";
  return n;
}

Status check_identifier_free(Tx& tx, const std::string& identifier, std::int64_t except_id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT id FROM patients WHERE identifier = ?",
                                             {identifier}));
  if (row && row->i("id") != except_id)
    return fail(ErrorCode::kConflict,
                "a patient with identifier '" + identifier + "' already exists");
  return {};
}

std::string enum_text(Specimen s) { return config_to_json(s).get<std::string>(); }
std::string enum_text(SampleStatus s) { return config_to_json(s).get<std::string>(); }

Status check_sample_fields(const std::string& accession, const std::optional<std::string>& date,
                           std::optional<std::int64_t> count_target, const std::string& notes) {
  MS_RETURN_IF_ERROR(check_text("accession", accession, 64, true));
  if (date) MS_RETURN_IF_ERROR(validate_date("collection_date", *date));
  if (count_target && (*count_target < 1 || *count_target > 100000))
    return fail(ErrorCode::kInvalidArgument, "count_target", "1 to 100000",
                std::to_string(*count_target));
  return check_text("notes", notes, 10000, false, true);
}

Status check_accession_free(Tx& tx, const std::string& accession, std::int64_t except_id) {
  MS_ASSIGN_OR_RETURN(auto row,
                      tx.query_one("SELECT id FROM samples WHERE accession = ?", {accession}));
  if (row && row->i("id") != except_id)
    return fail(ErrorCode::kConflict, "a sample with accession '" + accession + "' already exists");
  return {};
}

}  // namespace

Status validate_date(const std::string& field, const std::string& v) {
  // Every character checked: sscanf alone would take "2020- 1- 1" or "2020-+1-01" (it skips
  // blanks and reads signs), which the exports then refuse forever.
  bool shape = v.size() == 10;
  for (std::size_t i = 0; shape && i < v.size(); ++i)
    shape = (i == 4 || i == 7) ? v[i] == '-' : (v[i] >= '0' && v[i] <= '9');
  if (!shape) return fail(ErrorCode::kInvalidArgument, field, "a date YYYY-MM-DD", dq(v));
  const int y = std::stoi(v.substr(0, 4)), m = std::stoi(v.substr(5, 2)), d = std::stoi(v.substr(8, 2));
  static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1850 || m < 1 || m > 12 || d < 1 || d > days[m - 1] || (m == 2 && d == 29 && !leap))
    return fail(ErrorCode::kInvalidArgument, field, "a real calendar date", dq(v));
  if (v > today()) return fail(ErrorCode::kInvalidArgument, field, "a date not in the future", dq(v));
  return {};
}

Status validate_patient(const PatientInput& p) {
  MS_RETURN_IF_ERROR(check_text("identifier", p.identifier, 64, true));
  MS_RETURN_IF_ERROR(check_text("name", p.name, 200, true));
  MS_RETURN_IF_ERROR(check_sex(p.sex));
  if (p.birth_date) MS_RETURN_IF_ERROR(validate_date("birth_date", *p.birth_date));
  MS_RETURN_IF_ERROR(check_text("keywords", p.keywords, 1000, false));
  return check_text("notes", p.notes, 10000, false, true);
}

Status validate_patient_query(const PatientQuery& q) {
  static const std::set<std::string> sorts = {"id", "name", "identifier", "birth_date",
                                              "created_at", "updated_at"};
  if (!sorts.count(q.sort))
    return fail(ErrorCode::kInvalidArgument, "sort",
                "id|name|identifier|birth_date|created_at|updated_at", dq(q.sort));
  if (q.order != "asc" && q.order != "desc")
    return fail(ErrorCode::kInvalidArgument, "order", "asc|desc", dq(q.order));
  if (q.page < 1 || q.page > kMaxPageNumber)
    return fail(ErrorCode::kInvalidArgument, "page", "1 to " + std::to_string(kMaxPageNumber), std::to_string(q.page));
  if (q.page_size < 1 || q.page_size > kMaxPatientPageSize)
    return fail(ErrorCode::kInvalidArgument, "page_size", "1 to " + std::to_string(kMaxPatientPageSize),
                std::to_string(q.page_size));
  return {};
}

Result<Patient> create_patient(Tx& tx, const PatientInput& p, std::optional<std::int64_t> user_id) {
  MS_RETURN_IF_ERROR(validate_patient(p));
  MS_RETURN_IF_ERROR(check_identifier_free(tx, p.identifier, 0));
  const auto now = now_ms();
  MS_ASSIGN_OR_RETURN(
      auto id, tx.insert("INSERT INTO patients (identifier, name, sex, birth_date, keywords, notes, "
                         "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                         "RETURNING id",
                         {p.identifier, p.name, p.sex, Value(p.birth_date), p.keywords, p.notes,
                          Value(user_id), now, now}));
  return get_patient(tx, id);
}

Result<Patient> get_patient(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string(kPatientSelect) + " WHERE p.id = ?", {id}));
  if (!row) return fail(ErrorCode::kNotFound, "patient " + std::to_string(id) + " does not exist");
  return from_row<Patient>(*row);
}

Result<Patient> update_patient(Tx& tx, std::int64_t id, const PatientUpdate& u) {
  MS_ASSIGN_OR_RETURN(Patient cur, get_patient(tx, id));
  PatientInput merged{u.identifier.value_or(cur.identifier), u.name.value_or(cur.name),
                      u.sex.value_or(cur.sex), u.clear_birth_date ? std::nullopt
                                                                  : (u.birth_date ? u.birth_date : cur.birth_date),
                      u.keywords.value_or(cur.keywords), u.notes.value_or(cur.notes)};
  MS_RETURN_IF_ERROR(validate_patient(merged));
  if (merged.identifier != cur.identifier)
    MS_RETURN_IF_ERROR(check_identifier_free(tx, merged.identifier, id));
  MS_RETURN_IF_ERROR(update_columns(tx, "patients", id,
                                    {{"identifier", merged.identifier},
                                     {"name", merged.name},
                                     {"sex", merged.sex},
                                     {"birth_date", Value(merged.birth_date)},
                                     {"keywords", merged.keywords},
                                     {"notes", merged.notes}}));
  return get_patient(tx, id);
}

Status delete_patient(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(Patient cur, get_patient(tx, id));
  MS_ASSIGN_OR_RETURN(auto n, count_signed_samples(tx, id));
  if (n > 0)
    return fail(ErrorCode::kConflict, fmt::format("patient {} has {} signed sample(s); signed "
                                                  "reports are kept, so the patient cannot be deleted",
                                                  cur.identifier, n));
  MS_RETURN_IF_ERROR(tx.exec("DELETE FROM patients WHERE id = ?", {id}));
  return {};
}

Result<PatientPage> search_patients(Tx& tx, const PatientQuery& q) {
  MS_RETURN_IF_ERROR(validate_patient_query(q));
  std::string where = " WHERE 1 = 1";
  Params params;
  auto like = [](const std::string& s) {
    std::string out;  // escape LIKE wildcards so a user's % or _ is literal
    for (char c : s) {
      if (c == '%' || c == '_' || c == '\\') out += '\\';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
  };
  if (!q.q.empty()) {
    where += " AND (LOWER(p.name) LIKE ? ESCAPE '\\' OR LOWER(p.identifier) LIKE ? ESCAPE '\\' "
             "OR LOWER(p.keywords) LIKE ? ESCAPE '\\')";
    const std::string pat = "%" + like(q.q) + "%";
    params.insert(params.end(), {pat, pat, pat});
  }
  if (!q.name.empty()) {
    where += " AND LOWER(p.name) LIKE ? ESCAPE '\\'";
    params.push_back("%" + like(q.name) + "%");
  }
  if (!q.identifier.empty()) {
    where += " AND LOWER(p.identifier) LIKE ? ESCAPE '\\'";
    params.push_back(like(q.identifier) + "%");
  }
  MS_ASSIGN_OR_RETURN(auto total, tx.query_one("SELECT COUNT(*) AS n FROM patients p" + where, params));
  PatientPage page;
  page.total = total->i("n");
  page.page = q.page;
  page.page_size = q.page_size;
  // The sort column is from a whitelist (validate_patient_query); id breaks ties for stable pages.
  const std::string sql = std::string(kPatientSelect) + where + " ORDER BY p." + q.sort + " " +
                          (q.order == "asc" ? "ASC" : "DESC") + ", p.id " +
                          (q.order == "asc" ? "ASC" : "DESC") + " LIMIT ? OFFSET ?";
  params.push_back(q.page_size);
  params.push_back((q.page - 1) * q.page_size);
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
  for (const auto& r : rows) page.items.push_back(from_row<Patient>(r));
  return page;
}

Result<PatientImport> import_patients_csv(Tx& tx, const std::string& csv,
                                          std::optional<std::int64_t> user_id) {
  auto parsed = parse_csv(csv, "CSV", kMaxCsvImportRows + 1);
  if (!parsed && parsed.error().code == ErrorCode::kTooLarge)
    return fail(ErrorCode::kTooLarge, "CSV", fmt::format("at most {} data rows after the header", kMaxCsvImportRows),
                "more");
  if (!parsed) return tl::unexpected(parsed.error());
  auto rows = std::move(*parsed);
  if (rows.empty()) return fail(ErrorCode::kInvalidArgument, "CSV", "a header row", "an empty file");
  // Malformed bytes would be stored as they are (SQLite) and break every JSON reply and signed
  // snapshot that shows them later: the whole file is refused, naming the first such row.
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t k = 0; k < rows[r].size(); ++k)
      if (const auto bad = first_invalid_utf8(rows[r][k]); bad != std::string::npos)
        return fail(ErrorCode::kInvalidArgument, fmt::format("CSV row {}, field {}", r + 1, k + 1),
                    "UTF-8 text",
                    fmt::format("a malformed byte 0x{:02X} at byte {}",
                                static_cast<unsigned char>(rows[r][k][bad]), bad));
  static const std::set<std::string> known = {"identifier", "name", "sex", "birth_date",
                                              "keywords", "notes"};
  std::map<std::string, std::size_t> col;
  for (std::size_t k = 0; k < rows[0].size(); ++k) {
    std::string h = rows[0][k];
    while (!h.empty() && h.back() == ' ') h.pop_back();
    while (!h.empty() && h.front() == ' ') h.erase(h.begin());
    if (!known.count(h))
      return fail(ErrorCode::kInvalidArgument, "CSV header column " + std::to_string(k + 1),
                  "one of identifier, name, sex, birth_date, keywords, notes", dq(h));
    if (col.count(h))
      return fail(ErrorCode::kInvalidArgument, "CSV header", "each column once",
                  dq(h) + " twice");
    col[h] = k;
  }
  for (const char* need : {"identifier", "name"})
    if (!col.count(need))
      return fail(ErrorCode::kInvalidArgument, "CSV header", std::string("a '") + need + "' column",
                  "none");
  PatientImport report;
  std::vector<PatientInput> inputs;
  std::map<std::string, std::int64_t> seen;  // identifier -> first row
  struct Errors {  // counts every bad row, lists the first kMaxListedCsvErrors
    PatientImport& report;
    void push_back(CsvRowError e) {
      ++report.error_rows;
      if (report.errors.size() < kMaxListedCsvErrors) report.errors.push_back(std::move(e));
    }
  } errors{report};
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& fields = rows[r];
    const auto rownum = static_cast<std::int64_t>(r + 1);
    if (fields.size() != rows[0].size()) {
      errors.push_back({rownum, fmt::format("expected {} fields, found {}", rows[0].size(),
                                            fields.size())});
      continue;
    }
    auto get = [&](const char* name) -> std::string {
      auto it = col.find(name);
      return it == col.end() ? std::string() : fields[it->second];
    };
    PatientInput p;
    p.identifier = get("identifier");
    p.name = get("name");
    if (!get("sex").empty()) p.sex = get("sex");
    if (!get("birth_date").empty()) p.birth_date = get("birth_date");
    p.keywords = get("keywords");
    p.notes = get("notes");
    if (auto ok = validate_patient(p); !ok) {
      errors.push_back({rownum, ok.error().message});
      continue;
    }
    if (auto [it, fresh] = seen.emplace(p.identifier, rownum); !fresh) {
      errors.push_back({rownum, fmt::format("identifier '{}' repeats row {}", p.identifier, it->second)});
      continue;
    }
    if (auto free = check_identifier_free(tx, p.identifier, 0); !free) {
      errors.push_back({rownum, free.error().message});
      continue;
    }
    inputs.push_back(std::move(p));
  }
  if (inputs.empty() && report.error_rows == 0)
    return fail(ErrorCode::kInvalidArgument, "CSV", "at least one data row", "only a header");
  if (report.error_rows > 0) return report;
  for (const auto& p : inputs) MS_RETURN_IF_ERROR(create_patient(tx, p, user_id));
  report.imported = static_cast<std::int64_t>(inputs.size());
  return report;
}

Result<std::string> export_patients_csv(Tx& tx) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(std::string(kPatientSelect) + " ORDER BY p.identifier"));
  std::string out = csv_line({"identifier", "name", "sex", "birth_date", "keywords", "notes",
                              "sample_count"});
  for (const auto& r : rows) {
    const Patient p = from_row<Patient>(r);
    out += csv_line({p.identifier, p.name, p.sex, p.birth_date.value_or(""), p.keywords, p.notes,
                     std::to_string(p.sample_count)});
  }
  return out;
}

Result<Sample> create_sample(Tx& tx, std::int64_t patient_id, const SampleInput& s,
                             std::optional<std::int64_t> user_id) {
  MS_RETURN_IF_ERROR(get_patient(tx, patient_id));
  MS_RETURN_IF_ERROR(check_sample_fields(s.accession, s.collection_date, s.count_target, s.notes));
  MS_RETURN_IF_ERROR(check_um_per_px(s.um_per_px));
  MS_RETURN_IF_ERROR(check_accession_free(tx, s.accession, 0));
  const auto now = now_ms();
  const std::int64_t target = s.count_target.value_or(default_count_target(s.specimen));
  MS_ASSIGN_OR_RETURN(
      auto id,
      tx.insert("INSERT INTO samples (patient_id, accession, specimen, collection_date, "
                "count_target, status, notes, um_per_px, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?) RETURNING id",
                {patient_id, s.accession, enum_text(s.specimen), Value(s.collection_date), target,
                 s.notes, s.um_per_px ? Value(*s.um_per_px) : Value(), Value(user_id), now, now}));
  return get_sample(tx, id);
}

Result<Sample> get_sample(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string("SELECT ") + kSampleColumns +
                                                 " FROM samples WHERE id = ?",
                                             {id}));
  if (!row) return fail(ErrorCode::kNotFound, "sample " + std::to_string(id) + " does not exist");
  return from_row<Sample>(*row);
}

Result<std::int64_t> sample_revision(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT COALESCE(r.revision, 0) AS revision FROM samples s "
                                             "LEFT JOIN sample_revisions r ON r.sample_id = s.id "
                                             "WHERE s.id = ?",
                                             {id}));
  if (!row) return fail(ErrorCode::kNotFound, "sample " + std::to_string(id) + " does not exist");
  return row->i("revision");
}

Result<Sample> lock_sample(Tx& tx, std::int64_t id) {
  std::string sql = std::string("SELECT ") + kSampleColumns + " FROM samples WHERE id = ?";
  if (tx.dialect() == Dialect::kPostgres) sql += " FOR UPDATE";
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(sql, {id}));
  if (!row) return fail(ErrorCode::kNotFound, "sample " + std::to_string(id) + " does not exist");
  return from_row<Sample>(*row);
}

Result<std::vector<Sample>> list_samples(Tx& tx, std::optional<std::int64_t> patient_id,
                                         std::optional<SampleStatus> status) {
  std::string sql = std::string("SELECT ") + kSampleColumns + " FROM samples WHERE 1 = 1";
  Params params;
  if (patient_id) {
    MS_RETURN_IF_ERROR(get_patient(tx, *patient_id));
    sql += " AND patient_id = ?";
    params.push_back(*patient_id);
  }
  if (status) {
    sql += " AND status = ?";
    params.push_back(enum_text(*status));
  }
  sql += " ORDER BY created_at DESC, id DESC LIMIT 1000";
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
  std::vector<Sample> out;
  for (const auto& r : rows) out.push_back(from_row<Sample>(r));
  return out;
}

Status require_unsigned(const Sample& s) {
  if (s.status == SampleStatus::kSigned)
    return fail(ErrorCode::kConflict, Reason::kSampleSigned, {{"sample", s.accession}});
  return {};
}

Result<Sample> update_sample(Tx& tx, std::int64_t id, const SampleUpdate& u) {
  MS_ASSIGN_OR_RETURN(Sample cur, lock_sample(tx, id));
  MS_RETURN_IF_ERROR(require_unsigned(cur));
  const std::string accession = u.accession.value_or(cur.accession);
  const auto date = u.collection_date ? u.collection_date : cur.collection_date;
  const std::int64_t target = u.count_target.value_or(cur.count_target);
  const std::string notes = u.notes.value_or(cur.notes);
  MS_RETURN_IF_ERROR(check_sample_fields(accession, date, target, notes));
  // 0 removes a declared scale; any other value must be one.
  std::optional<double> scale = cur.um_per_px;
  if (u.um_per_px) scale = *u.um_per_px == 0 ? std::nullopt : u.um_per_px;
  MS_RETURN_IF_ERROR(check_um_per_px(scale));
  if (accession != cur.accession) MS_RETURN_IF_ERROR(check_accession_free(tx, accession, id));
  MS_RETURN_IF_ERROR(update_columns(tx, "samples", id,
                                    {{"accession", accession},
                                     {"specimen", enum_text(u.specimen.value_or(cur.specimen))},
                                     {"collection_date", Value(date)},
                                     {"count_target", target},
                                     {"notes", notes},
                                     {"um_per_px", scale ? Value(*scale) : Value()}}));
  return get_sample(tx, id);
}

Status delete_sample(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(Sample cur, lock_sample(tx, id));
  MS_RETURN_IF_ERROR(require_unsigned(cur));
  MS_RETURN_IF_ERROR(tx.exec("DELETE FROM samples WHERE id = ?", {id}));
  return {};
}

Result<Sample> set_sample_status(Tx& tx, std::int64_t id, SampleStatus to) {
  MS_ASSIGN_OR_RETURN(Sample cur, lock_sample(tx, id));
  MS_RETURN_IF_ERROR(require_unsigned(cur));
  if (to == SampleStatus::kSigned)
    return fail(ErrorCode::kConflict, fmt::format("sample {}: 'signed' is set by the sign-off, which "
                                                  "stores the signed report; it is not a status move",
                                                  cur.accession));
  const bool allowed = (cur.status == SampleStatus::kDraft && to == SampleStatus::kInReview) ||
                       (cur.status == SampleStatus::kInReview && to == SampleStatus::kDraft);
  if (!allowed)
    return fail(ErrorCode::kConflict, fmt::format("sample {}: cannot go from {} to {} (draft <-> "
                                                  "in_review)",
                                                  cur.accession, enum_text(cur.status),
                                                  enum_text(to)));
  MS_RETURN_IF_ERROR(update_columns(tx, "samples", id, {{"status", enum_text(to)}}));
  return get_sample(tx, id);
}

}  // namespace ms::store
