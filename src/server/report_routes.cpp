// A sample's differential, sign-off, addenda and report (JSON, printable HTML, CSV, FHIR R4).
//
// The numbers come from src/report (compute_differential, the rule sets, the exports); this file
// only gathers the inputs from the database and shapes the HTTP answers. Before sign-off every
// request computes the report from the cells as they are now (the reviewed class where a reviewer
// set one, the model's suggestion otherwise). Signing stores the whole report as it was signed;
// from then on every view and export renders that snapshot, so a signed report never changes.
// Later remarks are addenda, shown after the signature.
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error_reason.h"
#include "core/json_schema.h"
#include "core/paths.h"
#include "report/csv_export.h"
#include "report/domain_check.h"
#include "report/fhir_export.h"
#include "report/hl7v2_export.h"
#include "report/html_report.h"
#include "report/report_data.h"
#include "report/rule_set.h"
#include "report/taxonomy.h"
#include "server/api.h"
#include "server/sample_answers.h"
#include "server/domain_stain.h"
#include "server/crypto.h"
#include "server/lab_taxonomies.h"
#include "server/request_bodies.h"
#include "store/job_queue.h"
#include "store/cell_store.h"
#include "store/operation_log.h"
#include "store/patient_store.h"
#include "store/report_store.h"
#include "store/user_store.h"

namespace ms::server {
namespace {

constexpr std::size_t kMaxCommentBytes = 10000;

// Report settings read once at start: the lab's taxonomies (which classes exist per specimen,
// their order, names, colours and reference ranges; loaded and checked when the server is
// created) and the lab's header.
struct ReportSettings {
  std::shared_ptr<const LabTaxonomies> taxonomies;
  std::string lab_name, lab_address;
  bool lab_name_set = false;  // false: the generic name, which the Chinese page says in Chinese
};

std::shared_ptr<const ReportSettings> load_settings(std::shared_ptr<const LabTaxonomies> taxonomies) {
  auto s = std::make_shared<ReportSettings>();
  s->taxonomies = std::move(taxonomies);
  const char* name = std::getenv("MARROWSCOPE_LAB_NAME");
  s->lab_name_set = name && *name;
  s->lab_name = s->lab_name_set ? name : "Hematology laboratory";
  const char* address = std::getenv("MARROWSCOPE_LAB_ADDRESS");
  s->lab_address = address ? address : "";
  return s;
}


std::string iso_utc(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "all" (or nothing): the three rule sets; otherwise one.
Result<std::optional<RuleSet>> rule_set_param(const net::Request& req) {
  const std::string s = query_text(req, "rule_set", "all");
  if (s == "all") return std::optional<RuleSet>{};
  for (const auto& [value, name] : enum_names(RuleSet{}))
    if (name == s) return std::optional<RuleSet>(value);
  return fail(ErrorCode::kInvalidArgument, "query parameter 'rule_set'", "fab|who2022|icc2022|all",
              "\"" + s + "\"");
}

Result<Language> language_param(const net::Request& req) {
  const std::string s = query_text(req, "lang", "en");
  for (const auto& [value, name] : enum_names(Language{}))
    if (name == s) return value;
  return fail(ErrorCode::kInvalidArgument, "query parameter 'lang'", "en|zh", "\"" + s + "\"");
}

// The accession made safe for a Content-Disposition filename.
std::string file_stem(const std::string& accession) {
  std::string out;
  for (char c : accession) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out.empty() ? "sample" : out.substr(0, 80);
}

// RFC 5987 percent-encoding of UTF-8 text for a filename* parameter.
std::string rfc5987(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    const bool plain = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
    out += plain ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return out;
}

// `filename` is the ASCII-safe name; when the accession lost characters on the way (a Chinese
// accession, a slash), filename* (RFC 6266) carries the original for browsers that read it.
Reply download(std::string body, const std::string& type, const std::string& disposition,
               const std::string& filename, const std::string& original) {
  Reply r = Reply::bytes(std::move(body), type);
  std::string value = disposition + "; filename=\"" + filename + "\"";
  if (original != filename) value += "; filename*=UTF-8''" + rfc5987(original);
  r.headers.emplace("Content-Disposition", value);
  r.headers.emplace("Cache-Control", "no-store");  // patient data
  return r;
}

// Everything a report view needs, read in one transaction.
struct SampleReport {
  store::Sample sample;
  ReportData report;
  std::map<std::string, int> unmapped;  // cells whose class the taxonomy does not know
  std::int64_t cells = 0;
  std::optional<store::SampleSignOff> sign_off;  // present: `report` is the signed snapshot
  std::vector<store::Addendum> addenda;
};

// The report as the cells stand now (not signed). `counts` split into classes the taxonomy knows
// (counted by the differential) and unmapped ones (reported, never silently dropped).
// stain: what differs in the sample's stain from the classifier's training lab (measured before
// the transaction: it reads files), added to the domain warning.
Result<SampleReport> live_report(store::Tx& tx, const LabTaxonomies& taxonomies, const store::Sample& s,
                                 const std::vector<DisplayNames>& stain) {
  SampleReport out;
  out.sample = s;
  const Taxonomy& taxonomy = taxonomies.for_specimen(s.specimen);
  MS_ASSIGN_OR_RETURN(auto patient, store::get_patient(tx, s.patient_id));
  MS_ASSIGN_OR_RETURN(auto counts, store::count_sample_cells(tx, s.id));
  DifferentialInput in = taxonomies.input_for(s.specimen);
  in.count_target = static_cast<int>(s.count_target);
  in.unreviewed = static_cast<int>(counts.unreviewed);
  for (const auto& [cls, n] : counts.counts) {
    if (taxonomy.find(cls)) in.counts[cls] = n;
    else out.unmapped[cls] = n;
  }
  out.cells = counts.cells;
  MS_ASSIGN_OR_RETURN(auto diff, compute_differential(taxonomy, in));
  ReportData& r = out.report;
  r.report_id = "sample-" + std::to_string(s.id) + "-" + s.accession;
  r.patient = {patient.identifier, patient.name, patient.sex, patient.birth_date.value_or("")};
  r.sample.accession = s.accession;
  r.sample.collected_at = s.collection_date.value_or("");
  r.differential = std::move(diff);
  r.suggestions = suggest_all(r.differential);
  for (const auto& name : counts.reviewers) r.reviewer += (r.reviewer.empty() ? "" : ", ") + name;
  r.review = ReviewCounts{static_cast<int>(counts.unreviewed), static_cast<int>(counts.reclassified),
                          static_cast<int>(counts.technician), static_cast<int>(counts.doctor)};
  for (const auto& v : counts.detector_versions) r.models.push_back("detector " + v);
  for (const auto& v : counts.classifier_versions) r.models.push_back("classifier " + v);
  store::CellQuery all;
  all.sample_id = s.id;
  MS_ASSIGN_OR_RETURN(auto summary, store::summarise_cells(tx, all));
  const DomainCheck domain = check_domain({summary.cells, summary.atypical_scored, summary.atypical});
  if (domain.outside)
    r.domain_warning = DisplayNames{
        fmt::format("Domain warning: {:.0f} % of the scored cells look unlike the classifier's training "
                    "cells (expected about {:.0f} %); its suggestions are unreliable for this sample and "
                    "every class was to be checked by a reviewer.",
                    domain.atypical_share * 100, domain.expected_share * 100),
        fmt::format("域外警告：{:.0f}% 的已评分细胞与分类器的训练细胞不相似（预期约 {:.0f}%）；模型建议对本样本"
                    "不可靠，每个细胞的类别均应由审核人员核对。",
                    domain.atypical_share * 100, domain.expected_share * 100)};
  if (r.domain_warning)
    for (const auto& d : stain) {
      r.domain_warning->en += " " + d.en;
      r.domain_warning->zh += d.zh;
    }
  r.generated_at = iso_utc(store::now_ms());
  return out;
}

// The signed snapshot when there is one, else the live report; addenda either way.
Result<SampleReport> sample_report(store::Tx& tx, const ReportSettings& settings, std::int64_t id,
                                   const std::vector<DisplayNames>& stain) {
  MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, id));
  MS_ASSIGN_OR_RETURN(auto sign_off, store::find_sign_off(tx, id));
  SampleReport out;
  if (sign_off) {
    out.sample = sample;
    auto snapshot = report_from_json(sign_off->snapshot, "signed report of sample " + sample.accession);
    // The server wrote the snapshot itself: one that no longer reads back is damaged storage,
    // not bad input from the caller.
    if (!snapshot) return fail(ErrorCode::kInternal, snapshot.error().message);
    out.report = std::move(*snapshot);
    // Snapshots signed before the username was recorded: shown with the signer's account name
    // (the stored snapshot itself is not changed).
    if (out.report.sign_off && out.report.sign_off->username.empty() && sign_off->signed_by)
      if (auto u = store::get_user(tx, *sign_off->signed_by)) out.report.sign_off->username = u->username;
    for (const auto& row : out.report.differential.rows) out.cells += row.count;
    out.sign_off = std::move(sign_off);
  } else {
    MS_ASSIGN_OR_RETURN(out, live_report(tx, *settings.taxonomies, sample, stain));
    // Signed by an earlier version through POST /status, which stored no snapshot (that route
    // no longer signs): show who signed; the numbers are live.
    if (sample.status == store::SampleStatus::kSigned && sample.signed_at) {
      std::string who = "user " + std::to_string(sample.signed_by.value_or(0)), username;
      if (sample.signed_by)
        if (auto u = store::get_user(tx, *sample.signed_by)) {
          who = u->display_name.empty() ? u->username : u->display_name;
          username = u->username;
        }
      out.report.sign_off = SignOff{who, iso_utc(*sample.signed_at), "", username};
    }
  }
  MS_ASSIGN_OR_RETURN(out.addenda, store::list_addenda(tx, id));
  return out;
}

Json addenda_json(const std::vector<store::Addendum>& addenda) {
  Json items = Json::array();
  for (const auto& a : addenda) {
    Json j = config_to_json(a);
    j["created"] = iso_utc(a.created_at);
    items.push_back(std::move(j));
  }
  return items;
}

Json suggestions_json(const std::vector<Suggestion>& all, std::optional<RuleSet> only) {
  Json out = Json::array();
  for (const auto& s : all)
    if (!only || s.rule_set == *only) out.push_back(suggestion_to_json(s));
  return out;
}

std::string signer_name(const Caller& c) {
  return c.user.display_name.empty() ? c.user.username : c.user.display_name;
}

std::string with_line_breaks(const std::string& escaped) {
  std::string out;
  for (char ch : escaped) {
    if (ch == '\r') continue;
    out += ch == '\n' ? std::string("<br>\n") : std::string(1, ch);
  }
  return out;
}

// The printable page: src/report's layout, plus the lab's header at the top and the addenda
// after the signature (the signed body itself is rendered from the snapshot, unchanged).
std::string report_html(const SampleReport& sr, const ReportSettings& settings, Language lang) {
  std::string html = render_report_html(sr.report, lang);
  const bool zh = lang == Language::kChinese;
  // The signature is a 71-character hash: let it wrap instead of widening the page past A4.
  constexpr const char* kExtraStyle =
      "<style>\n.lab { display: flex; justify-content: space-between; align-items: baseline; "
      "margin-bottom: 2mm; }\n.lab-name { font-size: 12pt; font-weight: bold; }\n"
      ".lab-address { font-size: 9pt; color: #444; }\n.addenda { margin-top: 4mm; }\n"
      ".addendum { border-left: 2px solid #111; padding-left: 2mm; margin: 1.5mm 0; "
      "break-inside: avoid; page-break-inside: avoid; }\n.addendum .meta { font-size: 9pt; "
      "color: #444; }\n.signature td:not(.k) { overflow-wrap: anywhere; word-break: break-all; }\n"
      "</style>\n";
  if (auto head = html.find("</head>"); head != std::string::npos) html.insert(head, kExtraStyle);
  const std::string header = "<header class=\"lab\"><div class=\"lab-name\">" +
                             html_escape(zh && !settings.lab_name_set ? "血液学实验室" : settings.lab_name) +
                             "</div><div class=\"lab-address\">" +
                             html_escape(settings.lab_address) + "</div></header>\n";
  if (auto body = html.find("<body>\n"); body != std::string::npos)
    html.insert(body + 7, header);
  if (!sr.addenda.empty()) {
    std::string section = fmt::format("<section class=\"addenda\">\n<h2>{}</h2>\n",
                                      zh ? "补充报告" : "Addenda");
    for (const auto& a : sr.addenda)
      section += fmt::format(
          "<div class=\"addendum\"><p class=\"meta\">{} \u2014 {}</p><p>{}</p></div>\n",
          html_escape(iso_utc(a.created_at)), html_escape(a.author_name),
          with_line_breaks(html_escape(a.text)));
    section += "</section>\n";
    if (auto end = html.rfind("</body>"); end != std::string::npos) html.insert(end, section);
  }
  return html;
}

// RFC 4180 rows in the export's columns (section,id,name_en,...,display,...): one per addendum,
// id = its time, name_en = its author, display = its text.
std::string report_csv(const SampleReport& sr, bool bom) {
  CsvOptions o;
  o.utf8_bom = bom;
  std::string csv = report_to_csv(sr.report, o);
  for (const auto& a : sr.addenda)
    csv += "addendum," + csv_field(iso_utc(a.created_at)) + "," + csv_field(a.author_name) +
           ",,,,," + csv_field(a.text) + ",,,,\r\n";
  return csv;
}

// FHIR ids allow [A-Za-z0-9.-]{1,64}; a lab identifier with other characters is mapped onto
// that alphabet for the subject reference only.
std::string fhir_id(const std::string& identifier, std::int64_t patient_db_id) {
  std::string out;
  for (char c : identifier) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    out += ok ? c : '-';
  }
  if (out.empty()) out = "patient-" + std::to_string(patient_db_id);
  return out.substr(0, 64);
}

// The FHIR R4 Bundle of src/report; with addenda, the DiagnosticReport becomes "appended" (R4
// status: "subsequent to being final, the report has been modified by adding new content") and
// each addendum is added to its conclusion.
Result<Json> report_fhir(const SampleReport& sr) {
  ReportData r = sr.report;
  r.patient.id = fhir_id(r.patient.id, sr.sample.patient_id);
  MS_ASSIGN_OR_RETURN(Json bundle, report_to_fhir(r));
  if (sr.addenda.empty()) return bundle;
  for (auto& entry : bundle["entry"]) {
    Json& res = entry["resource"];
    if (res.value("resourceType", "") != "DiagnosticReport") continue;
    if (r.is_final()) res["status"] = "appended";
    std::string text = res.value("conclusion", "");
    for (const auto& a : sr.addenda)
      text += (text.empty() ? "" : "\n") +
              fmt::format("Addendum ({}, {}): {}", iso_utc(a.created_at), a.author_name, a.text);
    res["conclusion"] = text;
  }
  return bundle;
}

// HL7 v2.5.1 ORU^R01 of src/report (segments end in CR). Addenda become NTE segments after the
// report's own notes, before the first OBX: an NTE that follows an OBX would annotate that one
// observation instead of the report.
Result<std::string> report_hl7(const SampleReport& sr, const ReportSettings& settings) {
  Hl7Options o;
  o.sending_facility = settings.lab_name;
  MS_ASSIGN_OR_RETURN(std::string message, report_to_hl7v2(sr.report, o));
  int notes = 0;
  for (std::size_t p = message.find("\rNTE|"); p != std::string::npos; p = message.find("\rNTE|", p + 1))
    ++notes;
  std::string addenda;
  for (const auto& a : sr.addenda)
    addenda += fmt::format("NTE|{}|L|{}\r", ++notes,
                           hl7_escape(fmt::format("Addendum ({}, {}): {}", iso_utc(a.created_at),
                                                  a.author_name, a.text)));
  const std::size_t first_obx = message.find("\rOBX|");
  if (first_obx == std::string::npos) {
    if (!message.empty() && message.back() != '\r') message += '\r';
    message += addenda;
  } else {
    message.insert(first_obx + 1, addenda);
  }
  return message;
}

// The signing itself, in the caller's transaction: checks, the snapshot, the sign-off row, the
// sample's status, the audit event and the log entry, all or nothing.
Result<SampleReport> sign_sample(store::Tx& tx, const ReportSettings& settings, std::int64_t id,
                                 const SignRequest& req, const Caller& c, const std::vector<DisplayNames>& stain) {
  MS_ASSIGN_OR_RETURN(auto sample, store::lock_sample(tx, id));  // no review commits until this does
  MS_RETURN_IF_ERROR(store::require_unsigned(sample));
  const Taxonomy* taxonomy = &settings.taxonomies->for_specimen(sample.specimen);
  MS_ASSIGN_OR_RETURN(SampleReport sr, live_report(tx, *settings.taxonomies, sample, stain));
  if (sr.cells == 0)
    return fail(ErrorCode::kConflict, "sample " + sample.accession +
                                          " has no cells yet: upload and analyse fields first");
  // A report signed while fields are still being analysed would freeze a partial count.
  MS_ASSIGN_OR_RETURN(auto progress, store::sample_progress(tx, id));
  if (progress.queued + progress.running > 0)
    return fail(ErrorCode::kConflict,
                fmt::format("sample {}: {} field(s) are still being analysed; sign when the "
                            "analyses have finished",
                            sample.accession, progress.queued + progress.running));
  if (!sr.unmapped.empty()) {
    std::string list;
    for (const auto& [cls, n] : sr.unmapped) list += (list.empty() ? "" : ", ") + fmt::format("{} ({})", cls, n);
    return fail(ErrorCode::kConflict, Reason::kUnknownClasses,
                {{"sample", sample.accession}, {"taxonomy", taxonomy->name}, {"classes", list}});
  }
  const int unreviewed = sr.report.differential.unreviewed;
  if (unreviewed > 0 && !req.allow_unreviewed)
    return fail(ErrorCode::kConflict, Reason::kCellsUnreviewed,
                {{"sample", sample.accession}, {"n", std::to_string(unreviewed)}, {"total", std::to_string(sr.cells)}});
  const std::int64_t now = store::now_ms();
  ReportData& r = sr.report;
  r.comments = req.comments;
  r.generated_at = iso_utc(now);
  r.sign_off = SignOff{signer_name(c), iso_utc(now), "", c.user.username};
  // The signature is the SHA-256 of the report as signed (with this field empty): anyone holding
  // the snapshot can recompute it and see that nothing changed.
  r.sign_off->signature = "sha256:" + sha256_hex(report_to_json(r).dump());
  store::NewSignOff so;
  so.sample_id = id;
  so.user_id = c.user.id;
  so.signer_name = r.sign_off->signed_by;
  so.signed_at = now;
  so.snapshot_json = report_to_json(r).dump();
  so.snapshot_sha256 = sha256_hex(so.snapshot_json);
  MS_ASSIGN_OR_RETURN(auto stored, store::record_sign_off(tx, so));
  const std::string from = config_to_json(sample.status).get<std::string>();
  MS_RETURN_IF_ERROR(store::append_audit(tx, {c.user_id(), "sample", id, "sign", from, "signed", c.ip}));
  MS_RETURN_IF_ERROR(log_operation(tx, c, "sample.sign", sample.accession,
                                   fmt::format("{} cells, {} unreviewed, count {} of target {}{}, {}", sr.cells,
                                               unreviewed, r.differential.progress.counted,
                                               r.differential.progress.target,
                                               r.differential.progress.reached ? "" : " (below target)",
                                               r.sign_off->signature)));
  MS_ASSIGN_OR_RETURN(sr.sample, store::get_sample(tx, id));
  sr.sign_off = std::move(stored);
  return sr;
}

Json report_reply(const SampleReport& sr, const ReportSettings& settings) {
  Json sign_off = nullptr;
  if (sr.sign_off)
    sign_off = {{"signed_by", sr.sign_off->signed_by ? Json(*sr.sign_off->signed_by) : Json()},
                {"signer_name", sr.sign_off->signer_name},
                {"signed_at", sr.sign_off->signed_at},
                {"signature", sr.report.sign_off ? sr.report.sign_off->signature : ""},
                {"snapshot_sha256", sr.sign_off->snapshot_sha256}};
  return {{"sample", config_to_json(sr.sample)},
          {"status", sr.report.is_final() ? "final" : "preliminary"},
          {"snapshot", sr.sign_off.has_value()},
          {"lab", {{"name", settings.lab_name}, {"address", settings.lab_address}}},
          {"cells", sr.cells},
          {"unmapped", sr.unmapped},
          {"report", report_to_json(sr.report)},
          {"statements", config_to_json(report_statements(sr.report))},
          {"icsh_count_target", icsh_count_target(sr.report.differential.specimen)},
          {"sign_off", sign_off},
          {"addenda", addenda_json(sr.addenda)}};
}

}  // namespace

void register_report_routes(Api& api) {
  store::Database& db = api.db();
  std::shared_ptr<const ReportSettings> settings = load_settings(api.ctx().taxonomies);

  SampleStainCheck* stain_check = api.ctx().stain_check;
  auto read_report = [&db, settings, stain_check](const net::Request& req) -> Result<SampleReport> {
    MS_ASSIGN_OR_RETURN(auto id, path_id(req));
    const auto stain = stain_report_lines(stain_check, id);
    return db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
      return sample_report(tx, *settings, id, stain);
    });
  };

  api.get(R"(/api/taxonomy)", Access::kAnyUser,
          Doc("The cell classes and reference ranges differentials of one specimen use")
              .describe("Class ids, English and Chinese names, hematology order, colours, lineage and "
                        "flags; reference ranges per specimen; which classes are review-only (the "
                        "classifier cannot name them). Bone-marrow samples use the lab's marrow "
                        "taxonomy, peripheral-blood samples the blood one")
              .query("specimen", string_schema({"bone_marrow", "peripheral_blood"}), "default peripheral_blood")
              .answers(200, ref("Taxonomy"), "the taxonomy"),
          [settings](const net::Request& req, const Caller&) -> Result<Reply> {
            const std::string name = query_text(req, "specimen", "peripheral_blood");
            const store::Specimen specimen = name == "bone_marrow" ? store::Specimen::kBoneMarrow
                                                                   : store::Specimen::kPeripheralBlood;
            if (name != "bone_marrow" && name != "peripheral_blood")
              return fail(ErrorCode::kInvalidArgument, "query parameter 'specimen'",
                          "bone_marrow|peripheral_blood", "\"" + name + "\"");
            const LabTaxonomies& lab = *settings->taxonomies;
            const Taxonomy& t = lab.for_specimen(specimen);
            Json j = config_to_json(t);
            const DifferentialInput in = lab.input_for(specimen);
            for (auto& c : j["classes"])
              c["review_only"] = in.classifier_classes && !in.classifier_classes->count(c["id"].get<std::string>());
            Json order = Json::array();
            for (size_t k : t.reporting_order()) order.push_back(t.classes[k].id);
            j["reporting_order"] = order;
            j["specimen"] = name;
            j["classifier_classes"] = lab.classifier_classes ? Json(*lab.classifier_classes) : Json(nullptr);
            j["combine_neutrophils"] = lab.combine_neutrophils;
            j["icsh_count_target"] = store::default_count_target(specimen);
            return Reply::json(j);
          });

  api.get(R"(/api/samples/(\d+)/differential)", Access::kAnyUser,
          Doc("Differential of a sample")
              .describe("Counts in hematology order (reviewed class where present, else the suggestion), "
                        "percentages, reference flags, M:E, blasts with Wilson 95% CI, count progress, "
                        "unreviewed and unmapped cells, and the rule-set suggestions with their "
                        "disclaimer. Signed samples answer with the signed snapshot (`source: signed`)")
              .query("rule_set", string_schema({"fab", "who2022", "icc2022", "all"}), "default all")
              .answers(200, ref("DifferentialView"), "the differential")
              .header("ETag", "names the sample's revision; changes with any change to the sample or its cells. "
                              "Send it back as If-None-Match to revalidate a copy")
              .no_body(304, "the sample has not changed since the If-None-Match the request sent"),
          [&db, settings, answers = api.ctx().sample_answers](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto only, rule_set_param(req));
            const std::string key = Json::array({"differential", id, only ? Json(config_to_json(*only)) : Json("all")})
                                        .dump(-1, ' ', false, Json::error_handler_t::replace);
            // Kept under the sample's revision: made of the sample row, its cells, its sign-off
            // (signing changes the row) and the lab's taxonomy (fixed for the process). The
            // stain measurement only words the report's domain warning, which is not part of it.
            return sample_answer(db, *answers, req, id, key, [&](store::Tx& tx) -> Result<Json> {
            MS_ASSIGN_OR_RETURN(auto sr, sample_report(tx, *settings, id, {}));
            const Differential& d = sr.report.differential;
            return Json{{"sample_id", sr.sample.id},
                                {"accession", sr.sample.accession},
                                {"status", config_to_json(sr.sample.status)},
                                {"source", sr.sign_off ? "signed" : "live"},
                                {"cells", sr.cells},
                                {"unreviewed", d.unreviewed},
                                {"unmapped", sr.unmapped},
                                {"differential", differential_to_json(d)},
                                {"suggestions", suggestions_json(sr.report.suggestions, only)},
                                {"disclaimer", config_to_json(morphology_disclaimer())}};
            });
          });

  api.post(R"(/api/samples/(\d+)/sign)", Access::kDoctor,
           Doc("Sign a sample's report")
               .describe("Stores the report as signed (it never changes afterwards) and locks the sample. "
                         "The body may be empty")
               .json_body(read_schema<SignRequest>(), {{"comments", "Reactive marrow."}, {"allow_unreviewed", false}},
                          false)
               .answers(200, ref("ReportView"), "the signed report (as GET .../report)")
               .error(409, "already signed; no cells; analyses queued or running; unreviewed cells without "
                           "allow_unreviewed; cells of classes the taxonomy does not know"),
           [&db, settings, stain_check](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             SignRequest body;
             if (!req.body.empty()) {
               MS_ASSIGN_OR_RETURN(body, body_as<SignRequest>(req));
             }
             if (body.comments.size() > kMaxCommentBytes)
               return fail(ErrorCode::kInvalidArgument, "request body:$.comments",
                           fmt::format("at most {} bytes", kMaxCommentBytes),
                           fmt::format("{} bytes", body.comments.size()));
             const auto stain = stain_report_lines(stain_check, id);
             MS_ASSIGN_OR_RETURN(auto sr, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
               return sign_sample(tx, *settings, id, body, c, stain);
             }));
             return Reply::json(report_reply(sr, *settings));
           });

  api.get(R"(/api/samples/(\d+)/addenda)", Access::kAnyUser, Doc("Addenda of a signed report, oldest first")
              .answers(200, object_of({{"items", array_of(ref("Addendum"))}, {"total", integer_schema(0)}}), "the addenda"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto addenda, db.transact(store::TxMode::kRead, [&](store::Tx& tx)
                                                              -> Result<std::vector<store::Addendum>> {
              MS_RETURN_IF_ERROR(store::get_sample(tx, id));
              return store::list_addenda(tx, id);
            }));
            return Reply::json({{"items", addenda_json(addenda)}, {"total", addenda.size()}});
          });

  api.post(R"(/api/samples/(\d+)/addenda)", Access::kDoctor,
           Doc("Add an addendum to a signed report")
               .json_body(requiring(read_schema<AddendumRequest>(), {"text"}), {{"text", "Flow cytometry confirms."}})
               .answers(201, ref("Addendum"), "added")
               .error(409, "the sample is not signed yet"),
           [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto body, body_as<AddendumRequest>(req));
             MS_ASSIGN_OR_RETURN(auto a, db.transact(store::TxMode::kWrite, [&](store::Tx& tx)
                                                         -> Result<store::Addendum> {
               MS_ASSIGN_OR_RETURN(auto added, store::add_addendum(tx, id, c.user.id, signer_name(c), body.text));
               MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, id));
               MS_RETURN_IF_ERROR(store::append_audit(tx, {c.user_id(), "sample", id, "addendum",
                                                           std::nullopt, std::to_string(added.id), c.ip}));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "sample.addendum", sample.accession));
               return added;
             }));
             Json j = config_to_json(a);
             j["created"] = iso_utc(a.created_at);
             return Reply::json(j, 201);
           });

  api.get(R"(/api/samples/(\d+)/report)", Access::kAnyUser,
          Doc("The report for the web app")
              .describe("status (preliminary | final), lab header, the report (patient, sample, "
                        "differential, suggestions, reviewer, sign-off), addenda")
              .answers(200, ref("ReportView"), "the report"),
          [read_report, settings](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto sr, read_report(req));
            return Reply::json(report_reply(sr, *settings));
          });

  api.get(R"(/api/samples/(\d+)/report\.html)", Access::kAnyUser,
          Doc("Printable report (one A4 page, print styles, no scripts)")
              .describe("Lab header, patient, sample, differential table, suggestion with disclaimer, "
                        "signature, addenda")
              .query("lang", string_schema({"en", "zh"}), "default en")
              .file(200, "text/html", "the page")
              .header("Content-Disposition", "inline; filename=\"<accession>-report.html\""),
          [read_report, settings](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto lang, language_param(req));
            MS_ASSIGN_OR_RETURN(auto sr, read_report(req));
            return download(report_html(sr, *settings, lang), "text/html; charset=utf-8", "inline",
                            file_stem(sr.sample.accession) + "-report.html",
                            sr.sample.accession + "-report.html");
          });

  api.get(R"(/api/samples/(\d+)/report\.csv)", Access::kAnyUser,
          Doc("The report as CSV (RFC 4180), addenda as rows")
              .query("bom", string_schema({"0", "1"}), "1 adds a UTF-8 BOM for Excel")
              .file(200, "text/csv", "the CSV")
              .header("Content-Disposition", "attachment; filename=\"<accession>-differential.csv\""),
          [read_report](const net::Request& req, const Caller&) -> Result<Reply> {
            const std::string bom = query_text(req, "bom", "0");
            if (bom != "0" && bom != "1")
              return fail(ErrorCode::kInvalidArgument, "query parameter 'bom'", "0|1", "\"" + bom + "\"");
            MS_ASSIGN_OR_RETURN(auto sr, read_report(req));
            return download(report_csv(sr, bom == "1"), "text/csv; charset=utf-8", "attachment",
                            file_stem(sr.sample.accession) + "-differential.csv",
                            sr.sample.accession + "-differential.csv");
          });

  api.get(R"(/api/samples/(\d+)/report\.hl7)", Access::kAnyUser,
          Doc("The report as an HL7 v2.5.1 ORU^R01 message")
              .describe("OBR panel LOINC 47286-0 / 24318-8, one OBX per class, M:E 11138-5, NTE notes and addenda")
              .file(200, "x-application/hl7-v2+er7", "the message")
              .header("Content-Disposition", "attachment; filename=\"<accession>-oru.hl7\""),
          [read_report, settings](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto sr, read_report(req));
            MS_ASSIGN_OR_RETURN(auto message, report_hl7(sr, *settings));
            return download(std::move(message), "x-application/hl7-v2+er7; charset=utf-8",
                            "attachment", file_stem(sr.sample.accession) + "-oru.hl7",
                            sr.sample.accession + "-oru.hl7");
          });

  api.get(R"(/api/samples/(\d+)/report\.fhir\.json)", Access::kAnyUser,
          Doc("The report as a FHIR R4 Bundle")
              .describe("DiagnosticReport + panel Observation (LOINC 47286-0 marrow / 24318-8 blood) + one "
                        "Observation per class + M:E (LOINC 11138-5)")
              .file(200, "application/fhir+json", "a FHIR R4 Bundle (collection)")
              .header("Content-Disposition", "attachment; filename=\"<accession>-fhir.json\""),
          [read_report](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto sr, read_report(req));
            MS_ASSIGN_OR_RETURN(auto bundle, report_fhir(sr));
            return download(bundle.dump(1), "application/fhir+json; charset=utf-8", "attachment",
                            file_stem(sr.sample.accession) + "-fhir.json",
                            sr.sample.accession + "-fhir.json");
          });
}

}  // namespace ms::server
