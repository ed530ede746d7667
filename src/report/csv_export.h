#pragma once
// CSV export of a differential report (RFC 4180: comma-separated, CRLF line ends, fields with a
// comma, quote or line break quoted, quotes doubled). One header row, then:
//   meta rows       report, patient and sample identifiers, status, reviewer, sign-off
//   class rows      one per taxonomy class in hematology order
//   summary rows    totals, blasts with the interval, M:E, I:Mg, count target, unreviewed
//   suggestion rows one per rule set
// Columns: section,id,name_en,name_zh,count,value,unit,display,reference_low,reference_high,flag,
// review. "review" is review_only_mark().code on the rows of review-only classes, which are then
// followed by a meta row "review_only_note" (the note in display, its Chinese in name_zh).
// Text that a spreadsheet would run as a formula (starting with = + - @, a tab or a CR; the guard
// of core/csv_formula.h, shared with the patient CSV) is prefixed with an apostrophe (OWASP "CSV
// injection").
#include <string>
#include <string_view>

#include "report/report_data.h"

namespace ms {

struct CsvOptions {
  bool utf8_bom = false;  // Excel needs a BOM to read UTF-8 (the Chinese names) correctly
};

std::string report_to_csv(const ReportData& report, const CsvOptions& options = {});

// One field, quoted when needed (exposed for tests).
std::string csv_field(std::string_view text);

}  // namespace ms
