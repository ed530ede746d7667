#include "report/csv_export.h"

#include <fmt/format.h>

#include "core/csv_formula.h"

namespace ms {

std::string csv_field(std::string_view text) {
  const std::string s = csv_formula_guard(text);
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

namespace {

// Numbers (and "n/d" counts) are produced here, never taken from user text, so they are written
// without the formula guard.
std::string number(double v) { return format_fixed(v, 4); }
std::string number(const std::optional<double>& v) { return v ? number(*v) : ""; }

struct CsvRow {
  std::string section, id, name_en, name_zh, count, value, unit, display, low, high, flag, review;
};

void write(std::string& out, const CsvRow& r) {
  out += csv_field(r.section) + "," + csv_field(r.id) + "," + csv_field(r.name_en) + "," +
         csv_field(r.name_zh) + "," + r.count + "," + r.value + "," + csv_field(r.unit) + "," +
         csv_field(r.display) + "," + r.low + "," + r.high + "," + csv_field(r.flag) + "," +
         csv_field(r.review) + "\r\n";
}

std::string flag_name(RangeFlag f) {
  return f == RangeFlag::kNone ? "" : config_to_json(f).get<std::string>();
}

CsvRow meta(const std::string& id, const std::string& value) {
  CsvRow r;
  r.section = "meta";
  r.id = id;
  r.display = value;
  return r;
}

CsvRow ratio_row(const std::string& id, const std::string& name, const CountRatio& ratio) {
  CsvRow r;
  r.section = "summary";
  r.id = id;
  r.name_en = name;
  r.count = std::to_string(ratio.numerator) + "/" + std::to_string(ratio.denominator);
  r.value = number(ratio.value);
  r.unit = "ratio";
  r.display = ratio.display;
  if (ratio.range) {
    r.low = number(ratio.range->low);
    r.high = number(ratio.range->high);
  }
  r.flag = flag_name(ratio.flag);
  return r;
}

CsvRow count_row(const std::string& id, const std::string& name, int count) {
  CsvRow r;
  r.section = "summary";
  r.id = id;
  r.name_en = name;
  r.count = std::to_string(count);
  r.display = std::to_string(count);
  r.unit = "cells";
  return r;
}

}  // namespace

std::string report_to_csv(const ReportData& rep, const CsvOptions& options) {
  const Differential& d = rep.differential;
  std::string out = options.utf8_bom ? "\xEF\xBB\xBF" : "";
  out +=
      "section,id,name_en,name_zh,count,value,unit,display,reference_low,reference_high,flag,"
      "review\r\n";
  write(out, meta("report_id", rep.report_id));
  write(out, meta("patient_id", rep.patient.id));
  write(out, meta("patient_name", rep.patient.name));
  write(out, meta("accession", rep.sample.accession));
  write(out, meta("specimen", specimen_name(d.specimen)));
  write(out, meta("collected_at", rep.sample.collected_at));
  write(out, meta("taxonomy", d.taxonomy));
  write(out, meta("status", rep.is_final() ? "final" : "preliminary"));
  write(out, meta("reviewer", rep.reviewer));
  write(out, meta("signed_by", rep.sign_off ? rep.sign_off->signed_by : ""));
  write(out, meta("signed_at", rep.sign_off ? rep.sign_off->signed_at : ""));
  write(out, meta("comments", rep.comments));

  for (const auto& row : d.rows) {
    CsvRow r;
    r.section = "class";
    r.id = row.id;
    r.name_en = row.names.en;
    r.name_zh = row.names.zh;
    r.count = std::to_string(row.count);
    r.value = number(row.per_100_wbc ? row.per_100_wbc : row.percent);
    r.unit = !row.counted ? "cells (excluded)" : row.per_100_wbc ? "/100 WBC" : "%";
    r.display = row.display;
    if (row.range) {
      r.low = number(row.range->low);
      r.high = number(row.range->high);
    }
    r.flag = flag_name(row.flag);
    if (row.review_only) r.review = review_only_mark().code;
    write(out, r);
  }
  if (has_review_only_rows(d)) {
    CsvRow note = meta("review_only_note", review_only_mark().note.en);
    note.name_en = review_only_mark().label.en;
    note.name_zh = review_only_mark().note.zh;
    note.review = review_only_mark().code;
    write(out, note);
  }

  write(out, count_row("total_nucleated", "Nucleated cells", d.total_nucleated));
  write(out, count_row("total_wbc", "White cells (non-erythroid nucleated)", d.total_wbc));
  write(out,
        count_row("total_excluded", "Excluded (platelets, smudge, artefacts)", d.total_excluded));
  CsvRow blasts;
  blasts.section = "summary";
  blasts.id = "blasts";
  blasts.name_en = "Blasts and blast equivalents";
  blasts.count = std::to_string(d.blasts.count);
  blasts.value = number(d.blasts.percent);
  blasts.unit = "%";
  blasts.display = d.blasts.display;
  if (d.blasts.interval) {
    blasts.low = number(d.blasts.interval->low * 100);
    blasts.high = number(d.blasts.interval->high * 100);
    blasts.flag = config_to_json(d.blasts.method).get<std::string>() + " " +
                  format_fixed(d.blasts.confidence * 100, 0) + "% CI";
  }
  write(out, blasts);
  if (d.me_ratio) write(out, ratio_row("me_ratio", "M:E ratio", *d.me_ratio));
  write(out, ratio_row("i_mg_ratio", "I:Mg ratio", d.i_mg_ratio));
  write(out, count_row("count_target", "Count target", d.progress.target));
  write(out, meta("count_target_reached", d.progress.reached ? "yes" : "no"));
  if (rep.review) {
    write(out, count_row("review_doctor", "Confirmed by a doctor", rep.review->doctor));
    write(out, count_row("review_technician", "Pre-verified by a technician", rep.review->technician));
    write(out, count_row("review_reclassified", "Reclassified, not verified", rep.review->reclassified));
    write(out, count_row("review_model_only", "Model suggestion only", rep.review->model_only));
  }
  for (const auto& m : rep.models) write(out, meta("model", m));
  if (rep.domain_warning) {
    CsvRow w = meta("domain_warning", rep.domain_warning->en);
    w.name_zh = rep.domain_warning->zh;
    write(out, w);
  }
  write(out, count_row("unreviewed", "Cells not yet reviewed", d.unreviewed));

  for (const auto& s : rep.suggestions) {
    CsvRow r;
    r.section = "suggestion";
    r.id = s.rule_id;
    r.name_en = s.text.en;
    r.name_zh = s.text.zh;
    r.display = s.criterion_met ? "criterion met" : blasts_not_assessed(s) ? "blasts not assessed" : "no criterion met";
    write(out, r);
  }
  if (!rep.suggestions.empty()) {
    CsvRow r;
    r.section = "suggestion";
    r.id = "disclaimer";
    r.name_en = morphology_disclaimer().en;
    r.name_zh = morphology_disclaimer().zh;
    write(out, r);
  }
  return out;
}

}  // namespace ms
