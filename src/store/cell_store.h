#pragma once
// Reading the cells that analysis jobs wrote (review endpoints build on this).
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

struct CellQuery {
  std::optional<std::int64_t> sample_id, image_id;
  std::string cell_class;           // suggested or reviewed class equals
  std::optional<bool> reviewed;     // confirmed or not
  std::string order = "id";         // id | confidence (lowest first) | entropy (highest first)
  std::int64_t limit = 500, offset = 0;
};
Result<std::vector<Cell>> list_cells(Tx& tx, const CellQuery& q);
Result<std::int64_t> count_cells(Tx& tx, const CellQuery& q);

}  // namespace ms::store
