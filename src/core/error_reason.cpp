#include "core/error_reason.h"

#include <set>

namespace ms {

const std::vector<ReasonText>& all_reasons() {
  static const std::vector<ReasonText> reasons = {
      {Reason::kTriesLeft, "tries_left",
       "wrong username or password; {n} tries left before sign-in is locked for {minutes} minutes"},
      {Reason::kLastTry, "last_try",
       "wrong username or password; 1 try left before sign-in is locked for {minutes} minutes"},
      {Reason::kLockedNow, "locked_now", "wrong username or password; sign-in is now locked for {minutes} minutes"},
      {Reason::kThrottledAddress, "throttled_address",
       "too many failed sign-ins from this address; try again in {minutes} minutes"},
      {Reason::kThrottledAccount, "throttled_account",
       "too many failed sign-ins for '{name}' from this address; try again in {minutes} minutes"},
      {Reason::kAwaitingApproval, "awaiting_approval", "account '{name}' is waiting for an administrator to enable it"},
      {Reason::kSignInFirst, "sign_in_first", "sign in first (no valid session cookie)"},
      {Reason::kRoleNotAllowed, "role_not_allowed", "role '{role}' may not do this (needs {needs})"},
      {Reason::kSampleSignedCells, "sample_signed_cells",
       "sample {sample} is signed and locked; cells can no longer be changed (add an addendum to the report instead)"},
      {Reason::kSampleSigned, "sample_signed", "sample {sample} is signed and locked; later changes need an addendum"},
      {Reason::kSampleSignedJob, "sample_signed_job",
       "sample {sample} is signed and locked: job {job} cannot run again (its cells would change a signed "
       "sample; add an addendum to the report instead)"},
      {Reason::kOnlyDoctorsConfirm, "only_doctors_confirm",
       "only doctors and admins confirm cells; technicians may reclassify them"},
      {Reason::kCellsUnreviewed, "cells_unreviewed",
       "sample {sample}: {n} of {total} cells are unreviewed (still the model's suggestion); review them, or "
       "sign with \"allow_unreviewed\": true"},
      {Reason::kUnknownClasses, "unknown_classes",
       "sample {sample}: cells of classes the taxonomy '{taxonomy}' does not know: {classes}; reclassify them "
       "before signing"},
      {Reason::kNoFinishedAnalysis, "no_finished_analysis",
       "image {image} has no finished analysis yet; add cells once its analysis is done"},
      {Reason::kUploadOffsetMismatch, "upload_offset_mismatch",
       "This upload has {received} bytes; send the part that starts there"},
      {Reason::kUploadIncomplete, "upload_incomplete",
       "The upload has {received} of {bytes} bytes; send the rest before finishing it"},
      {Reason::kNotASlide, "not_a_slide",
       "{filename} is not a slide this server reads (OpenSlide: Aperio, Hamamatsu, MIRAX, Leica, Philips, "
       "Ventana or a tiled pyramidal TIFF)"},
      {Reason::kAreaOutsideSlide, "area_outside_slide",
       "The area must lie inside the slide ({width} x {height} pixels)"},
      {Reason::kAreaTooLarge, "area_too_large",
       "An area may be at most {max} megapixels; draw a smaller one or several"},
      {Reason::kAreasNeedASlide, "areas_need_a_slide",
       "Areas are analysed on slides; a field is analysed whole when it is uploaded"},
      {Reason::kAreaOverlaps, "area_overlaps",
       "The area overlaps one already analysed or queued (job {job}); its cells would count twice. Draw it beside"},
  };
  return reasons;
}

const ReasonText& reason_text(Reason r) {
  for (const auto& t : all_reasons())
    if (t.reason == r) return t;
  throw MarrowError(ErrorCode::kInternal, "error reason without a text");
}

std::string format_reason(Reason r, const ReasonParams& params) {
  const ReasonText& t = reason_text(r);
  std::string out;
  std::set<std::string> used;
  const std::string_view s = t.template_;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '{') {
      out += s[i++];
      continue;
    }
    const std::size_t end = s.find('}', i);
    if (end == std::string_view::npos)
      throw MarrowError(ErrorCode::kInternal, "unclosed placeholder in reason " + std::string(t.name));
    const std::string name(s.substr(i + 1, end - i - 1));
    bool found = false;
    for (const auto& [k, v] : params)
      if (k == name) {
        out += v;
        found = true;
        break;
      }
    if (!found)
      throw MarrowError(ErrorCode::kInternal,
                        "reason " + std::string(t.name) + " needs a value for {" + name + "}");
    used.insert(name);
    i = end + 1;
  }
  for (const auto& [k, v] : params)
    if (!used.count(k))
      throw MarrowError(ErrorCode::kInternal, "reason " + std::string(t.name) + " has no placeholder {" + k + "}");
  return out;
}

Error reason_error(ErrorCode code, Reason r, ReasonParams params) {
  Error e;
  e.code = code;
  e.message = format_reason(r, params);
  e.reason = std::string(reason_text(r).name);
  e.params = std::move(params);
  return e;
}

}  // namespace ms
