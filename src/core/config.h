#pragma once
// Typed JSON configuration (docs/STYLE.md "Configuration").
//
// A config struct lists its fields once, in a visit() template; the same list reads, writes and
// validates it:
//
//   struct FpnOptions {
//     int channels = 256;
//     std::vector<int> levels{3, 4, 5, 6, 7};
//     template <class V> void visit(V& v) { v("channels", channels); v("levels", levels); }
//   };
//
// Reading starts from the defaults, replaces the keys present, and fails on unknown keys or wrong
// types with the JSON path ("$.neck.levels[2]: expected integer, found string").
// Enums are read and written as strings through an ADL function returning their names:
//   const std::vector<std::pair<Assigner, std::string>>& enum_names(Assigner);
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ms {

using Json = nlohmann::json;

std::string json_type_name(const Json& j);

// Parses text as JSON; the error names `source` and the byte offset.
Result<Json> parse_json(const std::string& text, const std::string& source);
Result<Json> read_json_file(const std::string& path);
Status write_json_file(const std::string& path, const Json& j, int indent = 2);

// Applies "a.b.c=value" to j: value is parsed as JSON when it is valid JSON (numbers, true,
// [1,2], {"k":1}), otherwise taken as a string. Missing objects on the path are created.
Status apply_override(Json& j, const std::string& assignment);

namespace config_detail {

template <typename T, typename = void>
struct has_visit : std::false_type {};
struct NullVisitor {
  template <typename U>
  void operator()(const char*, U&) {}
};
template <typename T>
struct has_visit<T, std::void_t<decltype(std::declval<T&>().visit(std::declval<NullVisitor&>()))>>
    : std::true_type {};

template <typename T, typename = void>
struct is_named_enum : std::false_type {};
template <typename T>
struct is_named_enum<T, std::void_t<decltype(enum_names(std::declval<T>()))>> : std::true_type {};

template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};
template <typename T>
struct is_map : std::false_type {};
template <typename T>
struct is_map<std::map<std::string, T>> : std::true_type {};
template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

[[noreturn]] void type_error(const std::string& path, const char* expected, const Json& found);
[[noreturn]] void value_error(const std::string& path, const std::string& expected,
                              const std::string& found);

// Whether the JSON integer j fits T (nlohmann's get<T>() would wrap silently).
template <typename T>
bool integer_fits(const Json& j) {
  if (j.is_number_unsigned())
    return j.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  const std::int64_t v = j.get<std::int64_t>();
  if (v < 0) return std::is_signed_v<T> && v >= static_cast<std::int64_t>(std::numeric_limits<T>::min());
  return static_cast<std::uint64_t>(v) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
}

template <typename T>
void read_value(const Json& j, const std::string& path, T& out);
template <typename T>
Json write_value(const T& v);

struct Reader {
  const Json& j;
  const std::string& path;
  std::set<std::string> seen;
  template <typename U>
  void operator()(const char* key, U& field) {
    seen.insert(key);
    auto it = j.find(key);
    if (it == j.end()) return;
    read_value(*it, path + "." + key, field);
  }
};

struct Writer {
  Json& j;
  template <typename U>
  void operator()(const char* key, const U& field) {
    j[key] = write_value(field);
  }
};

template <typename T>
void read_value(const Json& j, const std::string& path, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) type_error(path, "boolean", j);
    out = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer()) type_error(path, "integer", j);
    if (!integer_fits<T>(j))
      value_error(path,
                  "an integer in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                      std::to_string(std::numeric_limits<T>::max()) + "]",
                  j.dump());
    out = j.get<T>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) type_error(path, "number", j);
    out = j.get<T>();
    if (!std::isfinite(out)) value_error(path, "a number within float range", j.dump());
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) type_error(path, "string", j);
    out = j.get<std::string>();
  } else if constexpr (is_named_enum<T>::value) {
    if (!j.is_string()) type_error(path, "string", j);
    const std::string s = j.get<std::string>();
    std::string allowed;
    for (const auto& [value, name] : enum_names(T{})) {
      if (name == s) {
        out = value;
        return;
      }
      allowed += (allowed.empty() ? "" : "|") + name;
    }
    value_error(path, "one of " + allowed, "\"" + s + "\"");
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) type_error(path, "array", j);
    T result;
    result.resize(j.size());
    for (size_t i = 0; i < j.size(); ++i)
      read_value(j[i], path + "[" + std::to_string(i) + "]", result[i]);
    out = std::move(result);
  } else if constexpr (is_map<T>::value) {
    if (!j.is_object()) type_error(path, "object", j);
    T result;
    for (auto it = j.begin(); it != j.end(); ++it)
      read_value(it.value(), path + "." + it.key(), result[it.key()]);
    out = std::move(result);
  } else if constexpr (is_optional<T>::value) {
    if (j.is_null()) {
      out.reset();
    } else {
      typename T::value_type v{};
      if (out) v = *out;
      read_value(j, path, v);
      out = std::move(v);
    }
  } else if constexpr (std::is_same_v<T, Json>) {
    out = j;
  } else {
    static_assert(has_visit<T>::value, "config field type needs a visit() member");
    if (!j.is_object()) type_error(path, "object", j);
    Reader r{j, path, {}};
    out.visit(r);
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!r.seen.count(it.key())) {
        std::string known;
        for (const auto& k : r.seen) known += (known.empty() ? "" : ", ") + k;
        value_error(path + "." + it.key(), "a known key (" + known + ")", "unknown key");
      }
    }
  }
}

template <typename T>
Json write_value(const T& v) {
  if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T> ||
                std::is_same_v<T, std::string> || std::is_same_v<T, Json>) {
    return Json(v);
  } else if constexpr (is_named_enum<T>::value) {
    for (const auto& [value, name] : enum_names(T{}))
      if (value == v) return Json(name);
    return Json(nullptr);
  } else if constexpr (is_vector<T>::value) {
    Json a = Json::array();
    for (const auto& x : v) a.push_back(write_value(x));
    return a;
  } else if constexpr (is_map<T>::value) {
    Json o = Json::object();
    for (const auto& [k, x] : v) o[k] = write_value(x);
    return o;
  } else if constexpr (is_optional<T>::value) {
    return v ? write_value(*v) : Json(nullptr);
  } else {
    Json o = Json::object();
    Writer w{o};
    const_cast<T&>(v).visit(w);
    return o;
  }
}

}  // namespace config_detail

// Reads T from j over T's defaults. Throws MarrowError(kInvalidArgument) naming the JSON path.
template <typename T>
T config_from_json(const Json& j, const std::string& root = "$") {
  T out{};
  config_detail::read_value(j, root, out);
  return out;
}
// Non-throwing variant for untrusted input.
template <typename T>
Result<T> parse_config(const Json& j, const std::string& source) {
  try {
    return config_from_json<T>(j, source.empty() ? "$" : source + ":$");
  } catch (const MarrowError& e) {
    return fail(e.code(), e.what());
  }
}
template <typename T>
Json config_to_json(const T& v) {
  return config_detail::write_value(v);
}

// Loads a config file (or defaults when path is empty), applies --set overrides in order, and
// validates the result against T.
template <typename T>
Result<T> load_config(const std::string& path, const std::vector<std::string>& overrides = {}) {
  Json j = Json::object();
  if (!path.empty()) {
    auto r = read_json_file(path);
    if (!r) return tl::unexpected(r.error());
    j = std::move(*r);
  }
  for (const auto& o : overrides) {
    auto s = apply_override(j, o);
    if (!s) return tl::unexpected(s.error());
  }
  return parse_config<T>(j, path);
}

}  // namespace ms
