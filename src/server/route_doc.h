#pragma once
// Internal to src/server: what one route takes and answers, written where the route is
// registered (Api::get/post/...), from which /api/openapi.json is generated and against which
// the server tests check every answer they receive. Schemas come from the typed structs the
// route parses and writes (core/json_schema.h) or name a shared one in api_schemas.h with ref().
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

namespace ms::server {

// {"$ref": "#/components/schemas/<name>"}; the name must be one api_components() defines.
Json ref(const std::string& schema_name);
// {"type": "object", "properties": {...}, "required": [every key], "additionalProperties": false}
Json object_of(const Json& properties);
Json array_of(const Json& item_schema);
// A JSON integer (Unix ms timestamps, ids, counts) with optional bounds.
Json integer_schema(std::optional<std::int64_t> minimum = std::nullopt,
                    std::optional<std::int64_t> maximum = std::nullopt);
Json string_schema(const std::vector<std::string>& allowed = {});
Json with_description(Json schema, const std::string& description);
// The object schema with `keys` required (a request body's fields the route refuses to miss).
Json requiring(Json object_schema, const std::vector<std::string>& keys);

class Doc {
 public:
  struct Param {
    std::string name, description;
    Json schema;
    bool required = false;
  };
  struct Body {
    std::string media_type;  // empty: no body
    Json schema;
    Json example;
    std::string description;
    bool required = true;
  };
  struct Answer {
    int status = 200;
    std::string media_type;  // empty: no body (204)
    Json schema;             // JSON answers
    Json example;
    std::string description;
    std::vector<std::pair<std::string, std::string>> headers;  // name, description
  };

  Doc(const char* summary) : summary_(summary) {}
  Doc(std::string summary) : summary_(std::move(summary)) {}

  // A longer description (Markdown) under the summary.
  Doc& describe(std::string text);
  Doc& query(std::string name, Json schema, std::string description, bool required = false);
  // A JSON request body; `example` is shown in the reference.
  Doc& json_body(Json schema, Json example = nullptr, bool required = true);
  // A non-JSON request body (multipart uploads, CSV, raw images).
  Doc& body(std::string media_type, Json schema, std::string description);
  // Another media type the same body may come as (CSV as text/csv or as a multipart file).
  Doc& or_body(std::string media_type, Json schema);
  Doc& answers(int status, Json schema, std::string description, Json example = nullptr);
  Doc& file(int status, std::string media_type, std::string description);
  Doc& no_content(std::string description);
  // A successful answer without a body other than 204 (304 Not Modified).
  Doc& no_body(int status, std::string description);
  // A response header of the last answer added.
  Doc& header(std::string name, std::string description);
  // An error status this route answers besides those every route of its kind does (api.cpp adds
  // 400/401/403/404/413/415/500 where they apply), with what causes it.
  Doc& error(int status, std::string when);

  const std::string& summary() const { return summary_; }
  const std::string& description() const { return description_; }
  const std::vector<Param>& params() const { return params_; }
  const std::vector<Body>& bodies() const { return bodies_; }
  const std::vector<Answer>& success() const { return success_; }
  const std::vector<std::pair<int, std::string>>& errors() const { return errors_; }

 private:
  std::string summary_, description_;
  std::vector<Param> params_;
  std::vector<Body> bodies_;
  std::vector<Answer> success_;
  std::vector<std::pair<int, std::string>> errors_;
};

}  // namespace ms::server
