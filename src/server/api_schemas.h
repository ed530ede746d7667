#pragma once
// Internal to src/server: the shapes the API's answers share, by name, for the components of
// /api/openapi.json (route_doc.h's ref("Cell") points here). Each comes from the struct whose
// visit() list writes it (core/json_schema.h), plus the keys its to_json adds; the server tests
// validate every answer against these, so a key added to a to_json without its line here (or
// a line whose key is gone) fails them.
#include "core/config.h"

namespace ms::server {

// {"Error": ..., "User": ..., "Cell": ..., ...}: every named schema of the document.
const Json& api_components();

// The error codes an answer's error.code may carry (the application's, then the HTTP layer's).
Json error_code_names();

}  // namespace ms::server
