#include "report/fhir_export.h"

#include <fmt/format.h>

#include <cstdint>
#include <regex>

namespace ms {

namespace {

constexpr const char* kLoinc = "http://loinc.org";
constexpr const char* kUcum = "http://unitsofmeasure.org";
constexpr const char* kInterpretation =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
constexpr const char* kObservationCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr const char* kDiagnosticServiceSection = "http://terminology.hl7.org/CodeSystem/v2-0074";
constexpr const char* kDataAbsentReason =
    "http://terminology.hl7.org/CodeSystem/data-absent-reason";

// FNV-1a, 64 bit (Fowler, Noll, Vo); two different offset bases give the 128 bits of a UUID.
uint64_t fnv1a(const std::string& s, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string full_url(const std::string& uuid) { return "urn:uuid:" + uuid; }

Json ucum_quantity(double value, const std::string& unit, const std::string& code) {
  return {{"value", value}, {"unit", unit}, {"system", kUcum}, {"code", code}};
}

Json interpretation(RangeFlag flag) {
  const char* code = flag == RangeFlag::kHigh ? "H" : flag == RangeFlag::kLow ? "L" : "N";
  const char* display = flag == RangeFlag::kHigh  ? "High"
                        : flag == RangeFlag::kLow ? "Low"
                                                  : "Normal";
  return Json::array(
      {{{"coding",
         Json::array({{{"system", kInterpretation}, {"code", code}, {"display", display}}})}}});
}

Json loinc_concept(const char* code, const std::string& text) {
  return {{"coding", Json::array({{{"system", kLoinc}, {"code", code}}})}, {"text", text}};
}

Json laboratory_category() {
  return Json::array({{{"coding", Json::array({{{"system", kObservationCategory},
                                                {"code", "laboratory"},
                                                {"display", "Laboratory"}}})}}});
}

struct Common {
  std::string status;
  Json subject;
  std::string effective;  // may be empty
};

Json observation_base(const std::string& uuid, const Common& c, Json code) {
  Json o{{"resourceType", "Observation"},
         {"id", uuid},
         {"status", c.status},
         {"category", laboratory_category()},
         {"code", std::move(code)},
         {"subject", c.subject}};
  if (!c.effective.empty()) o["effectiveDateTime"] = c.effective;
  return o;
}

Json class_observation(const std::string& uuid, const Common& c, const Differential& d,
                       const DifferentialRow& row) {
  const std::string system =
      "urn:marrowscope:taxonomy:" + (d.taxonomy.empty() ? "default" : d.taxonomy);
  Json code{
      {"coding", Json::array({{{"system", system}, {"code", row.id}, {"display", row.names.en}}})},
      {"text", row.names.en}};
  Json o = observation_base(uuid, c, std::move(code));
  const bool per_wbc = row.per_100_wbc.has_value();
  const std::string unit = per_wbc ? "/100 WBC" : "%";
  const std::string ucum = per_wbc ? "/100{WBCs}" : "%";
  const std::optional<double> value = per_wbc ? row.per_100_wbc : row.percent;
  if (!row.counted) {
    o["valueQuantity"] = ucum_quantity(row.count, "cells", "{cells}");
  } else if (value) {
    // The value as printed on the report (display precision rule), so both documents agree.
    o["valueQuantity"] = ucum_quantity(round_to(*value, d.decimals), unit, ucum);
  } else {
    o["dataAbsentReason"] = {
        {"coding", Json::array({{{"system", kDataAbsentReason}, {"code", "not-performed"}}})},
        {"text", "no cells counted"}};
  }
  if (row.counted)
    o["component"] =
        Json::array({{{"code", {{"text", "cells counted in this class"}}},
                      {"valueQuantity", ucum_quantity(row.count, "cells", "{cells}")}}});
  if (row.review_only) {
    const ReviewOnlyMark& mark = review_only_mark();
    o["method"] = {{"coding", Json::array({{{"system", mark.system}, {"code", mark.code}, {"display", mark.label.en}}})},
                   {"text", mark.note.en}};
  }
  if (row.range) {
    o["referenceRange"] = Json::array({{{"low", ucum_quantity(row.range->low, unit, ucum)},
                                        {"high", ucum_quantity(row.range->high, unit, ucum)}}});
    if (value) o["interpretation"] = interpretation(row.flag);
  }
  return o;
}

Json me_observation(const std::string& uuid, const Common& c, const CountRatio& me) {
  Json o = observation_base(uuid, c, loinc_concept(kLoincMeRatio, "Myeloid:erythroid ratio"));
  if (me.value) {
    o["valueRatio"] = {{"numerator", {{"value", round_to(*me.value, 2)}}},
                       {"denominator", {{"value", 1}}}};
    if (me.range) o["interpretation"] = interpretation(me.flag);
  } else {
    o["dataAbsentReason"] = {
        {"coding", Json::array({{{"system", kDataAbsentReason}, {"code", "not-applicable"}}})},
        {"text", "no erythroid cells counted"}};
  }
  if (me.range)
    o["referenceRange"] = Json::array({{{"text", format_fixed(me.range->low, 2) + ":1-" +
                                                     format_fixed(me.range->high, 2) + ":1"}}});
  o["component"] =
      Json::array({{{"code", {{"text", "myeloid cells"}}},
                    {"valueQuantity", ucum_quantity(me.numerator, "cells", "{cells}")}},
                   {{"code", {{"text", "erythroid cells"}}},
                    {"valueQuantity", ucum_quantity(me.denominator, "cells", "{cells}")}}});
  return o;
}

Json panel_components(const Differential& d) {
  const std::string of = d.specimen == Specimen::kBoneMarrow ? "nucleated cells" : "WBC";
  Json comps = Json::array();
  auto add = [&](const std::string& text, const Json& quantity) {
    comps.push_back({{"code", {{"text", text}}}, {"valueQuantity", quantity}});
  };
  add("cells counted (" + of + ")", ucum_quantity(d.denominator, "cells", "{cells}"));
  add("cells excluded from the count (platelets, smudge, artefacts)",
      ucum_quantity(d.total_excluded, "cells", "{cells}"));
  if (d.blasts.percent && d.blasts.interval) {
    const std::string ci = format_fixed(d.blasts.confidence * 100, 0) + "% CI (" +
                           config_to_json(d.blasts.method).get<std::string>() + ")";
    add("blasts and blast equivalents, % of " + of,
        ucum_quantity(round_to(*d.blasts.percent, d.decimals), "%", "%"));
    add("blasts " + ci + " lower bound",
        ucum_quantity(round_to(d.blasts.interval->low * 100, 1), "%", "%"));
    add("blasts " + ci + " upper bound",
        ucum_quantity(round_to(d.blasts.interval->high * 100, 1), "%", "%"));
  }
  return comps;
}

std::string conclusion(const ReportData& r) {
  std::string text;
  for (const auto& s : r.suggestions) {
    if (!text.empty()) text += "\n";
    text += rule_set_title(s.rule_set) + ": " + s.text.en;
  }
  if (!r.suggestions.empty()) text += "\n" + morphology_disclaimer().en;
  if (!r.comments.empty()) text += (text.empty() ? "" : "\n") + ("Comments: " + r.comments);
  for (const auto& s : report_statements(r)) text += (text.empty() ? "" : "\n") + s.en;
  if (!r.is_final() && r.differential.unreviewed > 0)
    text += (text.empty() ? "" : "\n") +
            fmt::format("PRELIMINARY: {} cells unreviewed.", r.differential.unreviewed);
  return text;
}

Status check_date_time(const std::string& value, const std::string& field, bool required) {
  if (value.empty() && !required) return {};
  if (!is_fhir_date_time(value))
    return fail(ErrorCode::kInvalidArgument, field,
                "a FHIR dateTime (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a zone, e.g. Z)",
                "\"" + value + "\"");
  return {};
}

}  // namespace

std::string deterministic_uuid(const std::string& seed) {
  uint64_t hi = fnv1a(seed, 0xcbf29ce484222325ULL);
  uint64_t lo = fnv1a(seed + "\x1f", 0x84222325cbf29ce4ULL);
  hi = (hi & ~0xF000ULL) | 0x8000ULL;                         // version 8 (custom)
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC variant 10xx
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF,
                     hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

bool is_fhir_date_time(const std::string& s) {
  static const std::regex re(
      R"(\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?)");
  return std::regex_match(s, re);
}

Result<Json> report_to_fhir(const ReportData& r) {
  static const std::regex fhir_id(R"([A-Za-z0-9\-\.]{1,64})");
  if (r.report_id.empty())
    return fail(ErrorCode::kInvalidArgument, "report_id", "a non-empty identifier", "\"\"");
  if (!std::regex_match(r.patient.id, fhir_id))
    return fail(ErrorCode::kInvalidArgument, "patient.id", "a FHIR id (1-64 of A-Z a-z 0-9 - .)",
                "\"" + r.patient.id + "\"");
  if (auto s = check_date_time(r.sample.collected_at, "sample.collected_at", false); !s)
    return tl::unexpected(s.error());
  if (auto s = check_date_time(r.generated_at, "generated_at", false); !s)
    return tl::unexpected(s.error());
  if (r.sign_off)
    if (auto s = check_date_time(r.sign_off->signed_at, "sign_off.signed_at", true); !s)
      return tl::unexpected(s.error());

  const Differential& d = r.differential;
  const bool marrow = d.specimen == Specimen::kBoneMarrow;
  Common c;
  c.status = r.is_final() ? "final" : "preliminary";
  c.subject = {{"reference", "Patient/" + r.patient.id}};
  if (!r.patient.name.empty()) c.subject["display"] = r.patient.name;
  c.effective = r.sample.collected_at;

  const std::string report_uuid = deterministic_uuid(r.report_id + "/DiagnosticReport");
  const std::string panel_uuid = deterministic_uuid(r.report_id + "/panel");
  Json entries = Json::array();
  Json members = Json::array();
  std::vector<Json> class_observations;
  for (const auto& row : d.rows) {
    const std::string uuid = deterministic_uuid(r.report_id + "/class/" + row.id);
    members.push_back({{"reference", full_url(uuid)}, {"display", row.names.en}});
    class_observations.push_back(class_observation(uuid, c, d, row));
  }

  const char* panel_code =
      marrow ? kLoincMarrowDifferentialPanel : kLoincBloodManualDifferentialPanel;
  const std::string panel_text =
      marrow ? "Bone marrow differential panel" : "Manual differential panel, blood";
  Json panel = observation_base(panel_uuid, c, loinc_concept(panel_code, panel_text));
  panel["hasMember"] = members;
  panel["component"] = panel_components(d);
  if (has_review_only_rows(d)) panel["note"] = Json::array({{{"text", review_only_mark().note.en}}});

  Json results = Json::array({{{"reference", full_url(panel_uuid)}}});
  std::optional<Json> me;
  if (marrow && d.me_ratio) {
    const std::string me_uuid = deterministic_uuid(r.report_id + "/me_ratio");
    me = me_observation(me_uuid, c, *d.me_ratio);
    results.push_back({{"reference", full_url(me_uuid)}});
  }

  Json report{
      {"resourceType", "DiagnosticReport"},
      {"id", report_uuid},
      {"identifier", Json::array({{{"system", "urn:marrowscope:report"}, {"value", r.report_id}}})},
      {"status", c.status},
      {"category", Json::array({{{"coding", Json::array({{{"system", kDiagnosticServiceSection},
                                                          {"code", "HM"},
                                                          {"display", "Hematology"}}})}}})},
      {"code", loinc_concept(panel_code, panel_text)},
      {"subject", c.subject},
      {"result", results}};
  if (!c.effective.empty()) report["effectiveDateTime"] = c.effective;
  // issued is an instant: the sign-off time for a final report, else the generation time when
  // it carries a full date-time.
  const std::string issued = r.sign_off ? r.sign_off->signed_at : r.generated_at;
  if (issued.size() > 10) report["issued"] = issued;
  if (!r.sample.accession.empty())
    report["identifier"].push_back(
        {{"system", "urn:marrowscope:accession"}, {"value", r.sample.accession}});
  if (!r.reviewer.empty()) report["performer"] = Json::array({{{"display", r.reviewer}}});
  if (r.sign_off) {
    Json interpreter = {{"display", signer_text(*r.sign_off)}};
    if (!r.sign_off->username.empty())
      interpreter["identifier"] = {{"system", "urn:marrowscope:username"}, {"value", r.sign_off->username}};
    report["resultsInterpreter"] = Json::array({interpreter});
  }
  const std::string concl = conclusion(r);
  if (!concl.empty()) report["conclusion"] = concl;

  auto add = [&](const std::string& uuid, Json resource) {
    entries.push_back({{"fullUrl", full_url(uuid)}, {"resource", std::move(resource)}});
  };
  add(report_uuid, std::move(report));
  add(panel_uuid, std::move(panel));
  for (auto& o : class_observations) {
    const std::string uuid = o["id"].get<std::string>();
    add(uuid, std::move(o));
  }
  if (me) {
    const std::string uuid = (*me)["id"].get<std::string>();
    add(uuid, std::move(*me));
  }
  return Json{{"resourceType", "Bundle"},
              {"id", deterministic_uuid(r.report_id + "/Bundle")},
              {"type", "collection"},
              {"entry", entries}};
}

}  // namespace ms
