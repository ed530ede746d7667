#pragma once
// A model folder's int8 calibration (int8.json): the range of values at every point where the
// ResNet's 8-bit path stores a tensor (models/backbone/resnet.h: a CNN classifier's network, a
// detector's backbone), measured once in float32 on the model's own training cells or fields by
// `marrowscope calibrate-int8`. The weights need none (they are
// quantized from the float weights when the model loads). The file names the model version it was
// measured on: the ranges of one set of weights say nothing about another's. No LibTorch here.
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace ms {

inline constexpr const char* kInt8Format = "marrowscope-int8/1";
inline constexpr const char* kInt8File = "int8.json";

struct Int8Calibration {
  std::string format = kInt8Format;
  std::string model_version;              // model.json's version these ranges were measured on
  std::vector<std::vector<double>> ranges;  // [lo, hi] per point, in the network's forward order
  Json provenance = Json::object();       // cell list, data folder, cells, views, date
  template <class V>
  void visit(V& v) {
    v("format", format); v("model_version", model_version); v("ranges", ranges); v("provenance", provenance);
  }
  std::vector<std::pair<float, float>> range_pairs() const;
};

// The clipping range for 8-bit values that loses least: given a histogram of one point's values
// (counts[k] in equal bins over [lo, hi]), the [a, b] (zero inside, edges on every
// bins/128-th bin edge) that minimises the expected squared error of 256 levels over [a, b]:
// step^2 / 12 for a value inside, its squared distance to the nearer edge for one outside. A long
// thin tail is cut where its few values cost less than the coarser steps of covering it (the
// histogram observer's rule in PyTorch's quantization tools, done exhaustively here).
std::pair<double, double> mse_clip_range(const std::vector<double>& counts, double lo, double hi);

// Fails naming what is wrong: a range that is not two finite numbers lo <= hi, no ranges.
Status validate_int8_calibration(const Int8Calibration& c, const std::string& where);
Status write_int8_calibration(const std::string& model_dir, const Int8Calibration& c);
// kNotFound when the folder has none; kInvalidArgument when it is malformed or was measured on
// another model version than `model_version`.
Result<Int8Calibration> read_int8_calibration(const std::string& model_dir, const std::string& model_version);

}  // namespace ms
