#pragma once
// Limits on a declared image scale (micrometres per pixel), shared by every place that accepts one
// (a sample's fields, recognition uploads).
namespace ms {

// A declared scale larger than this is not a microscope image of blood: a 7.5 um red cell would
// be under 0.15 px across.
inline constexpr double kMaxUmPerPx = 50.0;

}  // namespace ms
