#pragma once
// Everything a signed (or preliminary) differential report shows, independent of how it is
// stored: the server fills it from the database, the CLI from an analysis run. The exports
// (CSV, FHIR R4, printable HTML) read only this. User-entered text is kept verbatim here;
// each export escapes it for its own format.
#include <optional>
#include <string>
#include <vector>

#include "report/differential.h"
#include "report/rule_set.h"

namespace ms {

struct PatientInfo {
  std::string id;    // the lab's patient identifier (MRN); FHIR subject Patient/<id>
  std::string name;
  std::string sex;         // free text as recorded
  std::string birth_date;  // "YYYY-MM-DD" or empty
};

struct SampleInfo {
  std::string accession;     // sample / case number
  std::string site;          // e.g. "posterior iliac crest"
  std::string adequacy;      // e.g. "adequate, particulate"
  std::string collected_at;  // ISO 8601 date or date-time; FHIR effectiveDateTime
};

struct SignOff {
  std::string signed_by;   // name of the qualified person
  std::string signed_at;   // ISO 8601 date-time
  std::string signature;   // e.g. a signature hash or statement recorded by the server
};

struct ReportData {
  std::string report_id;  // stable identifier (e.g. accession + version); seeds FHIR ids
  PatientInfo patient;
  SampleInfo sample;
  Differential differential;  // its specimen is the report's specimen
  std::vector<Suggestion> suggestions;
  std::string comments;
  std::string reviewer;      // who reviewed the cells
  std::string generated_at;  // ISO 8601 date-time the report was produced
  std::optional<SignOff> sign_off;  // present: final and locked; absent: preliminary
  bool is_final() const { return sign_off.has_value(); }
};

}  // namespace ms
