#include "core/config.h"

#include <cerrno>
#include <cstring>

#include <fstream>
#include <sstream>

namespace ms {

std::string json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "binary";
  }
}

namespace {

// The deepest nesting of arrays and objects parse_json accepts; every document the app reads
// (configs, taxonomies, model.json, annotation files, request bodies) stays under 20.
constexpr int kMaxJsonDepth = 128;

// The byte offset where `text` first nests arrays and objects deeper than `max_depth`, or npos.
// Strings are skipped (brackets inside them do not nest). The text need not be valid JSON: the
// parser reports grammar errors afterwards.
std::size_t too_deep_at(const std::string& text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string::npos;
}

}  // namespace

Result<Json> parse_json(const std::string& text, const std::string& source) {
  // nlohmann's parser is iterative, but copying, comparing and dumping a document recurse once
  // per level: a few hundred kilobytes of "[[[[..." would overflow the stack of whatever code
  // later copies or prints it (an error message quoting a value, a config holding raw JSON).
  if (const std::size_t at = too_deep_at(text, kMaxJsonDepth); at != std::string::npos)
    return fail(ErrorCode::kInvalidArgument,
                source + ": expected JSON nested at most " + std::to_string(kMaxJsonDepth) +
                    " levels deep, found deeper nesting at byte " + std::to_string(at));
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return fail(ErrorCode::kInvalidArgument,
                source + ": expected valid JSON, found a syntax error at byte " +
                    std::to_string(e.byte) + " (" + e.what() + ")");
  } catch (const Json::exception& e) {
    // Valid grammar the parser still refuses: a number beyond double range ("1e400") is
    // out_of_range, not parse_error, and must not escape to the caller either.
    return fail(ErrorCode::kInvalidArgument, source + ": expected valid JSON, found " + e.what());
  }
}

Result<Json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_json(ss.str(), path);
}

Status write_json_file(const std::string& path, const Json& j, int indent) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return fail(ErrorCode::kIo, path + ": cannot write file: " + std::strerror(errno));
    out << j.dump(indent) << "\n";
    if (!out) return fail(ErrorCode::kIo, path + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(ErrorCode::kIo, path + ": cannot rename temporary file");
  return {};
}

Status apply_override(Json& j, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    return fail(ErrorCode::kInvalidArgument, "--set " + assignment, "key.path=value",
                "no '=' after a key");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  // Split and check the whole key first, and edit a copy, so a failed override changes nothing.
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? dot : dot - start));
    if (parts.back().empty())
      return fail(ErrorCode::kInvalidArgument, "--set " + assignment, "key.path=value",
                  "an empty key segment");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::exception&) {  // not JSON, or a number beyond double range
    value = text;
  }
  Json edited = j;
  Json* node = &edited;
  std::string walked;
  for (const auto& part : parts) {
    if (!node->is_object()) {
      if (!node->is_null())
        return fail(ErrorCode::kInvalidArgument, "--set " + assignment, "an object at '" + walked + "'",
                    json_type_name(*node));
      *node = Json::object();
    }
    node = &(*node)[part];
    walked += (walked.empty() ? "" : ".") + part;
  }
  *node = std::move(value);
  j = std::move(edited);
  return {};
}

namespace config_detail {
void type_error(const std::string& path, const char* expected, const Json& found) {
  throw MarrowError(ErrorCode::kInvalidArgument,
                    path + ": expected " + expected + ", found " + json_type_name(found));
}
void value_error(const std::string& path, const std::string& expected, const std::string& found) {
  throw MarrowError(ErrorCode::kInvalidArgument, path + ": expected " + expected + ", found " + found);
}
}  // namespace config_detail

}  // namespace ms
