#include "engine/model_file_json.h"

#include "core/image.h"

namespace ms {

Result<Json> parse_model_json(std::string_view text, const std::string& path,
                              std::string_view expected_format) {
  if (text.size() > kMaxModelJsonBytes)
    return fail(ErrorCode::kTooLarge, path, "at most " + std::to_string(kMaxModelJsonBytes) + " bytes",
                std::to_string(text.size()) + " bytes");
  auto j = parse_json(std::string(text), path);
  if (!j) return j;
  if (j->is_object()) {
    auto format = j->find("format");
    if (format != j->end() && format->is_string() && format->get<std::string>() != expected_format)
      return fail(ErrorCode::kUnsupportedFormat, path + ": format", std::string(expected_format),
                  "\"" + format->get<std::string>() + "\"");
  }
  return j;
}

Result<Json> read_model_json(const std::string& path, std::string_view expected_format) {
  auto bytes = read_file_bytes(path, kMaxModelJsonBytes);
  if (!bytes) return tl::unexpected(bytes.error());
  return parse_model_json(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()),
                          path, expected_format);
}

}  // namespace ms
