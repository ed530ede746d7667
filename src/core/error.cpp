#include "core/error.h"

namespace ms {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kCorruptInput: return "corrupt_input";
    case ErrorCode::kUnsupportedFormat: return "unsupported_format";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kIo: return "io_error";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

tl::unexpected<Error> fail(ErrorCode code, std::string_view input, std::string_view expected,
                           std::string_view found) {
  std::string m(input);
  m += ": expected ";
  m += expected;
  m += ", found ";
  m += found;
  return tl::unexpected<Error>(Error{code, std::move(m)});
}

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 2;
    case ErrorCode::kNotFound: return 3;
    case ErrorCode::kCorruptInput:
    case ErrorCode::kUnsupportedFormat:
    case ErrorCode::kTooLarge: return 4;
    case ErrorCode::kIo: return 5;
    default: return 1;
  }
}

}  // namespace ms
