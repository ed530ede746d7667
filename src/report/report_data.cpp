#include "report/report_data.h"

namespace ms {

std::string signer_text(const SignOff& s) {
  if (s.username.empty() || s.username == s.signed_by) return s.signed_by;
  if (s.signed_by.empty()) return s.username;
  return s.signed_by + " (" + s.username + ")";
}

Json report_to_json(const ReportData& report) { return config_to_json(report); }

Result<ReportData> report_from_json(const Json& j, const std::string& source) {
  auto r = parse_config<ReportData>(j, source);
  if (!r) return r;
  const std::string path = (source.empty() ? "" : source + ":") + "$.differential";
  if (auto s = validate_differential_snapshot(r->differential, path); !s)
    return tl::unexpected(s.error());
  return r;
}

}  // namespace ms
