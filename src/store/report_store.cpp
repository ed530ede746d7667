#include "store/report_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "store/cell_store.h"
#include "store/patient_store.h"

namespace ms::store {

Result<SampleCellCounts> count_sample_cells(Tx& tx, std::int64_t sample_id) {
  SampleCellCounts out;
  MS_ASSIGN_OR_RETURN(
      auto rows,
      tx.query("SELECT COALESCE(reviewed_class, suggested_class) AS cls, COUNT(*) AS n, "
               "SUM(CASE WHEN confirmed = 0 AND reviewed_class IS NULL AND verified_at IS NULL THEN 1 ELSE 0 END) AS u, "
               "SUM(CASE WHEN confirmed <> 0 THEN 1 ELSE 0 END) AS d, "
               "SUM(CASE WHEN confirmed = 0 AND verified_at IS NOT NULL THEN 1 ELSE 0 END) AS t, "
               "SUM(CASE WHEN confirmed = 0 AND verified_at IS NULL AND reviewed_class IS NOT NULL THEN 1 ELSE 0 END) AS r "
               "FROM cells c WHERE sample_id = ? AND " + std::string(kCountedCellSql) +
                   " GROUP BY COALESCE(reviewed_class, suggested_class)",
               {sample_id}));
  for (const auto& r : rows) {
    const std::int64_t n = r.i("n");
    out.counts[r.s("cls")] = static_cast<int>(n);
    out.cells += n;
    out.unreviewed += r.i("u");
    out.doctor += r.i("d");
    out.technician += r.i("t");
    out.reclassified += r.i("r");
  }
  MS_ASSIGN_OR_RETURN(auto names,
                      tx.query("SELECT DISTINCT u.display_name, u.username FROM cells c "
                               "JOIN users u ON u.id = c.reviewer_id OR u.id = c.verified_by WHERE c.sample_id = ?",
                               {sample_id}));
  for (const auto& r : names) {
    const std::string display = r.s("display_name");
    out.reviewers.push_back(display.empty() ? r.s("username") : display);
  }
  MS_ASSIGN_OR_RETURN(auto models, tx.query("SELECT DISTINCT detector_version, classifier_version FROM cells "
                                            "WHERE sample_id = ? ORDER BY 1, 2",
                                            {sample_id}));
  for (const auto& r : models) {
    for (auto [name, list] : {std::pair{r.s("detector_version"), &out.detector_versions},
                              std::pair{r.s("classifier_version"), &out.classifier_versions}})
      if (!name.empty() && std::find(list->begin(), list->end(), name) == list->end()) list->push_back(name);
  }
  std::sort(out.detector_versions.begin(), out.detector_versions.end());
  std::sort(out.classifier_versions.begin(), out.classifier_versions.end());
  std::sort(out.reviewers.begin(), out.reviewers.end());
  out.reviewers.erase(std::unique(out.reviewers.begin(), out.reviewers.end()), out.reviewers.end());
  return out;
}

Result<SampleSignOff> record_sign_off(Tx& tx, const NewSignOff& s) {
  MS_ASSIGN_OR_RETURN(Sample sample, lock_sample(tx, s.sample_id));
  MS_RETURN_IF_ERROR(require_unsigned(sample));
  auto inserted = tx.insert(
      "INSERT INTO sample_signoffs (sample_id, signed_by, signer_name, signed_at, snapshot, "
      "snapshot_sha256) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
      {s.sample_id, s.user_id, s.signer_name, s.signed_at, s.snapshot_json, s.snapshot_sha256});
  if (!inserted && inserted.error().code == ErrorCode::kConflict)
    return fail(ErrorCode::kConflict, "sample " + sample.accession + " is already signed");
  if (!inserted) return tl::unexpected(inserted.error());
  MS_ASSIGN_OR_RETURN(
      auto changed,
      tx.exec("UPDATE samples SET status = 'signed', signed_by = ?, signed_at = ?, updated_at = ? "
              "WHERE id = ? AND status <> 'signed'",
              {s.user_id, s.signed_at, now_ms(), s.sample_id}));
  if (changed != 1)
    return fail(ErrorCode::kConflict, "sample " + sample.accession + " is already signed");
  MS_ASSIGN_OR_RETURN(auto found, find_sign_off(tx, s.sample_id));
  if (!found) throw MarrowError(ErrorCode::kInternal, "sign-off vanished inside its transaction");
  return *found;
}

Result<std::optional<SampleSignOff>> find_sign_off(Tx& tx, std::int64_t sample_id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT * FROM sample_signoffs WHERE sample_id = ?",
                                             {sample_id}));
  if (!row) return std::optional<SampleSignOff>{};
  return std::optional<SampleSignOff>(from_row<SampleSignOff>(*row));
}

Result<Addendum> add_addendum(Tx& tx, std::int64_t sample_id, std::int64_t author_id,
                              const std::string& author_name, const std::string& text) {
  MS_ASSIGN_OR_RETURN(Sample sample, get_sample(tx, sample_id));
  if (sample.status != SampleStatus::kSigned)
    return fail(ErrorCode::kConflict, "sample " + sample.accession +
                                          " is not signed yet: edit the report itself; addenda "
                                          "are for changes after sign-off");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return fail(ErrorCode::kInvalidArgument, "addendum text", "some text", "nothing");
  if (text.size() > kMaxAddendumChars)
    return fail(ErrorCode::kInvalidArgument, "addendum text",
                fmt::format("at most {} bytes", kMaxAddendumChars),
                fmt::format("{} bytes", text.size()));
  MS_ASSIGN_OR_RETURN(
      auto id, tx.insert("INSERT INTO report_addenda (sample_id, author_id, author_name, body, "
                         "created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                         {sample_id, author_id, author_name, text, now_ms()}));
  MS_ASSIGN_OR_RETURN(auto all, list_addenda(tx, sample_id));
  for (auto& a : all)
    if (a.id == id) return a;
  throw MarrowError(ErrorCode::kInternal, "addendum vanished inside its transaction");
}

Result<std::vector<Addendum>> list_addenda(Tx& tx, std::int64_t sample_id) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT id, sample_id, author_id, author_name, body AS "
                                          "text, created_at FROM report_addenda WHERE sample_id "
                                          "= ? ORDER BY created_at, id",
                                          {sample_id}));
  std::vector<Addendum> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(from_row<Addendum>(r));
  return out;
}

}  // namespace ms::store
