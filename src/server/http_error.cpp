#include "server/http_error.h"

namespace ms::server {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kTooLarge: return 413;
    case ErrorCode::kUnsupportedFormat: return 415;
    case ErrorCode::kCorruptInput: return 422;
    case ErrorCode::kIo:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

ErrorCode error_code_for_status(int status) {
  switch (status) {
    case 400: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthenticated;
    case 403: return ErrorCode::kPermissionDenied;
    case 404: return ErrorCode::kNotFound;
    case 409: return ErrorCode::kConflict;
    case 413: return ErrorCode::kTooLarge;
    case 415: return ErrorCode::kUnsupportedFormat;
    case 422: return ErrorCode::kCorruptInput;
    default: return status < 500 ? ErrorCode::kInvalidArgument : ErrorCode::kInternal;
  }
}

Json error_json(const Error& e, const Json& details) {
  Json err = {{"code", std::string(error_code_name(e.code))}, {"message", e.message}};
  if (!details.is_null()) err["details"] = details;
  if (!e.reason.empty()) {
    err["reason"] = e.reason;
    Json params = Json::object();
    for (const auto& [k, v] : e.params) params[k] = v;
    err["params"] = params;
  }
  return Json{{"error", err}};
}

const std::map<int, const char*>& transport_error_codes() {
  static const std::map<int, const char*> codes = {
      {405, "method_not_allowed"}, {408, "timeout"}, {411, "length_required"},
      {414, "too_large"}, {417, "invalid_argument"}, {431, "too_large"},
      {503, "unavailable"}, {505, "unsupported_version"}};
  return codes;
}

}  // namespace ms::server
