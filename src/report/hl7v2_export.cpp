#include "report/hl7v2_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>

#include "report/fhir_export.h"

namespace ms {

std::string hl7_escape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (c) {
      case '|':
        out += "\\F\\";
        break;
      case '^':
        out += "\\S\\";
        break;
      case '&':
        out += "\\T\\";
        break;
      case '~':
        out += "\\R\\";
        break;
      case '\\':
        out += "\\E\\";
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        out += "\\.br\\";
        break;
      case '\n':
        out += "\\.br\\";
        break;
      default:
        // Other C0 controls are dropped: 0x0B and 0x1C frame MLLP messages, NUL ends C strings
        // in receivers, and none of them has a meaning inside an HL7 field.
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
  }
  return out;
}

std::string hl7_timestamp(const std::string& iso) {
  static const std::regex re(
      R"((\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)");
  std::smatch m;
  if (!std::regex_match(iso, m, re)) return "";
  std::string out = m[1].str() + m[2].str() + m[3].str();
  if (!m[4].matched) return out;
  out += m[4].str() + m[5].str();
  if (m[6].matched) out += m[6].str();
  if (m[7].matched) out += "." + m[7].str().substr(0, 4);  // DTM carries at most 4 decimals
  if (m[8].matched) {
    const std::string zone = m[8].str();
    out += zone == "Z" ? "+0000" : zone.substr(0, 3) + zone.substr(4, 2);
  }
  return out;
}

namespace {

// A segment from its name and fields by position (1-based); missing positions stay empty.
std::string segment(const std::string& name, const std::map<int, std::string>& fields) {
  const int last = fields.empty() ? 0 : fields.rbegin()->first;
  std::string out = name;
  for (int i = 1; i <= last; ++i) {
    out += '|';
    if (auto it = fields.find(i); it != fields.end()) out += it->second;
  }
  return out + "\r";
}

// HL7 table 0001 (administrative sex) from the sex as recorded.
std::string administrative_sex(std::string sex) {
  std::transform(sex.begin(), sex.end(), sex.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sex == "m" || sex == "male" || sex == "男") return "M";
  if (sex == "f" || sex == "female" || sex == "女") return "F";
  if (sex == "o" || sex == "other") return "O";
  return "U";
}

const char* flag_code(RangeFlag f) {
  return f == RangeFlag::kHigh     ? "H"
         : f == RangeFlag::kLow    ? "L"
         : f == RangeFlag::kNormal ? "N"
                                   : "";
}

std::string range_field(const std::optional<ReferenceRange>& r, int decimals) {
  return r ? format_fixed(r->low, decimals) + "-" + format_fixed(r->high, decimals) : "";
}

Status check_time(const std::string& value, const std::string& field) {
  if (value.empty() || !hl7_timestamp(value).empty()) return {};
  return fail(ErrorCode::kInvalidArgument, field,
              "an ISO 8601 date or date-time (YYYY-MM-DD[Thh:mm[:ss][Z|+hh:mm]])",
              "\"" + value + "\"");
}

}  // namespace

Result<std::string> report_to_hl7v2(const ReportData& r, const Hl7Options& options) {
  if (r.report_id.empty())
    return fail(ErrorCode::kInvalidArgument, "report_id", "a non-empty identifier", "\"\"");
  if (r.patient.id.empty())
    return fail(ErrorCode::kInvalidArgument, "patient.id", "a non-empty identifier", "\"\"");
  for (const auto& [value, field] :
       {std::pair{r.sample.collected_at, "sample.collected_at"},
        std::pair{r.generated_at, "generated_at"},
        std::pair{r.patient.birth_date, "patient.birth_date"},
        std::pair{r.sign_off ? r.sign_off->signed_at : std::string(), "sign_off.signed_at"}})
    if (auto s = check_time(value, field); !s) return tl::unexpected(s.error());

  const Differential& d = r.differential;
  const bool marrow = d.specimen == Specimen::kBoneMarrow;
  const std::string status = r.is_final() ? "F" : "P";
  const std::string reported = hl7_timestamp(r.sign_off ? r.sign_off->signed_at : r.generated_at);
  const std::string collected = hl7_timestamp(r.sample.collected_at);
  std::string control_id = options.message_control_id;
  if (control_id.empty()) {
    // MSH-10 holds at most 20 characters; a hash of the report id fits and is stable.
    control_id = deterministic_uuid(r.report_id + "/hl7");
    control_id.erase(std::remove(control_id.begin(), control_id.end(), '-'), control_id.end());
    control_id.resize(20);
  }

  std::string msg = "MSH|^~\\&|" + hl7_escape(options.sending_application) + "|" +
                    hl7_escape(options.sending_facility) + "|" +
                    hl7_escape(options.receiving_application) + "|" +
                    hl7_escape(options.receiving_facility) + "|" + reported + "||ORU^R01^ORU_R01|" +
                    hl7_escape(control_id) + "|" + (options.production ? "P" : "T") + "|2.5.1\r";
  msg += segment("PID", {{1, "1"},
                         {3, hl7_escape(r.patient.id) + "^^^^MR"},
                         {5, hl7_escape(r.patient.name)},
                         {7, hl7_timestamp(r.patient.birth_date)},
                         {8, administrative_sex(r.patient.sex)}});
  const std::string panel = marrow ? "47286-0^Bone marrow differential panel^LN"
                                   : "24318-8^Manual differential panel, blood^LN";
  std::map<int, std::string> obr{{1, "1"},       {3, hl7_escape(r.sample.accession)},
                                 {4, panel},     {7, collected},
                                 {22, reported}, {24, "HM"},
                                 {25, status}};
  // OBR-32 principal result interpreter (NDL; its first component a CNN: ID number & name): the
  // account name identifies the signer, the display name is only what they chose to be called.
  if (r.sign_off)
    obr[32] = r.sign_off->username.empty()
                  ? hl7_escape(r.sign_off->signed_by)
                  : hl7_escape(r.sign_off->username) + "&" + hl7_escape(r.sign_off->signed_by);
  msg += segment("OBR", obr);

  int nte = 0;
  auto note = [&](const std::string& text) {
    msg += segment("NTE", {{1, std::to_string(++nte)}, {2, "L"}, {3, hl7_escape(text)}});
  };
  if (!r.is_final() && d.unreviewed > 0)
    note(fmt::format("PRELIMINARY: {} cells unreviewed.", d.unreviewed));
  note("Cells counted: " + std::to_string(d.denominator) + (marrow ? " nucleated" : " WBC") +
       " (target " + std::to_string(d.progress.target) +
       "); excluded: " + std::to_string(d.total_excluded) + ".");
  if (d.blasts.percent) note("Blasts: " + d.blasts.display + ".");
  if (!r.comments.empty()) note("Comments: " + r.comments);
  for (const auto& s : report_statements(r)) note(s.en);
  for (const auto& s : r.suggestions) note(rule_set_title(s.rule_set) + ": " + s.text.en);
  if (!r.suggestions.empty()) note(morphology_disclaimer().en);
  if (has_review_only_rows(d)) note(review_only_mark().note.en);

  int obx = 0;
  for (const auto& row : d.rows) {
    std::map<int, std::string> f{{1, std::to_string(++obx)},
                                 {2, "NM"},
                                 {3, hl7_escape(row.id) + "^" + hl7_escape(row.names.en) + "^L"},
                                 {11, status},
                                 {14, collected}};
    if (row.review_only) {
      const ReviewOnlyMark& mark = review_only_mark();
      f[17] = hl7_escape(mark.code) + "^" + hl7_escape(mark.label.en) + "^L";
    }
    const std::optional<double> value = row.per_100_wbc ? row.per_100_wbc : row.percent;
    if (!row.counted) {
      f[5] = std::to_string(row.count);
      f[6] = "{cells}^cells^UCUM";
    } else if (value) {
      f[5] = format_fixed(*value, d.decimals);
      f[6] = row.per_100_wbc ? "/100{WBCs}^/100 WBC^UCUM" : "%^%^UCUM";
      f[7] = range_field(row.range, 0);
      f[8] = flag_code(row.flag);
    } else {
      f[11] = "X";  // result cannot be obtained: nothing counted
    }
    msg += segment("OBX", f);
  }
  if (marrow && d.me_ratio && d.me_ratio->value) {
    msg += segment("OBX", {{1, std::to_string(++obx)},
                           {2, "NM"},
                           {3, "11138-5^Myeloid:erythroid ratio^LN"},
                           {5, format_fixed(*d.me_ratio->value, 2)},
                           {6, "{ratio}^ratio^UCUM"},
                           {7, range_field(d.me_ratio->range, 0)},
                           {8, flag_code(d.me_ratio->flag)},
                           {11, status},
                           {14, collected}});
  }
  return msg;
}

}  // namespace ms
