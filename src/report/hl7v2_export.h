#pragma once
// HL7 v2.5.1 ORU^R01 export of a differential report (DOMAIN.md "Report and
// interoperability"): for laboratory information systems that take results over HL7 v2 rather
// than FHIR. One message:
//   MSH  header (sending application/facility, message time, ORU^R01^ORU_R01, control id)
//   PID  patient identifier (MR) and name as recorded
//   OBR  the panel: LOINC 47286-0 (bone marrow) or 24318-8 (blood), collection time,
//        result status F (signed) or P (preliminary)
//   OBX  one per class row (NM, "%" or "/100{WBCs}" in UCUM, reference range, H/L/N flag;
//        excluded classes as a count in "{cells}"), then M:E (LOINC 11138-5, marrow only)
//   NTE  comments, the rule-set suggestions and the morphology-only disclaimer, and the number
//        of unreviewed cells while preliminary
// Segments end in carriage returns; user text is escaped (\F\ \S\ \T\ \R\ \E\).
#include <string>
#include <string_view>

#include "core/error.h"
#include "report/report_data.h"

namespace ms {

struct Hl7Options {
  std::string sending_application = "MARROWSCOPE";
  std::string sending_facility;
  std::string receiving_application;
  std::string receiving_facility;
  std::string message_control_id;  // default: derived from report_id
  bool production = true;          // MSH-11 processing id P (production) or T (test)
};

// Errors (input): empty report_id or patient id; a collection, generation or sign-off time that
// is not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][.fff][Z|+hh:mm]).
Result<std::string> report_to_hl7v2(const ReportData& report, const Hl7Options& options = {});

// Escapes the HL7 delimiters | ^ & ~ \ , replaces line breaks with \.br\ and drops every other C0
// control character (exposed for tests).
std::string hl7_escape(std::string_view text);

// ISO 8601 date or date-time -> HL7 DTM (YYYYMMDD[HHMM[SS[.fff]]][+/-ZZZZ]); empty on a bad value.
std::string hl7_timestamp(const std::string& iso);

}  // namespace ms
