#pragma once
// JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of the typed structs that
// core/config.h reads and writes, derived from the same visit() field list, and a validator for
// the subset of JSON Schema those schemas (and the API document built from them) use.
//
// Two shapes of one struct:
//   written_schema<T>()  what config_to_json(T) writes: every visited field, always present
//                        (required), std::optional fields nullable, no other keys.
//   read_schema<T>()     what parse_config<T> accepts: any subset of the visited fields (absent
//                        ones keep their defaults), std::optional fields nullable, unknown keys
//                        refused (parse_config names them).
// Json fields are free-form ({}); callers that know more refine them afterwards.
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/config.h"

namespace ms {

namespace schema_detail {

enum class Shape { kWritten, kRead };

template <typename T>
Json schema_of(Shape shape);

// Adds "null" to a schema's allowed types (std::optional).
Json nullable(Json s);

struct SchemaCollector {
  Shape shape;
  Json properties = Json::object();
  Json required = Json::array();
  template <typename U>
  void operator()(const char* key, U&) {
    properties[key] = schema_of<U>(shape);
    if (shape == Shape::kWritten) required.push_back(key);
  }
};

template <typename T>
Json struct_schema(Shape shape) {
  SchemaCollector c{shape};
  T probe{};
  probe.visit(c);
  Json s = {{"type", "object"}, {"properties", c.properties}, {"additionalProperties", false}};
  if (!c.required.empty()) s["required"] = c.required;
  return s;
}

template <typename T>
Json schema_of(Shape shape) {
  using config_detail::is_map;
  using config_detail::is_named_enum;
  using config_detail::is_optional;
  using config_detail::is_vector;
  if constexpr (std::is_same_v<T, bool>) {
    return {{"type", "boolean"}};
  } else if constexpr (std::is_integral_v<T>) {
    Json s = {{"type", "integer"}};
    if constexpr (std::is_unsigned_v<T>) s["minimum"] = 0;
    if constexpr (sizeof(T) < sizeof(std::int64_t)) {
      s["minimum"] = static_cast<std::int64_t>(std::numeric_limits<T>::min());
      s["maximum"] = static_cast<std::int64_t>(std::numeric_limits<T>::max());
    }
    return s;
  } else if constexpr (std::is_floating_point_v<T>) {
    return {{"type", "number"}};
  } else if constexpr (std::is_same_v<T, std::string>) {
    return {{"type", "string"}};
  } else if constexpr (is_named_enum<T>::value) {
    Json names = Json::array();
    for (const auto& [value, name] : enum_names(T{})) names.push_back(name);
    return {{"type", "string"}, {"enum", names}};
  } else if constexpr (is_vector<T>::value) {
    return {{"type", "array"}, {"items", schema_of<typename T::value_type>(shape)}};
  } else if constexpr (is_map<T>::value) {
    return {{"type", "object"}, {"additionalProperties", schema_of<typename T::mapped_type>(shape)}};
  } else if constexpr (is_optional<T>::value) {
    return nullable(schema_of<typename T::value_type>(shape));
  } else if constexpr (std::is_same_v<T, Json>) {
    return Json::object();
  } else {
    static_assert(config_detail::has_visit<T>::value, "schema type needs a visit() member");
    return struct_schema<T>(shape);
  }
}

}  // namespace schema_detail

template <typename T>
Json written_schema() {
  return schema_detail::schema_of<T>(schema_detail::Shape::kWritten);
}
template <typename T>
Json read_schema() {
  return schema_detail::schema_of<T>(schema_detail::Shape::kRead);
}
using schema_detail::nullable;

// Validates `value` against `schema`. `$ref`s ("#/a/b") resolve in `root` (the whole document
// the schema came from; the schema itself when it is the root). Supports what the API document
// uses: type (one or a list), enum, const, properties, required, additionalProperties (bool or
// schema), items, minItems, maxItems, minimum, maximum, minLength, maxLength, pattern, anyOf,
// oneOf, allOf, $ref. Returns one message per violation, each naming the JSON path ("$.items[2].id:
// expected integer, found string"); empty when the value fits. Keywords outside this list are
// reported as errors, so a schema never passes by being misunderstood.
std::vector<std::string> validate_json(const Json& schema, const Json& value, const Json& root);

}  // namespace ms
