#pragma once
// Spreadsheet formula injection (OWASP "CSV Injection"): Excel, LibreOffice and Google Sheets run
// a cell whose text starts with = + - or @ as a formula, and also one that starts with a TAB or a
// carriage return (or spaces) followed by such text. Every CSV writer of the app (patient export,
// crop-ZIP manifest, report CSV) puts user text through this one guard, which prefixes an
// apostrophe: the spreadsheet shows the text as typed and runs nothing.
#include <string>
#include <string_view>

namespace ms {

// True when a spreadsheet could read `text` as a formula.
bool csv_formula_risk(std::string_view text);
// `text` with a leading apostrophe when csv_formula_risk(text), else unchanged.
std::string csv_formula_guard(std::string_view text);

}  // namespace ms
