#pragma once
// FHIR R4 export of a differential report: a Bundle (type "collection") holding
//  - a DiagnosticReport (status final when signed, preliminary otherwise; code = the panel's
//    LOINC; subject Patient/<patient id>; effectiveDateTime = collection time; result -> the
//    panel Observation and, in marrow, the M:E Observation; conclusion = suggestions +
//    disclaimer),
//  - a panel Observation (LOINC 47286-0 bone-marrow differential or 24318-8 manual blood
//    differential) whose hasMember entries reference one Observation per class row,
//  - per-class Observations: valueQuantity in UCUM "%" (nucleated red cells in blood: "/100{WBCs}";
//    excluded classes: the count in "{cells}"), the count as a component, reference range and
//    H/L/N interpretation,
//  - an M:E ratio Observation (LOINC 11138-5, valueRatio X:1), bone marrow only.
// Resources are linked by "urn:uuid:" full URLs derived deterministically from report_id, so the
// same report always exports the same document.
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "report/report_data.h"

namespace ms {

inline constexpr const char* kLoincMarrowDifferentialPanel = "47286-0";
inline constexpr const char* kLoincBloodManualDifferentialPanel = "24318-8";
inline constexpr const char* kLoincMeRatio = "11138-5";

// Errors (input): empty report_id; a patient id that is not a FHIR id ([A-Za-z0-9.-]{1,64});
// collected_at, generated_at or signed_at that is not a FHIR dateTime (date-times need a zone).
Result<Json> report_to_fhir(const ReportData& report);

// A name-based UUID (RFC 9562 version 8 layout) from a seed; deterministic, lower-case hex.
std::string deterministic_uuid(const std::string& seed);

// FHIR R4 dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm).
bool is_fhir_date_time(const std::string& s);

}  // namespace ms
