#include "core/csv_formula.h"

namespace ms {

bool csv_formula_risk(std::string_view text) {
  if (text.empty()) return false;
  if (text[0] == '\t' || text[0] == '\r') return true;
  // Leading spaces are skipped by some spreadsheets before they look for a formula.
  const std::size_t first = text.find_first_not_of(' ');
  if (first == std::string_view::npos) return false;
  const char c = text[first];
  return c == '=' || c == '+' || c == '-' || c == '@' || (first > 0 && (c == '\t' || c == '\r'));
}

std::string csv_formula_guard(std::string_view text) {
  if (!csv_formula_risk(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 1);
  out += '\'';
  out += text;
  return out;
}

}  // namespace ms
