#pragma once
// Errors. Two tiers (docs/STYLE.md): input we do not control returns Result<T> (an Error value
// whose message names the input, what was expected and what was found); broken invariants throw
// MarrowError. One enum serves the CLI (exit codes) and the server (HTTP statuses).
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace ms {

enum class ErrorCode {
  kInvalidArgument,   // malformed input: bad JSON, a missing field, a value out of range
  kNotFound,          // a file, id or key that does not exist (or is not visible)
  kCorruptInput,      // bytes that claim a format but do not decode (truncated image, bad XML)
  kUnsupportedFormat, // a format we do not read
  kTooLarge,          // over a byte or pixel limit
  kConflict,          // the state forbids it (duplicate, locked, signed)
  kUnauthenticated,
  kPermissionDenied,
  kIo,                // the OS failed us (disk full, permission on a path)
  kInternal,          // a bug: an invariant broke
};

std::string_view error_code_name(ErrorCode code);  // "invalid_argument", ...

struct Error {
  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // For the refusals a person meets in the app (core/error_reason.h): a stable name and the
  // values its message quotes, so a client can say it in the reader's language. Empty otherwise.
  std::string reason;
  std::vector<std::pair<std::string, std::string>> params;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
// "<input>: expected <expected>, found <found>"
tl::unexpected<Error> fail(ErrorCode code, std::string_view input, std::string_view expected,
                           std::string_view found);

// Thrown for broken invariants and by value_or_throw() where a caller cannot go on.
class MarrowError : public std::runtime_error {
 public:
  MarrowError(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  explicit MarrowError(const Error& e) : MarrowError(e.code, e.message) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

template <typename T>
T value_or_throw(Result<T> r) {
  if (!r) throw MarrowError(r.error());
  return std::move(*r);
}
inline void value_or_throw(Status s) {
  if (!s) throw MarrowError(s.error());
}

// Process exit status for an error code (CLI); 0 is never returned.
int exit_code_for(ErrorCode code);

#define MS_CHECK(cond, msg)                                                               \
  do {                                                                                    \
    if (!(cond))                                                                          \
      throw ::ms::MarrowError(::ms::ErrorCode::kInternal,                                 \
                              std::string("check failed: " #cond ": ") + std::string(msg)); \
  } while (0)

}  // namespace ms
