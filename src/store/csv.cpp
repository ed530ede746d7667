#include "store/csv.h"

#include "core/csv_formula.h"

namespace ms::store {

Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& source,
                                      std::size_t max_records) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<CsvRow> rows;
  std::size_t records = 0;  // rows that are not blank lines
  CsvRow row;
  std::string field;
  bool in_quotes = false, field_started = false;
  int line = 1, quote_line = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      in_quotes = true;
      field_started = true;
      quote_line = line;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
      if (!(row.size() == 1 && row[0].empty()) && ++records > max_records)
        return fail(ErrorCode::kTooLarge, source, "at most " + std::to_string(max_records) + " rows",
                    "more (line " + std::to_string(line) + ")");
      rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (in_quotes)
    return fail(ErrorCode::kInvalidArgument, source + " line " + std::to_string(quote_line),
                "a closing quote", "end of file");
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    if (!(row.size() == 1 && row[0].empty()) && ++records > max_records)
      return fail(ErrorCode::kTooLarge, source, "at most " + std::to_string(max_records) + " rows",
                  "more (line " + std::to_string(line) + ")");
    rows.push_back(std::move(row));
  }
  // Blank lines carry no record.
  std::vector<CsvRow> out;
  for (auto& r : rows)
    if (!(r.size() == 1 && r[0].empty())) out.push_back(std::move(r));
  return out;
}

std::string csv_line(const CsvRow& fields) {
  std::string out;
  for (std::size_t k = 0; k < fields.size(); ++k) {
    if (k) out += ',';
    const std::string f = csv_formula_guard(fields[k]);
    if (f.find_first_of(",\"\r\n") != std::string::npos) {
      out += '"';
      for (char c : f) {
        if (c == '"') out += '"';
        out += c;
      }
      out += '"';
    } else {
      out += f;
    }
  }
  out += "\r\n";
  return out;
}

}  // namespace ms::store
