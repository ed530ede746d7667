#pragma once
// The printable report: one self-contained HTML page (inline print CSS, A4, no scripts, no
// external resources) rendered from a ReportData. Layout after DOMAIN.md "Report and
// interoperability": identifiers, specimen, cells counted, the differential table with
// reference ranges and flags, M:E, blast % with its interval, comments, suggestions with the
// morphology-only disclaimer, reviewer, time, signature. A report that is not signed carries a
// "PRELIMINARY" banner with the number of unreviewed cells. All user text is HTML-escaped.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/html_escape.h"
#include "report/report_data.h"

namespace ms {

enum class Language { kEnglish, kChinese };
const std::vector<std::pair<Language, std::string>>& enum_names(Language);  // en|zh


std::string render_report_html(const ReportData& report, Language language = Language::kEnglish);

}  // namespace ms
