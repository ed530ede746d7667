#pragma once
// The one place error codes become HTTP statuses (docs/STYLE.md "Errors"), and the JSON shape of
// every error response: {"error": {"code": "not_found", "message": "..."}}.
#include <map>

#include "core/config.h"
#include "core/error.h"

namespace ms::server {

// 400 invalid_argument, 401 unauthenticated, 403 permission_denied, 404 not_found,
// 409 conflict, 413 too_large, 415 unsupported_format, 422 corrupt_input; kIo / kInternal 500.
int http_status(ErrorCode code);
// The code whose status this is (for errors httplib raises itself, e.g. 413 on a long body).
ErrorCode error_code_for_status(int status);
Json error_json(const Error& e, const Json& details = nullptr);
// Statuses the HTTP layer answers that the application's error codes do not cover, with the
// code their error carries (405 method_not_allowed, 408 timeout, 503 unavailable, ...).
const std::map<int, const char*>& transport_error_codes();

}  // namespace ms::server
