#pragma once
// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks. Used for patient import
// and export.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ms::store {

using CsvRow = std::vector<std::string>;
// Parses the whole text; a UTF-8 BOM and a final newline are accepted, CRLF or LF. The error
// names `source` and the line of an unterminated quote. More than `max_records` records (blank
// lines do not count) is kTooLarge, found before the rest of the text is read.
Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& source,
                                      std::size_t max_records = SIZE_MAX);
// One line (with "\r\n") quoting fields that need it. Fields a spreadsheet would run as a formula
// (starting with = + - @, a TAB or a CR; core/csv_formula.h) are prefixed with '.
std::string csv_line(const CsvRow& fields);

}  // namespace ms::store
