#pragma once
// The refusals a person meets in the app, each with a stable name and one English template.
// The template is the only place its words are written: the server formats the message from it,
// the OpenAPI document lists every name with its template (Error.reason), and the web app's
// English and Chinese texts are checked against that list, so a changed message cannot leave a
// translation behind. Placeholders are {name}; each is one of the error's params.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ms {

enum class Reason {
  kTriesLeft,           // {n} (2 or more), {minutes}
  kLastTry,             // {minutes}
  kLockedNow,           // {minutes}
  kThrottledAddress,    // {minutes}
  kThrottledAccount,    // {name}, {minutes}
  kAwaitingApproval,    // {name}
  kSignInFirst,
  kRoleNotAllowed,      // {role}, {needs}
  kSampleSignedCells,   // {sample}
  kSampleSigned,        // {sample}
  kSampleSignedJob,     // {sample}, {job}
  kOnlyDoctorsConfirm,
  kCellsUnreviewed,     // {sample}, {n}, {total}
  kUnknownClasses,      // {sample}, {taxonomy}, {classes}
  kNoFinishedAnalysis,  // {image}
  kUploadOffsetMismatch,  // {received}
  kUploadIncomplete,      // {received}, {bytes}
  kNotASlide,             // {filename}
  kAreaOutsideSlide,      // {width}, {height}
  kAreaTooLarge,          // {max}
  kAreasNeedASlide,
  kAreaOverlaps,          // {job}; the last: tests count the reasons up to it
};

struct ReasonText {
  Reason reason;
  std::string_view name;      // "tries_left"
  std::string_view template_; // "wrong username or password; {n} tries left ..."
};

// Every reason, in declaration order.
const std::vector<ReasonText>& all_reasons();
const ReasonText& reason_text(Reason r);

using ReasonParams = std::vector<std::pair<std::string, std::string>>;

// The template with each {name} replaced by its value; a placeholder without a value, or a value
// for no placeholder, is a programming error (thrown).
std::string format_reason(Reason r, const ReasonParams& params);

// An Error of `code` whose message is the reason's template filled in.
Error reason_error(ErrorCode code, Reason r, ReasonParams params = {});
inline tl::unexpected<Error> fail(ErrorCode code, Reason r, ReasonParams params = {}) {
  return tl::unexpected<Error>(reason_error(code, r, std::move(params)));
}

}  // namespace ms
