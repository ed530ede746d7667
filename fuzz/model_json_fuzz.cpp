// model.json of a model folder (engine/model_file_json.h) on arbitrary text, read as both a
// classifier's and a detector's: the JSON grammar, the size bound and the format tag. Properties:
// nothing throws; a document accepted as one kind with a "format" string is refused as the other.
#include <cstdint>
#include <string_view>

#include "engine/model_file_json.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto classifier = ms::parse_model_json(text, "model.json", ms::kClassifierModelFormat);
  auto detector = ms::parse_model_json(text, "model.json", ms::kDetectorModelFormat);
  if (classifier && detector && classifier->is_object()) {
    auto format = classifier->find("format");
    FUZZ_CHECK(format == classifier->end() || !format->is_string());
  }
  if (!classifier) FUZZ_CHECK(!classifier.error().message.empty());
  return 0;
}
