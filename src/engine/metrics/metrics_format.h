#pragma once
// Small text helpers shared by the metrics writers (CSV now; the HTML report escapes separately).
#include <string>

namespace ms {

// A CSV field per RFC 4180: quoted (with inner quotes doubled) when it holds a comma, a quote or
// a line break; unchanged otherwise.
std::string csv_field(const std::string& s);

}  // namespace ms
