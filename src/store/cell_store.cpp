#include "store/cell_store.h"

namespace ms::store {
namespace {

Result<std::string> where_clause(const CellQuery& q, Params& params) {
  if (!q.sample_id && !q.image_id)
    return fail(ErrorCode::kInvalidArgument, "cell query", "a sample or an image", "neither");
  std::string where = " WHERE 1 = 1";
  if (q.sample_id) {
    where += " AND sample_id = ?";
    params.push_back(*q.sample_id);
  }
  if (q.image_id) {
    where += " AND image_id = ?";
    params.push_back(*q.image_id);
  }
  if (!q.cell_class.empty()) {
    where += " AND COALESCE(reviewed_class, suggested_class) = ?";
    params.push_back(q.cell_class);
  }
  if (q.reviewed) {
    where += " AND confirmed = ?";
    params.push_back(*q.reviewed);
  }
  return where;
}

}  // namespace

Result<std::vector<Cell>> list_cells(Tx& tx, const CellQuery& q) {
  Params params;
  MS_ASSIGN_OR_RETURN(auto where, where_clause(q, params));
  std::string order;
  if (q.order == "id") order = " ORDER BY id";
  else if (q.order == "confidence") order = " ORDER BY probability ASC, id";
  else if (q.order == "entropy") order = " ORDER BY entropy DESC, id";
  else return fail(ErrorCode::kInvalidArgument, "order", "id|confidence|entropy", "\"" + q.order + "\"");
  if (q.limit < 1 || q.limit > 5000 || q.offset < 0 || q.offset > 1'000'000'000)
    return fail(ErrorCode::kInvalidArgument, "limit / offset", "limit 1 to 5000, offset 0 to 1000000000",
                std::to_string(q.limit) + " / " + std::to_string(q.offset));
  params.push_back(q.limit);
  params.push_back(q.offset);
  MS_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT * FROM cells" + where + order + " LIMIT ? OFFSET ?",
                                          params));
  std::vector<Cell> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(from_row<Cell>(r));
  return out;
}

Result<std::int64_t> count_cells(Tx& tx, const CellQuery& q) {
  Params params;
  MS_ASSIGN_OR_RETURN(auto where, where_clause(q, params));
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT COUNT(*) AS n FROM cells" + where, params));
  return row->i("n");
}

}  // namespace ms::store
