#pragma once
// The model_versions table: which detector and classifier versions a server has run. A server
// records its models at start; those become the active version of their kind, earlier ones stay
// listed (inactive) because cells keep naming the version that produced them.
#include <vector>

#include "store/analysis_runner.h"
#include "store/records.h"

namespace ms::store {

// Inserts each model unless (kind, name, version) exists, then marks exactly these active for
// their kinds. Safe when several servers start at once (ON CONFLICT DO NOTHING).
Status record_models(Database& db, const std::vector<ModelInfo>& models);

}  // namespace ms::store
