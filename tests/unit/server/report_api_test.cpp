// Differential, sign-off, addenda and report exports over real HTTP, on SQLite and PostgreSQL.
// Cells are written straight into the store (as a finished analysis job would leave them), with
// hand-chosen suggested / reviewed classes, so every expected number below is counted by hand.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/cell_recognizer.h"
#include "server/lab_server_fixture.h"
#include "store/database.h"

namespace ms::testing {
namespace {

struct CellSpec {
  std::string suggested;
  std::optional<std::string> reviewed;
  bool confirmed = false;
  int copies = 1;
};

class ReportApiTest : public LabServerTest {
 protected:
  // One finished job on a new image of the sample, holding these cells.
  void add_cells(std::int64_t sample_id, const std::vector<CellSpec>& cells) {
    auto db = store::open_database(url_->url());
    ASSERT_TRUE(db) << db.error().message;
    auto s = (*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      const auto now = store::now_ms();
      MS_ASSIGN_OR_RETURN(
          auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, width, "
                                "height, bytes, created_at) VALUES (?, ?, 'f.png', 'PNG', 64, 48, "
                                "100, ?) RETURNING id",
                                {sample_id, "sha-" + std::to_string(++images_), now}));
      MS_ASSIGN_OR_RETURN(auto job, tx.insert("INSERT INTO jobs (image_id, sample_id, status, "
                                              "progress, created_at) VALUES (?, ?, 'done', 1, ?) "
                                              "RETURNING id",
                                              {image, sample_id, now}));
      int index = 0;
      for (const auto& c : cells)
        for (int k = 0; k < c.copies; ++k, ++index)
          MS_RETURN_IF_ERROR(tx.exec(
              "INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, "
              "det_score, suggested_class, probability, reviewed_class, confirmed, created_at, "
              "updated_at) VALUES (?, ?, ?, ?, 1, 1, 9, 9, 0.9, ?, 0.8, ?, ?, ?, ?)",
              {job, index, image, sample_id, c.suggested, store::Value(c.reviewed), c.confirmed,
               now, now}));
      return {};
    });
    ASSERT_TRUE(s) << s.error().message;
  }

  std::int64_t make_sample_with(const SessionCookies& s, const std::string& accession,
                                const std::string& specimen) {
    auto p = post(s, "/api/patients",
                  {{"identifier", "MRN-" + accession}, {"name", "Ada <Lovelace>"}, {"sex", "female"},
                   {"birth_date", "1980-12-10"}});
    EXPECT_EQ(p ? p->status : 0, 201) << (p ? p->body : "");
    auto r = post(s, "/api/patients/" + std::to_string(body_json(p).value("id", 0)) + "/samples",
                  {{"accession", accession}, {"specimen", specimen}, {"collection_date", "2026-02-03"}});
    EXPECT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
    return body_json(r).value("id", 0);
  }

  static const Json* row(const Json& differential, const std::string& id) {
    for (const auto& r : differential["rows"])
      if (r["id"] == id) return &r;
    return nullptr;
  }

  // The cells of the marrow case: reviewed classes override suggestions, an unconfirmed
  // reclassification counts as reviewed, platelets are shown but kept out of the denominator.
  //   segmented_neutrophil  4 suggested (unreviewed) + 1 myelocyte reclassified  = 5
  //   monocyte              2 (suggested lymphocyte, reviewed monocyte, confirmed) = 2
  //   erythroblast          2 confirmed                                          = 2
  //   platelet              1 confirmed (excluded)                               = 1
  // nucleated 9, unreviewed 4, segmented 5/9 = 55.6 % -> "56", M:E 5:2 = 2.50.
  void add_marrow_case(std::int64_t sample) {
    add_cells(sample, {{"segmented_neutrophil", std::nullopt, false, 4},
                       {"lymphocyte", "monocyte", true, 2},
                       {"erythroblast", std::nullopt, true, 2}});
    add_cells(sample, {{"myelocyte", "segmented_neutrophil", false, 1},
                       {"platelet", std::nullopt, true, 1}});
  }

  int images_ = 0;
};

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, row_has_content = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = row_has_content = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear(), row_has_content = true;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(field), field.clear(), ++i;
      rows.emplace_back(), row_has_content = false;
    } else {
      field += c, row_has_content = true;
    }
  }
  if (row_has_content) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

TEST_P(ReportApiTest, DifferentialCountsReviewedClassesOverSuggestions) {
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample_with(tech, "BM-R1", "bone_marrow");
  add_marrow_case(sample);
  const std::string url = "/api/samples/" + std::to_string(sample) + "/differential";

  auto viewer = user_with_role("view", "viewer");
  auto r = get(viewer, url);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json j = body_json(r);
  EXPECT_EQ(j["source"], "live");
  EXPECT_EQ(j["cells"], 10);
  EXPECT_EQ(j["unreviewed"], 4);
  EXPECT_TRUE(j["unmapped"].empty());
  const Json& d = j["differential"];
  EXPECT_EQ(d["specimen"], "bone_marrow");
  EXPECT_EQ(d["taxonomy"], "marrow");  // bone-marrow samples use the marrow vocabulary
  EXPECT_EQ(d["total_nucleated"], 9);
  EXPECT_EQ(d["total_excluded"], 1);
  EXPECT_EQ(d["unreviewed"], 4);
  ASSERT_TRUE(row(d, "segmented_neutrophil"));
  EXPECT_EQ((*row(d, "segmented_neutrophil"))["count"], 5);
  EXPECT_NEAR((*row(d, "segmented_neutrophil"))["percent"].get<double>(), 500.0 / 9, 1e-9);
  EXPECT_EQ((*row(d, "segmented_neutrophil"))["display"], "56");
  EXPECT_EQ((*row(d, "monocyte"))["count"], 2);
  EXPECT_EQ((*row(d, "lymphocyte"))["count"], 0) << "the reviewed class must replace the suggestion";
  EXPECT_EQ((*row(d, "myelocyte"))["count"], 0);
  EXPECT_EQ((*row(d, "erythroblast"))["count"], 2);
  EXPECT_EQ((*row(d, "platelet"))["count"], 1);
  EXPECT_EQ((*row(d, "platelet"))["counted"], false);
  EXPECT_TRUE((*row(d, "platelet"))["percent"].is_null());
  // Hematology order: segmented neutrophils (50s) before monocytes and erythroblasts.
  std::vector<std::string> order;
  for (const auto& x : d["rows"]) order.push_back(x["id"]);
  auto pos = [&](const std::string& id) { return std::find(order.begin(), order.end(), id) - order.begin(); };
  EXPECT_LT(pos("promyelocyte"), pos("segmented_neutrophil"));
  EXPECT_LT(pos("segmented_neutrophil"), pos("monocyte"));
  EXPECT_EQ(d["me_ratio"]["numerator"], 5);
  EXPECT_EQ(d["me_ratio"]["denominator"], 2);
  EXPECT_EQ(d["me_ratio"]["display"], "2.50:1");
  EXPECT_EQ(d["blasts"]["count"], 0);
  EXPECT_EQ(d["blasts"]["method"], "wilson");
  EXPECT_DOUBLE_EQ(d["blasts"]["interval"]["low"].get<double>(), 0.0);
  // Wilson upper bound for 0/9 at 95 %: z^2 / (n + z^2) = 3.8415 / 12.8415.
  EXPECT_NEAR(d["blasts"]["interval"]["high"].get<double>(), 0.29915, 1e-4);
  EXPECT_EQ(d["progress"]["counted"], 9);
  EXPECT_EQ(d["progress"]["target"], 500);
  EXPECT_FALSE(d["progress"]["reached"].get<bool>());
  ASSERT_EQ(j["suggestions"].size(), 3u);
  EXPECT_EQ(j["suggestions"][0]["rule_set"], "fab");
  EXPECT_FALSE(j["disclaimer"]["en"].get<std::string>().empty());

  auto who = body_json(get(viewer, url + "?rule_set=who2022"));
  ASSERT_EQ(who["suggestions"].size(), 1u);
  EXPECT_EQ(who["suggestions"][0]["rule_set"], "who2022");
  EXPECT_EQ(who["suggestions"][0]["rule_id"], "who2022.none");
  EXPECT_FALSE(who["suggestions"][0]["disclaimer"]["en"].get<std::string>().empty());
  auto bad = get(viewer, url + "?rule_set=who2016");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("rule_set"), std::string::npos);
  EXPECT_EQ(get(viewer, "/api/samples/987654/differential")->status, 404);
  EXPECT_EQ(client_->Get(url.c_str())->status, 401);

  // The count target is the sample's own.
  ASSERT_EQ(patch(tech, "/api/samples/" + std::to_string(sample), {{"count_target", 9}})->status, 200);
  auto reached = body_json(get(viewer, url))["differential"]["progress"];
  EXPECT_EQ(reached["target"], 9);
  EXPECT_TRUE(reached["reached"].get<bool>());
}

TEST_P(ReportApiTest, PeripheralBloodUsesTheBloodProfile) {
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample_with(tech, "PB-1", "peripheral_blood");
  add_cells(sample, {{"segmented_neutrophil", std::nullopt, true, 6},
                     {"lymphocyte", std::nullopt, true, 3},
                     {"basophil", std::nullopt, true, 1},
                     {"erythroblast", std::nullopt, true, 2}});
  auto j = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/differential"));
  const Json& d = j["differential"];
  EXPECT_EQ(d["specimen"], "peripheral_blood");
  EXPECT_EQ(d["denominator"], 10) << "white cells only";
  EXPECT_EQ(d["progress"]["target"], 200);
  EXPECT_TRUE(d["me_ratio"].is_null());
  EXPECT_DOUBLE_EQ((*row(d, "erythroblast"))["per_100_wbc"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ((*row(d, "segmented_neutrophil"))["percent"].get<double>(), 60.0);
  EXPECT_EQ((*row(d, "segmented_neutrophil"))["flag"], "normal");  // blood range 40-75 %
  EXPECT_EQ((*row(d, "basophil"))["flag"], "high");                 // blood range 0-2 %, 10 %
  EXPECT_EQ(j["unreviewed"], 0);

  auto doctor = user_with_role("doc", "doctor");
  ASSERT_EQ(post(doctor, "/api/samples/" + std::to_string(sample) + "/sign", Json::object())->status, 200);
  auto fhir = get(doctor, "/api/samples/" + std::to_string(sample) + "/report.fhir.json");
  ASSERT_EQ(fhir->status, 200) << fhir->body;
  const Json bundle = body_json(fhir);
  const Json& report = bundle["entry"][0]["resource"];
  EXPECT_EQ(report["resourceType"], "DiagnosticReport");
  EXPECT_EQ(report["status"], "final");
  EXPECT_EQ(report["code"]["coding"][0]["code"], "24318-8");
}

TEST_P(ReportApiTest, SignOffLocksTheSampleAndFreezesTheReport) {
  auto tech = user_with_role("tech", "technician");
  auto doctor = user_with_role("doc", "doctor");
  ASSERT_EQ(patch(doctor, "/api/users/" + std::to_string(body_json(get(doctor, "/api/session"))["user"]["id"].get<int>()),
                  {{"display_name", "Dr. Marrow"}})->status, 200);
  const auto empty = make_sample_with(tech, "BM-EMPTY", "bone_marrow");
  auto refused = post(doctor, "/api/samples/" + std::to_string(empty) + "/sign", Json::object());
  EXPECT_EQ(refused->status, 409);
  EXPECT_NE(refused->body.find("no cells"), std::string::npos) << refused->body;

  const auto sample = make_sample_with(tech, "BM-S1", "bone_marrow");
  add_marrow_case(sample);
  const std::string base = "/api/samples/" + std::to_string(sample);
  EXPECT_EQ(post(tech, base + "/sign", Json::object())->status, 403);
  EXPECT_EQ(client_->Post((base + "/sign").c_str(), doctor.headers(false), "{}", "application/json")->status, 403)
      << "no CSRF token";
  EXPECT_EQ(client_->Post((base + "/sign").c_str(), "{}", "application/json")->status, 401);
  auto unreviewed = post(doctor, base + "/sign", Json::object());
  EXPECT_EQ(unreviewed->status, 409);
  EXPECT_NE(unreviewed->body.find("4 of 10 cells are unreviewed"), std::string::npos) << unreviewed->body;
  EXPECT_EQ(post(doctor, base + "/sign", {{"allow_unreviewd", true}})->status, 400) << "typo in a key";
  EXPECT_EQ(post(doctor, "/api/samples/987654/sign", {{"allow_unreviewed", true}})->status, 404);

  auto s = post(doctor, base + "/sign", {{"allow_unreviewed", true}, {"comments", "Reactive picture."}});
  ASSERT_EQ(s->status, 200) << s->body;
  Json signed_report = body_json(s);
  EXPECT_EQ(signed_report["status"], "final");
  EXPECT_EQ(signed_report["sample"]["status"], "signed");
  EXPECT_EQ(signed_report["report"]["sign_off"]["signed_by"], "Dr. Marrow");
  const std::string signature = signed_report["report"]["sign_off"]["signature"];
  EXPECT_EQ(signature.rfind("sha256:", 0), 0u) << signature;
  EXPECT_EQ(signed_report["report"]["comments"], "Reactive picture.");
  EXPECT_EQ(body_json(get(tech, base))["status"], "signed");
  EXPECT_EQ(body_json(get(tech, base))["signed_by"], signed_report["sign_off"]["signed_by"]);

  auto twice = post(doctor, base + "/sign", {{"allow_unreviewed", true}});
  EXPECT_EQ(twice->status, 409);
  EXPECT_EQ(patch(tech, base, {{"notes", "late edit"}})->status, 409);
  EXPECT_EQ(upload(tech, sample, {{"late.png", disc_png(3)}})->status, 409);
  EXPECT_EQ(del(tech, base)->status, 409);

  // Cells that appear after sign-off (a late job) do not change the signed report.
  add_cells(sample, {{"segmented_neutrophil", std::nullopt, true, 7}});
  auto after = body_json(get(tech, base + "/differential"));
  EXPECT_EQ(after["source"], "signed");
  EXPECT_EQ((*row(after["differential"], "segmented_neutrophil"))["count"], 5);
  EXPECT_EQ(after["cells"], 10);
  auto report = body_json(get(tech, base + "/report"));
  EXPECT_EQ(report["report"], signed_report["report"]) << "the signed report changed";
  EXPECT_EQ(report["snapshot"], true);

  auto logs = body_json(get(doctor, "/api/logs?action=sample.sign"));
  ASSERT_EQ(logs["total"], 1);
  EXPECT_NE(logs["items"][0]["details"].get<std::string>().find(signature), std::string::npos);
}

TEST_P(ReportApiTest, NoSignOffWhileFieldsAreStillAnalysed) {
  auto tech = user_with_role("tech", "technician");
  auto doctor = user_with_role("doc", "doctor");
  const auto sample = make_sample_with(tech, "BM-BUSY", "bone_marrow");
  add_cells(sample, {{"lymphocyte", std::nullopt, true, 3}});
  // A second field whose job a live worker holds (its lease runs for an hour).
  add_cells(sample, {});
  auto db = store::open_database(url_->url());
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = 'running', worker = 'elsewhere', lease_until = ? "
                               "WHERE id = (SELECT MAX(id) FROM jobs WHERE sample_id = ?)",
                               {store::now_ms() + 3600000, sample}));
    return {};
  }));
  const std::string sign = "/api/samples/" + std::to_string(sample) + "/sign";
  auto busy = post(doctor, sign, Json::object());
  EXPECT_EQ(busy->status, 409);
  EXPECT_NE(busy->body.find("1 field(s) are still being analysed"), std::string::npos) << busy->body;
  ASSERT_TRUE((*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = 'done', lease_until = NULL WHERE sample_id = ?", {sample}));
    return {};
  }));
  EXPECT_EQ(post(doctor, sign, Json::object())->status, 200);
}

TEST_P(ReportApiTest, ConcurrentSignOffsSignOnce) {
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample_with(tech, "BM-RACE", "bone_marrow");
  add_cells(sample, {{"lymphocyte", std::nullopt, true, 3}});
  std::vector<SessionCookies> signers = {admin(), user_with_role("doc1", "doctor"),
                                         user_with_role("doc2", "doctor"), user_with_role("doc3", "doctor")};
  const int port = server_->port();
  std::atomic<int> ok{0}, conflict{0}, other{0};
  std::vector<std::thread> threads;
  for (const auto& s : signers)
    threads.emplace_back([&, s] {
      httplib::Client c("127.0.0.1", port);
      auto r = c.Post(("/api/samples/" + std::to_string(sample) + "/sign").c_str(), s.headers(), "{}",
                      "application/json");
      ++(!r ? other : r->status == 200 ? ok : r->status == 409 ? conflict : other);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(conflict, 3);
  EXPECT_EQ(other, 0);
  auto logs = body_json(get(signers[0], "/api/logs?action=sample.sign"));
  EXPECT_EQ(logs["total"], 1) << "a refused sign-off left a log entry";
}

TEST_P(ReportApiTest, AddendaAndExportsCarryTheSignedNumbers) {
  auto tech = user_with_role("tech", "technician");
  auto doctor = user_with_role("doc", "doctor");
  const auto sample = make_sample_with(tech, "BM/X 7", "bone_marrow");
  add_marrow_case(sample);
  const std::string base = "/api/samples/" + std::to_string(sample);

  // Before sign-off: a preliminary report, and no addenda.
  auto html = get(tech, base + "/report.html");
  ASSERT_EQ(html->status, 200) << html->body;
  EXPECT_NE(html->body.find("PRELIMINARY"), std::string::npos);
  EXPECT_EQ(post(doctor, base + "/addenda", {{"text", "too early"}})->status, 409);
  EXPECT_EQ(get(tech, base + "/report.html?lang=fr")->status, 400);

  ASSERT_EQ(post(doctor, base + "/sign", {{"allow_unreviewed", true}})->status, 200);
  EXPECT_EQ(post(tech, base + "/addenda", {{"text", "not a doctor"}})->status, 403);
  EXPECT_EQ(post(doctor, base + "/addenda", {{"text", "   "}})->status, 400);
  EXPECT_EQ(post(doctor, base + "/addenda", Json::object())->status, 400);
  EXPECT_EQ(post(doctor, base + "/addenda", {{"text", std::string(10001, 'a')}})->status, 400);
  EXPECT_EQ(post(doctor, "/api/samples/987654/addenda", {{"text", "x"}})->status, 404);
  auto a = post(doctor, base + "/addenda", {{"text", "Flow cytometry: <b>no</b> blast population."}});
  ASSERT_EQ(a->status, 201) << a->body;
  EXPECT_EQ(body_json(a)["author_name"], "doc");
  auto list = body_json(get(tech, base + "/addenda"));
  ASSERT_EQ(list["total"], 1);
  EXPECT_EQ(list["items"][0]["text"], "Flow cytometry: <b>no</b> blast population.");

  html = get(tech, base + "/report.html");
  ASSERT_EQ(html->status, 200);
  EXPECT_EQ(html->get_header_value("Content-Type"), "text/html; charset=utf-8");
  // The wire carries filename*=UTF-8''BM%2FX%207-...; cpp-httplib's client percent-decodes
  // header values as it parses them, so the test sees the original accession.
  EXPECT_EQ(html->get_header_value("Content-Disposition"), "inline; filename=\"BM_X_7-report.html\"; filename*=UTF-8''BM/X 7-report.html");
  const std::string& page = html->body;
  EXPECT_EQ(page.find("PRELIMINARY"), std::string::npos);
  EXPECT_NE(page.find("@page"), std::string::npos) << "print styles";
  EXPECT_NE(page.find("class=\"lab\""), std::string::npos);
  EXPECT_NE(page.find("Ada &lt;Lovelace&gt;"), std::string::npos) << "patient name escaped";
  EXPECT_NE(page.find("BM/X 7"), std::string::npos);
  EXPECT_NE(page.find("Segmented neutrophil</td><td class=\"n\">5</td><td class=\"n\">56</td>"),
            std::string::npos)
      << "signed numbers in the table";
  EXPECT_NE(page.find("2.50:1"), std::string::npos);
  EXPECT_NE(page.find("Signed by"), std::string::npos);
  EXPECT_NE(page.find("sha256:"), std::string::npos);
  EXPECT_NE(page.find("WHO 2022"), std::string::npos);
  EXPECT_NE(page.find("class=\"disclaimer\""), std::string::npos);
  EXPECT_NE(page.find("Flow cytometry: &lt;b&gt;no&lt;/b&gt; blast population."), std::string::npos);
  EXPECT_EQ(page.find("<b>no</b>"), std::string::npos) << "addendum text must be escaped";
  EXPECT_LT(page.find("class=\"signature\""), page.find("class=\"addenda\""));
  auto zh = get(tech, base + "/report.html?lang=zh");
  ASSERT_EQ(zh->status, 200);
  EXPECT_NE(zh->body.find("补充报告"), std::string::npos);
  EXPECT_NE(zh->body.find("中性分叶核粒细胞"), std::string::npos) << zh->body.substr(0, 3000);

  auto csv = get(tech, base + "/report.csv");
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_EQ(csv->get_header_value("Content-Disposition"), "attachment; filename=\"BM_X_7-differential.csv\"; filename*=UTF-8''BM/X 7-differential.csv");
  const auto rows = parse_csv(csv->body);
  ASSERT_GT(rows.size(), 10u);
  EXPECT_EQ(rows[0][0], "section");
  std::map<std::string, std::vector<std::string>> by_id;
  std::vector<std::string> addendum;
  for (const auto& r : rows) {
    ASSERT_EQ(r.size(), 12u) << "every row has the header's columns";
    if (r[0] == "class" || r[0] == "meta" || r[0] == "summary") by_id[r[0] + ":" + r[1]] = r;
    if (r[0] == "addendum") addendum = r;
  }
  EXPECT_EQ(by_id["class:segmented_neutrophil"][4], "5");
  EXPECT_EQ(by_id["class:segmented_neutrophil"][7], "56");
  EXPECT_EQ(by_id["class:monocyte"][4], "2");
  EXPECT_EQ(by_id["class:platelet"][4], "1");
  EXPECT_EQ(by_id["meta:status"][7], "final");
  EXPECT_EQ(by_id["summary:unreviewed"][4], "4");
  ASSERT_FALSE(addendum.empty());
  EXPECT_EQ(addendum[2], "doc");
  EXPECT_EQ(addendum[7], "Flow cytometry: <b>no</b> blast population.");
  auto bom = get(tech, base + "/report.csv?bom=1");
  EXPECT_EQ(bom->body.rfind("\xEF\xBB\xBF", 0), 0u);
  EXPECT_EQ(get(tech, base + "/report.csv?bom=yes")->status, 400);

  auto fhir = get(tech, base + "/report.fhir.json");
  ASSERT_EQ(fhir->status, 200) << fhir->body;
  EXPECT_EQ(fhir->get_header_value("Content-Type"), "application/fhir+json; charset=utf-8");
  EXPECT_EQ(fhir->get_header_value("Content-Disposition"), "attachment; filename=\"BM_X_7-fhir.json\"; filename*=UTF-8''BM/X 7-fhir.json");
  const Json bundle = body_json(fhir);
  ASSERT_TRUE(bundle.is_object());
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  const Json* report = nullptr;
  const Json* me = nullptr;
  std::map<std::string, const Json*> by_class;
  for (const auto& e : bundle["entry"]) {
    const Json& res = e["resource"];
    if (res["resourceType"] == "DiagnosticReport") report = &res;
    if (res["resourceType"] != "Observation") continue;
    const Json& coding = res["code"]["coding"][0];
    if (coding["code"] == "11138-5") me = &res;
    by_class[coding["code"].get<std::string>()] = &res;
  }
  ASSERT_TRUE(report);
  EXPECT_EQ((*report)["status"], "appended") << "final report with an addendum";
  EXPECT_EQ((*report)["code"]["coding"][0]["code"], "47286-0");
  EXPECT_EQ((*report)["subject"]["reference"], "Patient/MRN-BM-X-7");
  EXPECT_NE((*report)["conclusion"].get<std::string>().find("Addendum"), std::string::npos);
  ASSERT_TRUE(me);
  EXPECT_DOUBLE_EQ((*me)["valueRatio"]["numerator"]["value"].get<double>(), 2.5);
  ASSERT_TRUE(by_class.count("segmented_neutrophil"));
  const Json& seg = *by_class["segmented_neutrophil"];
  EXPECT_DOUBLE_EQ(seg["valueQuantity"]["value"].get<double>(), 56.0);
  EXPECT_EQ(seg["component"][0]["valueQuantity"]["value"], 5);

  auto hl7 = get(tech, base + "/report.hl7");
  ASSERT_EQ(hl7->status, 200) << hl7->body;
  EXPECT_EQ(hl7->get_header_value("Content-Type"), "x-application/hl7-v2+er7; charset=utf-8");
  EXPECT_EQ(hl7->get_header_value("Content-Disposition"), "attachment; filename=\"BM_X_7-oru.hl7\"; filename*=UTF-8''BM/X 7-oru.hl7");
  std::vector<std::string> segments;
  std::stringstream lines(hl7->body);
  for (std::string seg; std::getline(lines, seg, '\r');) segments.push_back(seg);
  ASSERT_FALSE(segments.empty());
  EXPECT_EQ(segments[0].rfind("MSH|^~\\&|MARROWSCOPE|Hematology laboratory|", 0), 0u) << segments[0];
  int obx = 0, addendum_notes = 0;
  bool seen_obx = false;
  std::string seg_obx;
  for (const auto& seg : segments) {
    obx += seg.rfind("OBX|", 0) == 0;
    if (seg.rfind("OBX|", 0) == 0 && seg.find("segmented_neutrophil") != std::string::npos) seg_obx = seg;
    seen_obx |= seg.rfind("OBX|", 0) == 0;
    if (seg.rfind("NTE|", 0) == 0 && seg.find("Addendum (") != std::string::npos) {
      ++addendum_notes;
      EXPECT_FALSE(seen_obx) << "an addendum after an OBX would annotate that observation";
      EXPECT_NE(seg.find("no</b> blast population."), std::string::npos) << seg;
    }
  }
  EXPECT_EQ(obx, 20) << "the marrow vocabulary's 19 classes and M:E";
  EXPECT_NE(seg_obx.find("|56|"), std::string::npos) << seg_obx;
  EXPECT_EQ(addendum_notes, 1);

  // The signed page as an artefact, for a look or a print preview.
  if (const char* out = std::getenv("MARROWSCOPE_TEST_ARTIFACTS"); out && *out && GetParam() == "sqlite")
    std::ofstream(std::string(out) + "/signed-report.html") << page;

  EXPECT_EQ(get(tech, "/api/samples/987654/report.fhir.json")->status, 404);
  EXPECT_EQ(get(tech, "/api/samples/987654/report")->status, 404);
  EXPECT_EQ(client_->Get((base + "/report.csv").c_str())->status, 401);
}

// What a lab signs: the in-app report, the print view, CSV, FHIR and HL7 all carry the sign-off
// comment, the model versions, the cells per review state, the count target (reached or not) and
// the domain warning.
TEST_P(ReportApiTest, EverySignedFormCarriesCommentModelsReviewStatesTargetAndDomainWarning) {
  auto doctor = user_with_role("doc", "doctor");
  const auto sample = make_sample_with(doctor, "BM-S1", "bone_marrow");
  add_cells(sample, {{"lymphocyte", std::nullopt, true, 20}, {"monocyte", std::nullopt, false, 4}});
  {
    auto db = store::open_database(url_->url());
    ASSERT_TRUE(db);
    // Every cell scored and flagged atypical: far above the 5 % the training lab shows.
    auto s = (*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      MS_RETURN_IF_ERROR(tx.exec("UPDATE cells SET detector_version = 'retina-1.0', classifier_version = 'vit-2.1', "
                                 "atypical = 0.99, flag_reason = 'atypical' WHERE sample_id = ?",
                                 {sample}));
      return {};
    });
    ASSERT_TRUE(s) << s.error().message;
  }
  const std::string base = "/api/samples/" + std::to_string(sample);
  auto signed_ = post(doctor, base + "/sign", {{"comments", "Hypocellular; repeat."}, {"allow_unreviewed", true}});
  ASSERT_EQ(signed_->status, 200) << signed_->body;
  const Json j = body_json(signed_);
  EXPECT_EQ(j["report"]["comments"], "Hypocellular; repeat.");
  EXPECT_EQ(j["report"]["review"]["doctor"], 20);
  EXPECT_EQ(j["report"]["review"]["model_only"], 4);
  EXPECT_EQ(j["report"]["models"], Json({"detector retina-1.0", "classifier vit-2.1"}));
  EXPECT_FALSE(j["report"]["domain_warning"].is_null());
  EXPECT_EQ(j["icsh_count_target"], 500);
  std::string all;
  for (const auto& st : j["statements"]) all += st["en"].get<std::string>() + "\n";
  EXPECT_NE(all.find("Count target: 500 nucleated cells; counted 24: BELOW the target."), std::string::npos) << all;
  EXPECT_NE(all.find("20 cells confirmed by a doctor"), std::string::npos) << all;
  EXPECT_NE(all.find("Models: detector retina-1.0; classifier vit-2.1."), std::string::npos) << all;
  EXPECT_NE(all.find("Domain warning"), std::string::npos) << all;

  const std::string html = get(doctor, base + "/report.html")->body;
  const std::string html_zh = get(doctor, base + "/report.html?lang=zh")->body;
  const std::string csv = get(doctor, base + "/report.csv")->body;
  const std::string fhir = get(doctor, base + "/report.fhir.json")->body;
  const std::string hl7 = get(doctor, base + "/report.hl7")->body;
  for (const std::string* body : {&html, &csv, &fhir, &hl7}) {
    EXPECT_NE(body->find("Hypocellular; repeat."), std::string::npos) << *body;
    EXPECT_NE(body->find("vit-2.1"), std::string::npos) << *body;
    EXPECT_NE(body->find("Domain warning"), std::string::npos) << *body;
  }
  for (const std::string* body : {&html, &fhir, &hl7}) {
    EXPECT_NE(body->find("BELOW the target"), std::string::npos) << *body;
    EXPECT_NE(body->find("20 cells confirmed by a doctor, 0 pre-verified by a technician"), std::string::npos) << *body;
  }
  EXPECT_NE(html_zh.find("未达到目标"), std::string::npos);
  EXPECT_NE(html_zh.find("医师确认 20 个"), std::string::npos);
  EXPECT_NE(html_zh.find("域外警告"), std::string::npos);
  if (!std::getenv("MARROWSCOPE_LAB_NAME")) {
    EXPECT_NE(html_zh.find("血液学实验室"), std::string::npos);  // the generic lab name, in Chinese
    EXPECT_EQ(html_zh.find("Hematology laboratory"), std::string::npos);
  }
  EXPECT_NE(csv.find("meta,count_target_reached,,,,,,no,,,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("summary,review_doctor,Confirmed by a doctor,,20,,cells,20,,,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("summary,review_model_only,Model suggestion only,,4,,cells,4,,,"), std::string::npos) << csv;
}

TEST_P(ReportApiTest, UnknownClassesAreReportedAndBlockSigning) {
  auto tech = user_with_role("tech", "technician");
  auto doctor = user_with_role("doc", "doctor");
  const auto sample = make_sample_with(tech, "BM-U1", "bone_marrow");
  add_cells(sample, {{"lymphocyte", std::nullopt, true, 3}, {"hairy_cell", std::nullopt, true, 2}});
  const std::string base = "/api/samples/" + std::to_string(sample);
  auto j = body_json(get(tech, base + "/differential"));
  EXPECT_EQ(j["cells"], 5);
  EXPECT_EQ(j["unmapped"]["hairy_cell"], 2);
  EXPECT_EQ(j["differential"]["total_nucleated"], 3);
  auto s = post(doctor, base + "/sign", Json::object());
  EXPECT_EQ(s->status, 409);
  EXPECT_NE(s->body.find("hairy_cell (2)"), std::string::npos) << s->body;
}

TEST_P(ReportApiTest, TaxonomyAndEveryReportRouteAreDocumented) {
  auto viewer = user_with_role("view", "viewer");
  auto t = body_json(get(viewer, "/api/taxonomy"));
  EXPECT_EQ(t["name"], "pbc11");
  EXPECT_EQ(t["specimen"], "peripheral_blood");
  EXPECT_EQ(t["classes"].size(), 14u);
  EXPECT_EQ(t["reporting_order"].size(), 14u);
  EXPECT_TRUE(t["classifier_classes"].is_null());  // the test double names no classes
  EXPECT_EQ(t["icsh_count_target"], 200);           // ICSH: 200 white cells in blood
  auto m = body_json(get(viewer, "/api/taxonomy?specimen=bone_marrow"));
  EXPECT_EQ(m["name"], "marrow");
  EXPECT_EQ(m["specimen"], "bone_marrow");
  EXPECT_EQ(m["icsh_count_target"], 500);  // 500 nucleated cells in marrow
  auto bad = get(viewer, "/api/taxonomy?specimen=csf");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("specimen"), std::string::npos) << bad->body;
  EXPECT_EQ(client_->Get("/api/taxonomy")->status, 401);
  const Json doc = body_json(client_->Get("/api/openapi.json"));
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/api/taxonomy", "get"},
      {"/api/samples/{id}/differential", "get"},
      {"/api/samples/{id}/sign", "post"},
      {"/api/samples/{id}/addenda", "get"},
      {"/api/samples/{id}/addenda", "post"},
      {"/api/samples/{id}/report", "get"},
      {"/api/samples/{id}/report.html", "get"},
      {"/api/samples/{id}/report.csv", "get"},
      {"/api/samples/{id}/report.fhir.json", "get"},
      {"/api/samples/{id}/report.hl7", "get"}};
  for (const auto& [path, method] : routes)
    EXPECT_TRUE(doc["paths"].contains(path) && doc["paths"][path].contains(method)) << method << " " << path;
}

// A classifier that names `classes` (the shipped models name the 11 PBC classes, no blasts). Cells
// are written straight into the store here, so it never classifies anything.
class NamedClassifier : public TestDoubleRunner, public server::CellRecognizer {
 public:
  explicit NamedClassifier(std::vector<std::string> classes) : classes_(std::move(classes)) {}
  Result<std::vector<store::AnalysedCell>> classify_crops(const std::vector<cv::Mat>&) override {
    return fail(ErrorCode::kInternal, "test double: classify_crops is not used in these tests");
  }
  std::vector<std::string> classes() const override { return classes_; }

 private:
  std::vector<std::string> classes_;
};

const std::vector<std::string> kPbcClasses = {
    "band_neutrophil", "basophil", "eosinophil", "erythroblast", "lymphocyte", "metamyelocyte",
    "monocyte", "myelocyte", "platelet", "promyelocyte", "segmented_neutrophil"};

class MarrowVocabularyTest : public ReportApiTest {
 protected:
  MarrowVocabularyTest() { start_in_setup_ = false; }
  void TearDown() override {
    unsetenv("MARROWSCOPE_COMBINE_NEUTROPHILS");
    ReportApiTest::TearDown();
  }
};

TEST_P(MarrowVocabularyTest, ServerRefusesToStartWhenAClassifierClassIsMissingFromATaxonomy) {
  runner_ = std::make_shared<NamedClassifier>(std::vector<std::string>{"lymphocyte", "hairy_cell"});
  auto s = server::LabServer::create(options_, runner_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("\"hairy_cell\""), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("MARROWSCOPE_TAXONOMY"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("pbc11.json"), std::string::npos) << s.error().message;
  // A bad lab option is refused by name too.
  setenv("MARROWSCOPE_COMBINE_NEUTROPHILS", "sometimes", 1);
  runner_ = std::make_shared<NamedClassifier>(kPbcClasses);
  s = server::LabServer::create(options_, runner_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("MARROWSCOPE_COMBINE_NEUTROPHILS"), std::string::npos) << s.error().message;
}

TEST_P(MarrowVocabularyTest, BlastsAreNotAssessedUntilAReviewerNamesThem) {
  runner_ = std::make_shared<NamedClassifier>(kPbcClasses);
  start_server();
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample_with(tech, "BM-V1", "bone_marrow");
  add_cells(sample, {{"lymphocyte", std::nullopt, false, 8}, {"monocyte", std::nullopt, false, 2}});
  const std::string base = "/api/samples/" + std::to_string(sample);

  // The marrow vocabulary: the classifier's classes plus review-only ones.
  auto t = body_json(get(tech, "/api/taxonomy?specimen=bone_marrow"));
  EXPECT_EQ(t["classifier_classes"], Json(kPbcClasses));
  std::map<std::string, bool> review_only;
  for (const auto& c : t["classes"]) review_only[c["id"]] = c["review_only"];
  for (const char* id : {"blast", "promonocyte", "plasma_cell", "megakaryocyte", "other", "smudge", "not_a_cell", "artefact"})
    EXPECT_TRUE(review_only[id]) << id;
  EXPECT_FALSE(review_only["lymphocyte"]);

  auto d = body_json(get(tech, base + "/differential"));
  EXPECT_FALSE(d["differential"]["blasts"]["assessed"]);
  EXPECT_TRUE((*row(d["differential"], "blast"))["review_only"]);
  for (const auto& s : d["suggestions"]) {
    EXPECT_TRUE(s["rule_id"].get<std::string>().find(".blasts_not_assessed") != std::string::npos) << s.dump();
    EXPECT_NE(s["text"]["en"].get<std::string>().find("blasts are counted only on review"), std::string::npos);
    EXPECT_EQ(s["text"]["en"].get<std::string>().find("criterion met"), std::string::npos) << s.dump();
  }
  auto html = get(tech, base + "/report.html");
  EXPECT_EQ(html->body.find("No WHO 2022 blast criterion met"), std::string::npos);
  EXPECT_NE(html->body.find("blasts are counted only on review"), std::string::npos);
  EXPECT_NE(html->body.find("Review-only class: the classifier cannot name it"), std::string::npos);

  // The technician names one lymphocyte a blast: 1 of 10 = 10 %, WHO 2022 MDS-IB2 range.
  const Json cells = body_json(get(tech, base + "/cells?class=lymphocyte"));
  const auto id = cells["items"][0]["id"].get<std::int64_t>();
  auto r = patch(tech, "/api/cells/" + std::to_string(id), {{"class", "blast"}});
  ASSERT_EQ(r->status, 200) << r->body;
  d = body_json(get(tech, base + "/differential?rule_set=who2022"));
  EXPECT_TRUE(d["differential"]["blasts"]["assessed"]);
  EXPECT_EQ(d["differential"]["blasts"]["count"], 1);
  ASSERT_EQ(d["suggestions"].size(), 1u);
  EXPECT_EQ(d["suggestions"][0]["rule_id"], "who2022.mds_ib2");
  // A class outside every taxonomy is still refused.
  r = patch(tech, "/api/cells/" + std::to_string(id), {{"class", "hairy_cell"}});
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_P(MarrowVocabularyTest, LabOptionCountsBandAndSegmentedNeutrophilsTogether) {
  setenv("MARROWSCOPE_COMBINE_NEUTROPHILS", "1", 1);
  runner_ = std::make_shared<NamedClassifier>(kPbcClasses);
  start_server();
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample_with(tech, "BM-N1", "bone_marrow");
  add_cells(sample, {{"band_neutrophil", std::nullopt, true, 3}, {"segmented_neutrophil", std::nullopt, true, 5},
                     {"lymphocyte", std::nullopt, true, 2}});
  auto d = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/differential"))["differential"];
  EXPECT_TRUE(d["neutrophils_combined"]);
  EXPECT_EQ(row(d, "band_neutrophil"), nullptr);
  ASSERT_NE(row(d, "neutrophil"), nullptr);
  EXPECT_EQ((*row(d, "neutrophil"))["count"], 8);
  EXPECT_TRUE(body_json(get(tech, "/api/taxonomy?specimen=bone_marrow"))["combine_neutrophils"]);
}

INSTANTIATE_TEST_SUITE_P(Backends, MarrowVocabularyTest, ::testing::ValuesIn(test_backends()), backend_name);

INSTANTIATE_TEST_SUITE_P(Backends, ReportApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
