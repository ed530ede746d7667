#include "core/json_schema.h"

#include <algorithm>
#include <regex>
#include <set>


namespace ms {
namespace schema_detail {

Json nullable(Json s) {
  if (s.contains("type")) {
    Json& t = s["type"];
    if (t.is_string()) t = Json::array({t, "null"});
    else if (t.is_array() && std::find(t.begin(), t.end(), Json("null")) == t.end()) t.push_back("null");
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), Json()) == s["enum"].end())
      s["enum"].push_back(nullptr);
    return s;
  }
  return {{"anyOf", Json::array({std::move(s), {{"type", "null"}}})}};
}

}  // namespace schema_detail

namespace {

// Code points, as JSON Schema counts string lengths.
std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

bool has_type(const Json& v, const std::string& t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<std::int64_t>(v.get<double>())));
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  return false;
}

// Annotations carry no constraint.
const std::set<std::string>& annotations() {
  static const std::set<std::string> a = {"description", "title", "examples", "example", "default",
                                          "format", "deprecated", "readOnly", "writeOnly", "$comment"};
  return a;
}

struct Validator {
  const Json& root;
  std::vector<std::string>& errors;
  int depth = 0;

  void error(const std::string& path, const std::string& message) { errors.push_back(path + ": " + message); }

  const Json* resolve(const std::string& ref) {
    if (ref.rfind("#", 0) != 0) return nullptr;
    try {
      const Json::json_pointer ptr(ref.substr(1));
      return root.contains(ptr) ? &root.at(ptr) : nullptr;
    } catch (const std::exception&) {
      return nullptr;
    }
  }

  // Whether `value` fits `schema`, without recording why not (anyOf / oneOf branches).
  bool fits(const Json& schema, const Json& value, const std::string& path) {
    std::vector<std::string> scratch;
    Validator inner{root, scratch, depth};
    inner.check(schema, value, path);
    return scratch.empty();
  }

  void check(const Json& schema, const Json& value, const std::string& path) {
    if (++depth > 64) {
      error(path, "schema nests deeper than 64 levels (a $ref cycle?)");
      --depth;
      return;
    }
    check_inner(schema, value, path);
    --depth;
  }

  void check_inner(const Json& schema, const Json& value, const std::string& path) {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) error(path, "no value is allowed here");
      return;
    }
    if (!schema.is_object()) {
      error(path, "schema is not an object");
      return;
    }
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      const std::string& k = it.key();
      const Json& s = it.value();
      // OpenAPI specification extensions ("x-...") are annotations too.
      if (annotations().count(k) || k.rfind("x-", 0) == 0) continue;
      if (k == "$ref") {
        const Json* target = resolve(s.get<std::string>());
        if (!target) error(path, "unresolvable $ref " + s.dump());
        else check(*target, value, path);
      } else if (k == "type") {
        bool ok = false;
        if (s.is_string()) ok = has_type(value, s.get<std::string>());
        else
          for (const auto& t : s) ok = ok || has_type(value, t.get<std::string>());
        if (!ok) error(path, "expected " + (s.is_string() ? s.get<std::string>() : s.dump()) + ", found " + json_type_name(value));
      } else if (k == "enum") {
        if (std::find(s.begin(), s.end(), value) == s.end()) error(path, "expected one of " + s.dump() + ", found " + value.dump());
      } else if (k == "const") {
        if (value != s) error(path, "expected " + s.dump() + ", found " + value.dump());
      } else if (k == "properties") {
        if (!value.is_object()) continue;
        for (auto p = s.begin(); p != s.end(); ++p)
          if (value.contains(p.key())) check(p.value(), value[p.key()], path + "." + p.key());
      } else if (k == "required") {
        if (!value.is_object()) continue;
        for (const auto& name : s)
          if (!value.contains(name.get<std::string>())) error(path, "missing required key '" + name.get<std::string>() + "'");
      } else if (k == "additionalProperties") {
        if (!value.is_object()) continue;
        const Json props = schema.value("properties", Json::object());
        for (auto p = value.begin(); p != value.end(); ++p) {
          if (props.contains(p.key())) continue;
          if (s.is_boolean() && !s.get<bool>()) error(path + "." + p.key(), "key not in the schema");
          else if (s.is_object()) check(s, p.value(), path + "." + p.key());
        }
      } else if (k == "items") {
        if (!value.is_array()) continue;
        for (std::size_t i = 0; i < value.size(); ++i) check(s, value[i], path + "[" + std::to_string(i) + "]");
      } else if (k == "minItems" || k == "maxItems") {
        if (!value.is_array()) continue;
        const auto n = s.get<std::size_t>();
        if (k == "minItems" ? value.size() < n : value.size() > n)
          error(path, k + " " + std::to_string(n) + ", found " + std::to_string(value.size()) + " items");
      } else if (k == "minimum" || k == "maximum") {
        if (!value.is_number()) continue;
        const double v = value.get<double>(), bound = s.get<double>();
        if (k == "minimum" ? v < bound : v > bound) error(path, k + " " + s.dump() + ", found " + value.dump());
      } else if (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
        if (!value.is_number()) continue;
        const double v = value.get<double>(), bound = s.get<double>();
        if (k == "exclusiveMinimum" ? v <= bound : v >= bound)
          error(path, k + " " + s.dump() + ", found " + value.dump());
      } else if (k == "minLength" || k == "maxLength") {
        if (!value.is_string()) continue;
        const std::size_t n = utf8_length(value.get<std::string>()), bound = s.get<std::size_t>();
        if (k == "minLength" ? n < bound : n > bound)
          error(path, k + " " + std::to_string(bound) + ", found " + std::to_string(n) + " characters");
      } else if (k == "pattern") {
        if (!value.is_string()) continue;
        if (!std::regex_search(value.get<std::string>(), std::regex(s.get<std::string>(), std::regex::ECMAScript)))
          error(path, "expected a match of /" + s.get<std::string>() + "/, found " + value.dump());
      } else if (k == "anyOf" || k == "oneOf") {
        int matched = 0;
        for (const auto& branch : s) matched += fits(branch, value, path) ? 1 : 0;
        if (matched == 0) {
          // The branch errors say more than "none matched" when there is one branch to blame.
          std::vector<std::string> first;
          Validator inner{root, first, depth};
          if (s.size() == 1) inner.check(s[0], value, path);
          error(path, "fits none of the " + k + " branches" + (first.empty() ? "" : " (" + first.front() + ")") +
                          ": " + value.dump().substr(0, 200));
        } else if (k == "oneOf" && matched > 1) {
          error(path, "fits " + std::to_string(matched) + " oneOf branches, expected exactly one");
        }
      } else if (k == "allOf") {
        for (const auto& branch : s) check(branch, value, path);
      } else {
        error(path, "schema keyword '" + k + "' is not supported by this validator");
      }
    }
  }
};

}  // namespace

std::vector<std::string> validate_json(const Json& schema, const Json& value, const Json& root) {
  std::vector<std::string> errors;
  Validator v{root, errors};
  v.check(schema, value, "$");
  return errors;
}

}  // namespace ms
