#include "server/route_doc.h"

#include "core/error.h"

namespace ms::server {

Json ref(const std::string& schema_name) { return {{"$ref", "#/components/schemas/" + schema_name}}; }

Json object_of(const Json& properties) {
  Json required = Json::array();
  for (auto it = properties.begin(); it != properties.end(); ++it) required.push_back(it.key());
  return {{"type", "object"}, {"properties", properties}, {"required", required},
          {"additionalProperties", false}};
}

Json array_of(const Json& item_schema) { return {{"type", "array"}, {"items", item_schema}}; }

Json integer_schema(std::optional<std::int64_t> minimum, std::optional<std::int64_t> maximum) {
  Json s = {{"type", "integer"}};
  if (minimum) s["minimum"] = *minimum;
  if (maximum) s["maximum"] = *maximum;
  return s;
}

Json string_schema(const std::vector<std::string>& allowed) {
  Json s = {{"type", "string"}};
  if (!allowed.empty()) s["enum"] = allowed;
  return s;
}

Json with_description(Json schema, const std::string& description) {
  schema["description"] = description;
  return schema;
}

Json requiring(Json object_schema, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    if (!object_schema["properties"].contains(k))
      throw MarrowError(ErrorCode::kInternal, "requiring: the schema has no key '" + k + "'");
    object_schema["required"].push_back(k);
  }
  return object_schema;
}

Doc& Doc::describe(std::string text) {
  description_ = std::move(text);
  return *this;
}

Doc& Doc::query(std::string name, Json schema, std::string description, bool required) {
  params_.push_back({std::move(name), std::move(description), std::move(schema), required});
  return *this;
}

Doc& Doc::json_body(Json schema, Json example, bool required) {
  bodies_.push_back({"application/json", std::move(schema), std::move(example), "", required});
  return *this;
}

Doc& Doc::body(std::string media_type, Json schema, std::string description) {
  bodies_.push_back({std::move(media_type), std::move(schema), nullptr, std::move(description), true});
  return *this;
}

Doc& Doc::or_body(std::string media_type, Json schema) {
  if (bodies_.empty()) throw MarrowError(ErrorCode::kInternal, "Doc::or_body without a body");
  Body b = bodies_.back();
  b.media_type = std::move(media_type);
  b.schema = std::move(schema);
  bodies_.push_back(std::move(b));
  return *this;
}

Doc& Doc::answers(int status, Json schema, std::string description, Json example) {
  success_.push_back({status, "application/json", std::move(schema), std::move(example), std::move(description), {}});
  return *this;
}

Doc& Doc::file(int status, std::string media_type, std::string description) {
  success_.push_back({status, std::move(media_type), nullptr, nullptr, std::move(description), {}});
  return *this;
}

Doc& Doc::no_content(std::string description) { return no_body(204, std::move(description)); }

Doc& Doc::no_body(int status, std::string description) {
  success_.push_back({status, "", nullptr, nullptr, std::move(description), {}});
  return *this;
}

Doc& Doc::header(std::string name, std::string description) {
  if (success_.empty()) throw MarrowError(ErrorCode::kInternal, "Doc::header before an answer");
  success_.back().headers.emplace_back(std::move(name), std::move(description));
  return *this;
}

Doc& Doc::error(int status, std::string when) {
  errors_.emplace_back(status, std::move(when));
  return *this;
}

}  // namespace ms::server
