#pragma once
// Everything a signed (or preliminary) differential report shows, independent of how it is
// stored: the server fills it from the database, the CLI from an analysis run. The exports
// (CSV, FHIR R4, printable HTML) read only this. User-entered text is kept verbatim here;
// each export escapes it for its own format.
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "report/differential.h"
#include "report/rule_set.h"

namespace ms {

struct PatientInfo {
  std::string id;  // the lab's patient identifier (MRN); FHIR subject Patient/<id>
  std::string name;
  std::string sex;         // free text as recorded
  std::string birth_date;  // "YYYY-MM-DD" or empty
  template <class V>
  void visit(V& v) {
    v("id", id);
    v("name", name);
    v("sex", sex);
    v("birth_date", birth_date);
  }
};

struct SampleInfo {
  std::string accession;     // sample / case number
  std::string site;          // e.g. "posterior iliac crest"
  std::string adequacy;      // e.g. "adequate, particulate"
  std::string collected_at;  // ISO 8601 date or date-time; FHIR effectiveDateTime
  template <class V>
  void visit(V& v) {
    v("accession", accession);
    v("site", site);
    v("adequacy", adequacy);
    v("collected_at", collected_at);
  }
};

struct SignOff {
  std::string signed_by;  // name of the qualified person (the display name they chose)
  std::string signed_at;  // ISO 8601 date-time
  std::string signature;  // e.g. a signature hash or statement recorded by the server
  // The signer's account name: unique and never changed, unlike the display name, which its
  // owner edits at will ("Dr. Jane Smith" can be anyone). Empty in snapshots signed before it
  // was recorded.
  std::string username;
  template <class V>
  void visit(V& v) {
    v("signed_by", signed_by);
    v("signed_at", signed_at);
    v("signature", signature);
    v("username", username);
  }
};

// How a signature names its signer: "Dr. Jane Smith (jsmith)", or the name alone when no
// username was recorded (or it is the name itself).
std::string signer_text(const SignOff& s);

// How many cells of the report reached each review state: still the model's suggestion;
// reclassified by someone but not vouched for; pre-verified by a technician; confirmed by a doctor.
struct ReviewCounts {
  int model_only = 0;
  int reclassified = 0;
  int technician = 0;
  int doctor = 0;
  template <class V>
  void visit(V& v) {
    v("model_only", model_only);
    v("reclassified", reclassified);
    v("technician", technician);
    v("doctor", doctor);
  }
};

struct ReportData {
  std::string report_id;  // stable identifier (e.g. accession + version); seeds FHIR ids
  PatientInfo patient;
  SampleInfo sample;
  Differential differential;  // its specimen is the report's specimen
  std::vector<Suggestion> suggestions;
  std::string comments;
  std::string reviewer;             // who reviewed the cells
  std::string generated_at;         // ISO 8601 date-time the report was produced
  std::optional<SignOff> sign_off;  // present: final and locked; absent: preliminary
  // Who looked at the cells (absent in snapshots signed before it was recorded).
  std::optional<ReviewCounts> review;
  // The models whose suggestions the cells started from, e.g. "classifier vit-pbc 1.2".
  std::vector<std::string> models;
  // Set when the cells look unlike the classifier's training cells (report/domain_check.h).
  std::optional<DisplayNames> domain_warning;
  bool is_final() const { return sign_off.has_value(); }
  // Whether the count reached its target (ICSH: 500 marrow, 200 blood; the sample's own target).
  bool target_reached() const { return differential.progress.reached; }
  template <class V>
  void visit(V& v) {
    v("report_id", report_id);
    v("patient", patient);
    v("sample", sample);
    v("differential", differential);
    v("suggestions", suggestions);
    v("comments", comments);
    v("reviewer", reviewer);
    v("generated_at", generated_at);
    v("sign_off", sign_off);
    v("review", review);
    v("models", models);
    v("domain_warning", domain_warning);
  }
};

// The ICSH-recommended count of the specimen (core/icsh.h).
int icsh_count_target(Specimen s);

// How every report marks a row of a review-only class (DifferentialRow::review_only: the
// classifier cannot name it, so its cells were all named by a reviewer), so that the printed report
// and each export say the same thing: the HTML report puts `symbol` after the class name and
// `symbol` + `note` under the table; the CSV writes `code` in the row's "review" column and `note` as a meta row; FHIR
// gives the class Observation a `method` coded `code` in `system`, with `label` as its text, and the
// panel a `note`; HL7 v2 puts `code^label^L` in the row's OBX-17 (observation method) and `note` in
// an NTE of the order.
struct ReviewOnlyMark {
  std::string code;    // "review-only"
  std::string system;  // the code system of `code` (FHIR coding system)
  std::string symbol;  // printed after the class name
  DisplayNames label;  // "review-only class"
  DisplayNames note;   // the footnote (ASCII in English: HL7 v2 messages are ASCII)
};
const ReviewOnlyMark& review_only_mark();
// Whether any row of the differential is a review-only class (the note is then printed).
bool has_review_only_rows(const Differential& d);

// The statements every signed report carries besides the table, in English and Chinese, one per
// line, in this order: the count against its target (and the ICSH one when the target is lower),
// the cells per review state, the models used, the domain warning. The exports (HTML, CSV, FHIR,
// HL7) all print these, so they say the same thing.
std::vector<DisplayNames> report_statements(const ReportData& r);

// A report as JSON, field for field: the snapshot a server stores at sign-off, so the locked
// report renders and exports the same way later. report_from_json validates like
// differential_from_json and names the JSON path in errors.
Json report_to_json(const ReportData& report);
Result<ReportData> report_from_json(const Json& j, const std::string& source);

}  // namespace ms
