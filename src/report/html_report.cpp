#include "report/html_report.h"

#include <fmt/format.h>

namespace ms {

const std::vector<std::pair<Language, std::string>>& enum_names(Language) {
  static const std::vector<std::pair<Language, std::string>> names{{Language::kEnglish, "en"},
                                                                   {Language::kChinese, "zh"}};
  return names;
}

namespace {

struct Labels {
  const char* lang;
  const char* title_marrow;
  const char* title_blood;
  const char* patient;
  const char* patient_id;
  const char* sex;
  const char* birth_date;
  const char* accession;
  const char* specimen;
  const char* marrow;
  const char* blood;
  const char* site;
  const char* adequacy;
  const char* collected;
  const char* cells_counted;
  const char* excluded;
  const char* cell_class;
  const char* count;
  const char* percent;
  const char* per_100_wbc;
  const char* reference;
  const char* flag;
  const char* not_counted;
  const char* me_ratio;
  const char* i_mg_ratio;
  const char* blasts;
  const char* comments;
  const char* suggestion;
  const char* reviewer;
  const char* signed_by;
  const char* signed_at;
  const char* signature;
  const char* not_signed;
  const char* preliminary_unreviewed;  // fmt pattern, {} = number of cells
  const char* preliminary_unsigned;
  const char* generated;
  const char* high;
  const char* low;
  const char* review;            // heading of the count target, review states, models
};

const Labels kEnglish{"en",
                      "Bone marrow differential report",
                      "Peripheral blood differential report",
                      "Patient",
                      "Patient ID",
                      "Sex",
                      "Date of birth",
                      "Accession",
                      "Specimen",
                      "Bone marrow aspirate",
                      "Peripheral blood",
                      "Site",
                      "Adequacy",
                      "Collected",
                      "Cells counted",
                      "Excluded from the count",
                      "Cell class",
                      "Count",
                      "%",
                      "/100 WBC",
                      "Reference",
                      "Flag",
                      "not counted",
                      "M:E ratio",
                      "I:Mg ratio",
                      "Blasts",
                      "Comments",
                      "Morphology-based suggestion",
                      "Reviewed by",
                      "Signed by",
                      "Signed at",
                      "Signature",
                      "Not signed",
                      "PRELIMINARY \u2014 {} cells unreviewed",
                      "PRELIMINARY \u2014 not signed",
                      "Generated",
                      "H",
                      "L",
                      "Count and review"};

const Labels kChinese{"zh-CN",
                      "骨髓细胞形态学分类报告",
                      "外周血细胞分类报告",
                      "患者",
                      "患者编号",
                      "性别",
                      "出生日期",
                      "标本号",
                      "标本类型",
                      "骨髓穿刺液",
                      "外周血",
                      "取材部位",
                      "标本质量",
                      "采集时间",
                      "计数细胞数",
                      "不计入分类",
                      "细胞类别",
                      "数量",
                      "%",
                      "/100 WBC",
                      "参考范围",
                      "提示",
                      "不计入",
                      "粒红比 (M:E)",
                      "I:Mg 比",
                      "原始细胞",
                      "备注",
                      "形态学建议",
                      "审核人",
                      "签发人",
                      "签发时间",
                      "签名",
                      "未签发",
                      "初步报告 \u2014 {} 个细胞未审核",
                      "初步报告 \u2014 未签发",
                      "生成时间",
                      "↑",
                      "↓",
                      "计数与审核"};

constexpr const char* kStyle = R"(
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       font-size: 10.5pt; color: #111; margin: 0 auto; max-width: 190mm; line-height: 1.35; }
h1 { font-size: 15pt; margin: 0 0 4mm; border-bottom: 2px solid #111; padding-bottom: 2mm; }
h2 { font-size: 11pt; margin: 4mm 0 1.5mm; }
.banner { border: 2px solid #b00; color: #b00; font-weight: bold; text-align: center;
          padding: 1.5mm; margin-bottom: 3mm; letter-spacing: 0.05em; }
table { border-collapse: collapse; width: 100%; }
table.ids { margin-bottom: 2mm; }
table.ids td { padding: 0.4mm 3mm 0.4mm 0; vertical-align: top; }
table.ids td.k { color: #555; white-space: nowrap; width: 1%; }
table.diff th, table.diff td { border-bottom: 1px solid #ccc; padding: 0.5mm 1.5mm; }
table.diff { margin-bottom: 2mm; }
table.diff th { text-align: left; border-bottom: 1.5px solid #111; }
table.diff .n { text-align: right; font-variant-numeric: tabular-nums; }
tr.excluded td { color: #666; font-style: italic; }
td.flag-high, td.flag-low { font-weight: bold; }
.swatch { display: inline-block; width: 2.5mm; height: 2.5mm; margin-right: 1.5mm;
          -webkit-print-color-adjust: exact; print-color-adjust: exact; }
p { margin: 1mm 0; }
.disclaimer { font-size: 9pt; color: #444; }
.note { font-size: 8.5pt; color: #444; margin: 1mm 0; }
ul.statements { margin: 0; padding-left: 5mm; font-size: 9.5pt; }
ul.statements li.warning { font-weight: bold; }
.signature { margin-top: 6mm; border-top: 1px solid #111; padding-top: 2mm; }
table, tr, .suggestion, .signature { page-break-inside: avoid; break-inside: avoid; }
@media screen { body { padding: 10mm; } }
)";

std::string e(std::string_view s) { return html_escape(s); }

// Comments are typed with line breaks; keep them on paper (the text is already escaped).
std::string with_line_breaks(const std::string& escaped) {
  std::string out;
  for (char c : escaped) {
    if (c == '\r') continue;
    out += c == '\n' ? std::string("<br>\n") : std::string(1, c);
  }
  return out;
}

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Label/value pairs laid out `per_row` to a table row, so the header block stays a few lines
// high and the whole report fits one A4 page. Pairs with an empty value are left out.
std::string key_value_table(const KeyValues& pairs, size_t per_row) {
  std::string out = "<table class=\"ids\">\n";
  size_t in_row = 0;
  for (const auto& [key, value] : pairs) {
    if (value.empty()) continue;
    if (in_row == 0) out += "<tr>";
    out += fmt::format("<td class=\"k\">{}</td><td>{}</td>", e(key), e(value));
    if (++in_row == per_row) {
      out += "</tr>\n";
      in_row = 0;
    }
  }
  if (in_row != 0) out += "</tr>\n";
  return out + "</table>\n";
}

std::string range_text(const std::optional<ReferenceRange>& r, int decimals) {
  if (!r) return "";
  return format_fixed(r->low, decimals) + "\u2013" + format_fixed(r->high, decimals);
}

std::string flag_text(RangeFlag f, const Labels& l) {
  return f == RangeFlag::kHigh ? l.high : f == RangeFlag::kLow ? l.low : "";
}

const char* flag_class(RangeFlag f) {
  return f == RangeFlag::kHigh ? "flag-high" : f == RangeFlag::kLow ? "flag-low" : "flag";
}

}  // namespace

std::string render_report_html(const ReportData& r, Language language) {
  const Labels& l = language == Language::kChinese ? kChinese : kEnglish;
  const bool zh = language == Language::kChinese;
  const Differential& d = r.differential;
  const bool marrow = d.specimen == Specimen::kBoneMarrow;
  const char* title = marrow ? l.title_marrow : l.title_blood;
  std::string out;
  out += fmt::format(
      "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>{} \u2014 {}</title>\n<style>{}</style>\n</head>\n<body>\n",
      l.lang, e(title), e(r.sample.accession), kStyle);
  if (!r.is_final()) {
    const std::string banner =
        d.unreviewed > 0 ? fmt::format(fmt::runtime(l.preliminary_unreviewed), d.unreviewed)
                         : std::string(l.preliminary_unsigned);
    out += "<div class=\"banner\">" + e(banner) + "</div>\n";
  }
  out += fmt::format("<h1>{}</h1>\n", e(title));
  out += key_value_table(
      {{l.patient, r.patient.name},
       {l.patient_id, r.patient.id},
       {l.sex, r.patient.sex},
       {l.birth_date, r.patient.birth_date},
       {l.accession, r.sample.accession},
       {l.specimen, marrow ? l.marrow : l.blood},
       {l.site, r.sample.site},
       {l.adequacy, r.sample.adequacy},
       {l.collected, r.sample.collected_at},
       {l.cells_counted,
        fmt::format("{} / {}{}", d.denominator, d.progress.target, marrow ? "" : " WBC")},
       {l.excluded, d.total_excluded > 0 ? std::to_string(d.total_excluded) : ""}},
      3);

  out += fmt::format(
      "<table class=\"diff\">\n<thead><tr><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}"
      "</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>\n",
      e(l.cell_class), e(l.count), e(l.percent), e(l.reference), e(l.flag));
  const ReviewOnlyMark& mark = review_only_mark();
  for (const auto& row : d.rows) {
    std::string name = zh ? row.names.zh : row.names.en;
    if (row.review_only) name += " " + mark.symbol;
    std::string value = row.counted ? row.display : l.not_counted;
    if (row.per_100_wbc) value += std::string(" ") + l.per_100_wbc;
    out += fmt::format(
        "<tr class=\"{}\"><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>"
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"{}\">{}</td></tr>\n",
        row.counted ? "counted" : "excluded", e(row.colour), e(name), row.count, e(value),
        e(range_text(row.range, 0)), flag_class(row.flag), e(flag_text(row.flag, l)));
  }
  out += "</tbody>\n</table>\n";
  if (has_review_only_rows(d))
    out += fmt::format("<p class=\"note\">{}</p>\n", e(mark.symbol + " " + (zh ? mark.note.zh : mark.note.en)));
  std::string me;
  if (d.me_ratio) {
    me = d.me_ratio->display;
    if (d.me_ratio->range) me += " (" + range_text(d.me_ratio->range, 0) + ":1)";
    if (const std::string flag = flag_text(d.me_ratio->flag, l); !flag.empty()) me += " " + flag;
  }
  out += key_value_table(
      {{l.me_ratio, me}, {l.i_mg_ratio, d.i_mg_ratio.display}, {l.blasts, d.blasts.display}}, 3);

  out += fmt::format("<h2>{}</h2>\n<ul class=\"statements\">\n", e(l.review));
  const auto statements = report_statements(r);
  for (size_t i = 0; i < statements.size(); ++i) {
    const bool warning = (r.domain_warning && i + 1 == statements.size()) || (i == 0 && !d.progress.reached);
    out += fmt::format("<li{}>{}</li>\n", warning ? " class=\"warning\"" : "",
                       e(zh ? statements[i].zh : statements[i].en));
  }
  out += "</ul>\n";
  if (!r.comments.empty())
    out += fmt::format("<h2>{}</h2>\n<p class=\"comments\">{}</p>\n", e(l.comments),
                       with_line_breaks(e(r.comments)));
  if (!r.suggestions.empty()) {
    out += fmt::format("<h2>{}</h2>\n", e(l.suggestion));
    for (const auto& s : r.suggestions)
      out += fmt::format("<p class=\"suggestion\"><strong>{}</strong>: {}</p>\n",
                         e(rule_set_title(s.rule_set)), e(zh ? s.text.zh : s.text.en));
    const DisplayNames& disclaimer = morphology_disclaimer();
    out += fmt::format("<p class=\"disclaimer\">{}</p>\n", e(zh ? disclaimer.zh : disclaimer.en));
  }

  KeyValues signature{{l.reviewer, r.reviewer}};
  if (r.sign_off) {
    signature.insert(signature.end(), {{l.signed_by, signer_text(*r.sign_off)},
                                       {l.signed_at, r.sign_off->signed_at},
                                       {l.signature, r.sign_off->signature}});
  } else {
    signature.push_back({l.signed_by, l.not_signed});
  }
  signature.push_back({l.generated, r.generated_at});
  out += "<div class=\"signature\">\n" + key_value_table(signature, 2) + "</div>\n";
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace ms
