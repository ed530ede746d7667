#include "store/file_refs.h"

namespace ms::store {
namespace {
// pg_advisory_xact_lock key of the file sweep (any constant no other lock uses; migrate() uses
// 726173).
constexpr std::int64_t kFileSweepLock = 726174;
}  // namespace

const std::vector<std::pair<std::string, std::string>>& file_reference_columns() {
  static const std::vector<std::pair<std::string, std::string>> columns = {
      {"images", "sha256"}, {"images", "thumbnail_sha256"},
      {"images", "display_sha256"}, {"users", "avatar_sha256"}};
  return columns;
}

Result<std::unordered_set<std::string>> referenced_files(Tx& tx) {
  std::unordered_set<std::string> out;
  for (const auto& [table, column] : file_reference_columns()) {
    MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT DISTINCT " + column + " AS h FROM " + table +
                                            " WHERE " + column + " IS NOT NULL"));
    for (const auto& r : rows) out.insert(r.s("h"));
  }
  return out;
}

Result<std::unordered_set<std::string>> referenced_among(Tx& tx,
                                                         const std::vector<std::string>& hashes) {
  std::unordered_set<std::string> out;
  for (const auto& h : hashes) {
    for (const auto& [table, column] : file_reference_columns()) {
      MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT 1 AS x FROM " + table + " WHERE " + column +
                                                     " = ? LIMIT 1",
                                                 {h}));
      if (row) {
        out.insert(h);
        break;
      }
    }
  }
  return out;
}

Status lock_file_references(Tx& tx, bool exclusive) {
  if (tx.dialect() != Dialect::kPostgres) return {};
  MS_RETURN_IF_ERROR(tx.query(exclusive ? "SELECT pg_advisory_xact_lock(?)"
                                        : "SELECT pg_advisory_xact_lock_shared(?)",
                              {kFileSweepLock}));
  return {};
}

}  // namespace ms::store
