#pragma once
// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks. Used for patient import
// and export.
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ms::store {

using CsvRow = std::vector<std::string>;
// Parses the whole text; a UTF-8 BOM and a final newline are accepted, CRLF or LF. The error
// names `source` and the line of an unterminated quote.
Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& source);
// One line (with "\r\n") quoting fields that need it. Fields starting with = + - @ are prefixed
// with ' so spreadsheets do not run them as formulas (OWASP CSV injection).
std::string csv_line(const CsvRow& fields);

}  // namespace ms::store
