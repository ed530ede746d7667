#pragma once
// JSON and CSV forms of pipeline results, shared by `marrowscope analyze` and the server.
#include <string>
#include <vector>

#include "core/config.h"
#include "pipeline/cell_result.h"

namespace ms {

Json cell_to_json(const CellResult& c);
// {"image","width","height","cells":[...]} or {"image","error"}.
Json field_to_json(const FieldResult& f);
// One row per cell: image,cell,x1,y1,x2,y2,det_class,det_score,iou_pred,class,probability,
// entropy,flagged,top,atypical,flag_reason (top as "class:p;class:p"; atypical -1 when the
// classifier has no atypical reference).
std::string cells_csv_header();
std::string cells_to_csv_rows(const FieldResult& f);

}  // namespace ms
