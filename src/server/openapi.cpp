// Api::openapi: the OpenAPI 3.1 document of every registered route, from the routes' Docs and
// the shared schemas. Errors every route of a kind answers (401 without a session, 403 for a
// role or a missing CSRF header, 404 for an unknown id, 400/413/415 for bad input) are added
// here once, so a route's Doc lists only what is particular to it.
#include <cctype>
#include <map>
#include <set>

#include "server/api.h"
#include "server/api_schemas.h"
#include "server/http_error.h"

namespace ms::server {
namespace {

constexpr const char* kIntro =
    "JSON over HTTP for the Marrowscope lab server: patients, samples, field images and their "
    "analysis jobs, the cells the models found, their review (reclassify, confirm, audit, undo), "
    "differentials, signed reports and exports.\n\n"
    "**Signing in.** `POST /api/auth/login` with `{\"username\", \"password\"}` sets the "
    "`ms_session` cookie (HttpOnly, SameSite=Strict) and answers `{user, csrf_token}`. Send the "
    "cookie with every request, and `X-CSRF-Token: <csrf_token>` with every POST, PUT, PATCH and "
    "DELETE (`GET /api/session` gives the token again). Sessions end after 12 h idle, 7 days after "
    "sign-in, at logout and on a password change.\n\n"
    "**Roles.** *staff* = admin, doctor, technician; doctors and admins confirm cells and sign "
    "reports; viewers read. Each operation says who may call it.\n\n"
    "**Errors.** Every 4xx and 5xx answer is `{\"error\": {\"code\", \"message\", \"details\"?}}` "
    "(schema `Error`); the message names the input, what was expected and what was found.\n\n"
    "**Conventions.** Times are Unix milliseconds (UTC) unless a field says ISO 8601. JSON bodies "
    "need `Content-Type: application/json` and at most 256 KiB; unknown keys are refused (400 "
    "naming them). Lists answer `{items, total, ...}`.";

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// "/api/samples/(\d+)/report\.csv" -> "/api/samples/{id}/report.csv" and its path parameters.
std::string openapi_path(const std::string& pattern, Json& params) {
  std::string path;
  int n = 0;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 5, "(\\d+)") == 0) {
      const std::string name = n == 0 ? "id" : "id" + std::to_string(n + 1);
      path += "{" + name + "}";
      params.push_back({{"name", name}, {"in", "path"}, {"required", true},
                        {"description", "numeric id (an id that does not exist answers 404)"},
                        {"schema", {{"type", "integer"}, {"minimum", 0}}}});
      ++n;
      i += 5;
    } else if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      path += pattern[i + 1];  // a regex escape (report\.csv) is a literal character
      i += 2;
    } else {
      path += pattern[i++];
    }
  }
  return path;
}

std::string operation_id(const std::string& method, const std::string& path) {
  std::string id = lower(method);
  bool sep = true;
  for (char ch : path.substr(4)) {  // after "/api"
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      id += sep ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
      sep = false;
    } else {
      sep = true;
    }
  }
  return id;
}

Json error_answer(const std::string& description) {
  return {{"description", description},
          {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
}

bool changes_state(const std::string& method) { return method != "GET"; }

}  // namespace

Json Api::openapi() const {
  Json paths = Json::object();
  std::set<std::string> tags;
  for (const auto& r : routes_) {
    const Doc& d = r.doc;
    Json params = Json::array();
    const std::string path = openapi_path(r.pattern, params);
    const bool has_id = !params.empty();
    for (const auto& q : d.params()) {
      Json p = {{"name", q.name}, {"in", "query"}, {"required", q.required}, {"schema", q.schema}};
      if (!q.description.empty()) p["description"] = q.description;
      params.push_back(p);
    }
    const std::string tag = path.substr(5, path.find('/', 5) == std::string::npos ? std::string::npos
                                                                                  : path.find('/', 5) - 5);
    tags.insert(tag);
    Json op = {{"summary", d.summary()},
               {"operationId", operation_id(r.method, path)},
               {"tags", Json::array({tag})}};
    std::string description = std::string("**Who:** ") + access_text(r.access) + ".";
    if (!d.description().empty()) description += "\n\n" + d.description();
    op["description"] = description;
    if (!params.empty()) op["parameters"] = params;

    bool json_body = false, other_body = false;
    if (!d.bodies().empty()) {
      Json content = Json::object();
      bool required = true;
      std::string body_description;
      for (const auto& b : d.bodies()) {
        Json media = {{"schema", b.schema}};
        if (!b.example.is_null()) media["example"] = b.example;
        content[b.media_type] = media;
        required = required && b.required;
        if (!b.description.empty()) body_description = b.description;
        (b.media_type == "application/json" ? json_body : other_body) = true;
      }
      op["requestBody"] = {{"required", required}, {"content", content}};
      if (!body_description.empty()) op["requestBody"]["description"] = body_description;
    }

    Json responses = Json::object();
    for (const auto& a : d.success()) {
      Json answer = {{"description", a.description}};
      if (!a.media_type.empty()) {
        Json media = a.schema.is_null() ? Json{{"schema", {{"type", "string"}, {"format", "binary"}}}}
                                        : Json{{"schema", a.schema}};
        if (!a.example.is_null()) media["example"] = a.example;
        answer["content"][a.media_type] = media;
      }
      for (const auto& [name, text] : a.headers)
        answer["headers"][name] = {{"description", text}, {"schema", {{"type", "string"}}}};
      responses[std::to_string(a.status)] = answer;
    }
    // Errors every route of this kind may answer, then the route's own (which may say more).
    std::map<int, std::string> errors;
    if (!d.params().empty() || json_body || other_body)
      errors[400] = "invalid input: the message names the parameter or the JSON path";
    if (r.access != Access::kPublic) errors[401] = "no valid session cookie";
    if (r.access != Access::kPublic && (changes_state(r.method) || r.access != Access::kAnyUser))
      errors[403] = std::string(changes_state(r.method) ? "missing or wrong X-CSRF-Token header, or " : "") +
                    "a role that may not do this (needs " + access_text(r.access) + ")";
    if (has_id) errors[404] = "no such object (or one the caller may not see)";
    if (json_body || other_body) errors[413] = "the body is larger than this route accepts";
    if (json_body) errors[415] = "Content-Type is not application/json";
    if (other_body) errors[415] = "not a supported upload (see the request body)";
    errors[500] = "an internal failure; the message carries a reference that is also in the server log";
    for (const auto& [status, when] : d.errors())
      errors[status] = errors.count(status) && status != 500 ? errors[status] + "; " + when : when;
    for (const auto& [status, when] : errors) {
      Json answer = error_answer(when);
      if (status == 403 || status == 503)
        answer["headers"]["Retry-After"] = {{"description", "seconds, when throttled"}, {"schema", {{"type", "integer"}}}};
      responses[std::to_string(status)] = answer;
    }
    responses["default"] = error_answer(
        "an answer of the HTTP layer: 405 (other methods; Allow lists them), 408, 411, 414, 431, "
        "503 (with Retry-After), 505");
    op["responses"] = responses;
    if (r.access == Access::kPublic) op["security"] = Json::array({Json::object(), {{"session", Json::array()}}});
    else if (changes_state(r.method)) op["security"] = Json::array({{{"session", Json::array()}, {"csrf", Json::array()}}});
    else op["security"] = Json::array({{{"session", Json::array()}}});
    paths[path][lower(r.method)] = op;
  }
  Json tag_list = Json::array();
  for (const auto& t : tags) tag_list.push_back({{"name", t}});
  return {{"openapi", "3.1.0"},
          {"info", {{"title", "Marrowscope lab server"},
                    {"version", "1.0.0"},
                    {"description", kIntro}}},
          {"servers", Json::array({{{"url", "/"}}})},
          {"tags", tag_list},
          {"paths", paths},
          {"components",
           {{"securitySchemes",
             {{"session", {{"type", "apiKey"}, {"in", "cookie"}, {"name", kSessionCookie},
                           {"description", "set by POST /api/auth/login"}}},
              {"csrf", {{"type", "apiKey"}, {"in", "header"}, {"name", kCsrfHeader},
                        {"description", "the csrf_token of POST /api/auth/login or GET /api/session; "
                                        "required with the session on POST, PUT, PATCH and DELETE"}}}}},
            {"schemas", api_components()}}}};
}

}  // namespace ms::server
