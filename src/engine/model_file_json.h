#pragma once
// A model folder's model.json up to its typed architecture: the size bound, the JSON grammar and
// the "format" tag that tells a classifier folder from a detector folder. No LibTorch here, so the
// fuzz harness (fuzz/model_json_fuzz.cpp) links it alone; the readers in classifier_model_file.cpp
// and detector_model_file.cpp call it before parse_config reads the architecture.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/error.h"

namespace ms {

// The largest model.json read: shipped ones are a few KiB, most of it metrics.
inline constexpr std::size_t kMaxModelJsonBytes = 16u << 20;
inline constexpr std::string_view kClassifierModelFormat = "marrowscope-classifier/1";
inline constexpr std::string_view kDetectorModelFormat = "marrowscope-detector/1";

// Parses model.json's text: valid JSON whose "format", when it is a string, is `expected_format`
// (kUnsupportedFormat otherwise, so a detector folder given as a classifier is named as such).
// Wrong types and unknown keys are left to parse_config, which names the JSON path.
Result<Json> parse_model_json(std::string_view text, const std::string& path,
                              std::string_view expected_format);
// Reads `path` (at most kMaxModelJsonBytes; kNotFound naming it when absent) and parses it.
Result<Json> read_model_json(const std::string& path, std::string_view expected_format);

}  // namespace ms
