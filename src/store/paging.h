#pragma once
// Bounds of the paged lists, shared by the store's checks and the API document (src/server), so
// the ranges an integrator reads are the ones the server enforces.
#include <cstdint>

namespace ms::store {

inline constexpr std::int64_t kMaxPageNumber = 1'000'000'000;  // page (1-based)
inline constexpr std::int64_t kMaxOffset = 1'000'000'000;
inline constexpr std::int64_t kMaxPatientPageSize = 500;       // GET /api/patients
inline constexpr std::int64_t kMaxLogPageSize = 1000;          // GET /api/logs
inline constexpr std::int64_t kMaxAuditPageSize = 1000;        // GET /api/samples/{id}/audit
inline constexpr std::int64_t kMaxCellPageSize = 5000;         // GET /api/samples/{id}/cells

}  // namespace ms::store
