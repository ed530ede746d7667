#pragma once
// The ICSH-recommended number of cells to count (Lee et al., Int J Lab Hematol 2008;30:349;
// ICSH 2015): 500 nucleated cells in a marrow aspirate, 200 white cells in a blood film. The only
// place these numbers are written: samples default to them, reports compare the target with
// them, and the web app reads them from GET /api/taxonomy (icsh_count_target).
namespace ms {

inline constexpr int kIcshMarrowCount = 500;
inline constexpr int kIcshBloodCount = 200;

}  // namespace ms
