#pragma once
// Routes that edit the boxes of a field (add a missed cell, remove / restore a false box, move or
// resize a box), sharing the review routes' crop cache.
#include <memory>

#include "server/api.h"
#include "server/cell_crops.h"

namespace ms::server {

void register_field_edit_routes(Api& api, std::shared_ptr<CellCrops> crops);

}  // namespace ms::server
