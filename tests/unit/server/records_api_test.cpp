// Patients, samples, uploads, jobs and cells over real HTTP.
#include <atomic>
#include <thread>

#include "server/lab_server_fixture.h"

namespace ms::testing {
namespace {

using RecordsApiTest = LabServerTest;

TEST_P(RecordsApiTest, PatientCrudSearchAndBadInput) {
  auto t = user_with_role("tech", "technician");
  auto created = post(t, "/api/patients",
                      {{"identifier", "MRN-100"}, {"name", "Grace Hopper"}, {"sex", "female"},
                       {"birth_date", "1906-12-09"}, {"keywords", "CML follow-up"}});
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string url = "/api/patients/" + std::to_string(body_json(created)["id"].get<int>());
  EXPECT_EQ(body_json(get(t, url))["name"], "Grace Hopper");

  EXPECT_EQ(post(t, "/api/patients", {{"identifier", "MRN-100"}, {"name", "Dup"}})->status, 409);
  auto missing = post(t, "/api/patients", {{"identifier", "MRN-101"}});
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("name"), std::string::npos);
  auto unknown = post(t, "/api/patients", {{"identifier", "MRN-102"}, {"name", "X"}, {"nmae", "typo"}});
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("$.nmae"), std::string::npos) << unknown->body;
  auto wrong_type = post(t, "/api/patients", {{"identifier", 7}, {"name", "X"}});
  EXPECT_EQ(wrong_type->status, 400);
  auto malformed = client_->Post("/api/patients", t.headers(), "{\"identifier\": \"x\",", "application/json");
  EXPECT_EQ(malformed->status, 400);
  auto not_json = client_->Post("/api/patients", t.headers(), "identifier=x", "application/x-www-form-urlencoded");
  EXPECT_EQ(not_json->status, 415);
  auto future = post(t, "/api/patients", {{"identifier", "MRN-103"}, {"name", "X"}, {"birth_date", "2999-01-01"}});
  EXPECT_EQ(future->status, 400);

  EXPECT_EQ(get(t, "/api/patients/424242")->status, 404);
  EXPECT_EQ(get(t, "/api/patients/99999999999999999999999")->status, 404);
  EXPECT_EQ(get(t, "/api/patients/abc")->status, 404);

  auto updated = patch(t, url, {{"notes", "transferred"}, {"birth_date", nullptr}});
  ASSERT_EQ(updated->status, 200) << updated->body;
  EXPECT_TRUE(body_json(updated)["birth_date"].is_null());
  EXPECT_EQ(body_json(updated)["notes"], "transferred");

  for (int k = 0; k < 7; ++k)
    post(t, "/api/patients", {{"identifier", "S-" + std::to_string(k)}, {"name", "Search " + std::to_string(k)}});
  auto page = body_json(get(t, "/api/patients?q=search&sort=identifier&order=desc&page=2&page_size=3"));
  EXPECT_EQ(page["total"], 7);
  ASSERT_EQ(page["items"].size(), 3u);
  EXPECT_EQ(page["items"][0]["identifier"], "S-3");
  EXPECT_EQ(get(t, "/api/patients?sort=password")->status, 400);
  EXPECT_EQ(get(t, "/api/patients?page=zero")->status, 400);
  EXPECT_EQ(body_json(get(t, "/api/patients?identifier=mrn-1"))["total"], 1);

  EXPECT_EQ(del(t, url)->status, 204);
  EXPECT_EQ(get(t, url)->status, 404);
}

TEST_P(RecordsApiTest, CsvImportListsRowErrorsAndExportRoundTrips) {
  auto t = user_with_role("tech", "technician");
  const std::string bad = "identifier,name,sex\nC1,Ok Person,female\nC2,,male\nC3,Bad Sex,yes\n";
  auto r = client_->Post("/api/patients/import", t.headers(), bad, "text/csv");
  ASSERT_EQ(r->status, 422) << r->body;
  auto rows = body_json(r)["error"]["details"]["rows"];
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["row"], 3);
  EXPECT_EQ(rows[1]["row"], 4);
  EXPECT_EQ(body_json(get(t, "/api/patients"))["total"], 0) << "a bad file imported some rows";
  EXPECT_EQ(client_->Post("/api/patients/import", t.headers(), "", "text/csv")->status, 400);
  const std::string good = "identifier,name,keywords\nC1,\"Doe, Jane\",aml\nC2,Roe,\n";
  auto ok = client_->Post("/api/patients/import", t.headers(), good, "text/csv");
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(body_json(ok)["imported"], 2);
  // A well-formed row whose identifier already exists refuses the whole file too.
  auto clash = client_->Post("/api/patients/import", t.headers(), "identifier,name\nC9,New Person\nC1,Again\n",
                             "text/csv");
  ASSERT_EQ(clash->status, 422) << clash->body;
  ASSERT_EQ(body_json(clash)["error"]["details"]["rows"].size(), 1u);
  EXPECT_EQ(body_json(clash)["error"]["details"]["rows"][0]["row"], 3);
  EXPECT_EQ(body_json(get(t, "/api/patients"))["total"], 2) << "C9 was imported beside a refused row";
  auto csv = get(t, "/api/patients/export");
  ASSERT_EQ(csv->status, 200);
  EXPECT_NE(csv->get_header_value("Content-Type").find("text/csv"), std::string::npos);
  EXPECT_NE(csv->body.find("C1,\"Doe, Jane\",unknown,,aml,,0"), std::string::npos) << csv->body;
}

TEST_P(RecordsApiTest, UploadsAreValidatedDeduplicatedAndAnalysed) {
  auto t = user_with_role("tech", "technician");
  const auto sample = make_sample(t, "BM-1");
  const std::string base = "/api/samples/" + std::to_string(sample);

  auto garbage = upload(t, sample, {{"field.png", std::string(300, 'x')}});
  EXPECT_EQ(garbage->status, 415) << garbage->body;
  EXPECT_NE(garbage->body.find("field.png"), std::string::npos);
  auto empty = upload(t, sample, {{"empty.jpg", ""}});
  EXPECT_EQ(empty->status, 400) << empty->body;
  std::string truncated = disc_png(1);
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(upload(t, sample, {{"half.png", truncated}})->status, 422);
  auto big = upload(t, sample, {{"big.png", std::string(options_.max_image_bytes + 10, '\x89')}});
  EXPECT_EQ(big->status, 413) << big->body;
  auto huge = upload(t, sample, {{"huge.png", std::string(options_.max_upload_bytes + 10, 'x')}});
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_EQ(error_code(huge), "too_large");
  auto not_multipart = client_->Post((base + "/images").c_str(), t.headers(), disc_png(1), "image/png");
  EXPECT_EQ(not_multipart->status, 415);
  auto mixed = upload(t, sample, {{"good.png", disc_png(1)}, {"bad.png", "nope"}});
  EXPECT_EQ(mixed->status, 415);
  ASSERT_EQ(body_json(mixed)["error"]["details"]["files"].size(), 1u);
  EXPECT_EQ(body_json(mixed)["error"]["message"].get<std::string>().rfind(
                "1 of 2 files refused, nothing stored; first: file 'bad.png': ", 0),
            0u)
      << mixed->body;
  EXPECT_EQ(body_json(get(t, base + "/images"))["total"], 0) << "a refused request stored something";
  EXPECT_EQ(upload(t, 424242, {{"a.png", disc_png(1)}})->status, 404);

  auto r = upload(t, sample, {{"f1.png", disc_png(1)}, {"f2.png", disc_png(2)}, {"f3.png", disc_png(3)}});
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(body_json(r)["queued"], 3);
  auto dup = upload(t, sample, {{"again.png", disc_png(2)}});
  ASSERT_EQ(dup->status, 201);
  EXPECT_EQ(body_json(dup)["items"][0]["duplicate"], true);
  EXPECT_EQ(body_json(dup)["queued"], 0);

  auto progress = wait_for_jobs(t, sample);
  EXPECT_EQ(progress["done"], 3);
  EXPECT_EQ(progress["cells"], 9);
  EXPECT_EQ(progress["count_target"], 500);
  EXPECT_DOUBLE_EQ(progress["fraction"].get<double>(), 1.0);

  auto images = body_json(get(t, base + "/images"))["items"];
  ASSERT_EQ(images.size(), 3u);
  const std::string image = "/api/images/" + std::to_string(images[0]["id"].get<int>());
  EXPECT_EQ(images[0]["width"], 64);
  EXPECT_EQ(images[0]["format"], "PNG");
  auto file = get(t, image + "/file");
  ASSERT_EQ(file->status, 200);
  EXPECT_EQ(file->body, disc_png(1));
  auto thumb = get(t, image + "/thumbnail");
  ASSERT_EQ(thumb->status, 200);
  EXPECT_EQ(thumb->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_TRUE(decode_image(reinterpret_cast<const std::uint8_t*>(thumb->body.data()), thumb->body.size(), "thumb"));

  auto cells = body_json(get(t, image + "/cells"));
  ASSERT_EQ(cells["total"], 3);
  EXPECT_EQ(cells["items"][0]["suggested_class"], "neutrophil");
  EXPECT_EQ(cells["items"][0]["top_k"][0]["class"], "neutrophil");
  EXPECT_EQ(cells["items"][0]["detector_version"], "test-detector");
  EXPECT_FLOAT_EQ(cells["items"][1]["x1"].get<float>(), 14.f);
  auto lymphs = body_json(get(t, base + "/cells?class=lymphocyte&reviewed=false&order=entropy"));
  EXPECT_EQ(lymphs["total"], 3);
  EXPECT_EQ(get(t, base + "/cells?order=random")->status, 400);
  EXPECT_EQ(get(t, "/api/images/999999/cells")->status, 404);

  auto doc = user_with_role("doc", "doctor");
  auto logs = body_json(get(doc, "/api/logs?action=image.upload"));
  EXPECT_EQ(logs["total"], 3);
  // Each analysis is in the log too, once, naming the sample and its outcome.
  auto analyses = body_json(get(doc, "/api/logs?action=analysis."));
  ASSERT_EQ(analyses["total"], 3) << analyses.dump();
  for (const auto& e : analyses["items"]) {
    EXPECT_EQ(e["action"], "analysis.done");
    EXPECT_EQ(e["target"], "BM-1");
    EXPECT_NE(e["details"].get<std::string>().find("3 cells, detector test-detector"), std::string::npos) << e.dump();
  }
}

TEST_P(RecordsApiTest, ASampleDeclaresTheScaleOfItsFieldsAndItsAnalysesAreGivenIt) {
  auto t = user_with_role("tech", "technician");
  auto p = post(t, "/api/patients", {{"identifier", "MRN-SCALE"}, {"name", "Scale"}});
  ASSERT_EQ(p->status, 201) << p->body;
  const std::string samples = "/api/patients/" + std::to_string(body_json(p)["id"].get<std::int64_t>()) + "/samples";
  // Out of range or of the wrong type: refused, naming the field, nothing stored.
  for (const Json bad : {Json(0), Json(-0.2), Json(51), Json("0.1")}) {
    auto r = post(t, samples, {{"accession", "SC-BAD"}, {"specimen", "bone_marrow"}, {"um_per_px", bad}});
    EXPECT_EQ(r->status, 400) << bad.dump() << " " << r->body;
    EXPECT_NE(r->body.find("um_per_px"), std::string::npos) << r->body;
  }
  auto none = post(t, samples, {{"accession", "SC-0"}, {"specimen", "bone_marrow"}});
  ASSERT_EQ(none->status, 201) << none->body;
  EXPECT_TRUE(body_json(none)["um_per_px"].is_null());
  auto r = post(t, samples, {{"accession", "SC-1"}, {"specimen", "bone_marrow"}, {"um_per_px", 0.1}});
  ASSERT_EQ(r->status, 201) << r->body;
  const auto sample = body_json(r)["id"].get<std::int64_t>();
  const std::string url = "/api/samples/" + std::to_string(sample);
  EXPECT_DOUBLE_EQ(body_json(get(t, url))["um_per_px"].get<double>(), 0.1);

  ASSERT_EQ(upload(t, sample, {{"f.png", disc_png(11)}})->status, 201);
  wait_for_jobs(t, sample);
  EXPECT_DOUBLE_EQ(static_cast<TestDoubleRunner&>(*runner_).last_um_per_px.load(), 0.1)
      << "the analysis is given the sample's scale";

  EXPECT_EQ(patch(t, url, {{"um_per_px", -1}})->status, 400);
  EXPECT_EQ(patch(t, url, {{"um_per_px", 50.5}})->status, 400);
  EXPECT_DOUBLE_EQ(body_json(get(t, url))["um_per_px"].get<double>(), 0.1) << "a refused change changed nothing";
  auto changed = patch(t, url, {{"um_per_px", 0.25}});
  ASSERT_EQ(changed->status, 200) << changed->body;
  EXPECT_DOUBLE_EQ(body_json(changed)["um_per_px"].get<double>(), 0.25);
  auto cleared = patch(t, url, {{"um_per_px", 0}});
  ASSERT_EQ(cleared->status, 200) << cleared->body;
  EXPECT_TRUE(body_json(cleared)["um_per_px"].is_null()) << "0 removes the declared scale";

  ASSERT_EQ(upload(t, sample, {{"g.png", disc_png(12)}})->status, 201);
  wait_for_jobs(t, sample);
  EXPECT_DOUBLE_EQ(static_cast<TestDoubleRunner&>(*runner_).last_um_per_px.load(), 0.0);
}

TEST_P(RecordsApiTest, FailedJobsKeepTheirErrorAndCanBeRetried) {
  auto t = user_with_role("tech", "technician");
  const auto sample = make_sample(t, "BM-2");
  runner_->fail_thirteen_wide = 1;
  auto r = upload(t, sample, {{"narrow.png", disc_png(5, 13, 20)}});
  ASSERT_EQ(r->status, 201) << r->body;
  const auto job_id = body_json(r)["items"][0]["job"]["id"].get<int>();
  auto p = wait_for_jobs(t, sample);
  EXPECT_EQ(p["failed"], 1);
  const std::string job = "/api/jobs/" + std::to_string(job_id);
  auto failed = body_json(get(t, job));
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_NE(failed["error"].get<std::string>().find("on purpose"), std::string::npos);
  EXPECT_EQ(post(user_with_role("viewer1", "viewer"), job + "/retry", Json::object())->status, 403);
  auto retried = post(t, job + "/retry", Json::object());
  ASSERT_EQ(retried->status, 200) << retried->body;
  p = wait_for_jobs(t, sample);
  EXPECT_EQ(p["done"], 1);
  EXPECT_EQ(p["cells"], 3);
  auto done = body_json(get(t, job));
  EXPECT_EQ(done["status"], "done");
  EXPECT_EQ(done["attempts"], 1) << "a retry starts a fresh allowance of attempts";
  EXPECT_EQ(post(t, job + "/retry", Json::object())->status, 409);
  EXPECT_EQ(post(t, "/api/jobs/777777/retry", Json::object())->status, 404);
  auto jobs = body_json(get(t, "/api/jobs?status=done"));
  EXPECT_EQ(jobs["counts"]["done"], 1);
  const Json analyses = body_json(get(user_with_role("doc", "doctor"), "/api/logs?action=analysis."));
  ASSERT_EQ(analyses["total"], 2) << analyses.dump();
  EXPECT_EQ(analyses["items"][0]["action"], "analysis.done");
  EXPECT_EQ(analyses["items"][1]["action"], "analysis.failed");
  EXPECT_NE(analyses["items"][1]["details"].get<std::string>().find("on purpose"), std::string::npos);
  EXPECT_EQ(get(t, "/api/jobs?status=sleeping")->status, 400);
}

TEST_P(RecordsApiTest, ParallelUploadsLeaveConsistentCounts) {
  auto t = user_with_role("tech", "technician");
  const auto sample = make_sample(t, "PAR-1");
  const int port = server_->port();
  std::vector<std::thread> threads;
  std::atomic<int> created{0}, duplicates{0}, errors{0};
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", port);
      httplib::MultipartFormDataItems items;
      items.push_back({"files", disc_png(500), "shared.png", "image/png"});  // every thread sends it
      for (int k = 0; k < 3; ++k) items.push_back({"files", disc_png(600 + 10 * w + k), "own.png", "image/png"});
      auto r = c.Post(("/api/samples/" + std::to_string(sample) + "/images").c_str(), t.headers(), items);
      if (!r || r->status != 201) {
        ++errors;
        return;
      }
      const Json reply = body_json(r);
      for (const auto& item : reply["items"]) ++(item["duplicate"].get<bool>() ? duplicates : created);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(created, 13) << "12 own images and the shared one once";
  EXPECT_EQ(duplicates, 3);
  auto p = wait_for_jobs(t, sample);
  EXPECT_EQ(p["images"], 13);
  EXPECT_EQ(p["done"], 13);
  EXPECT_EQ(p["cells"], 39);
}

TEST_P(RecordsApiTest, ControlCharactersBadDatesAndMalformedCsvAreRefusedNamingTheInput) {
  auto t = user_with_role("tech", "technician");
  // 0x0B / 0x1C would frame an HL7 message inside a field.
  auto ctl = post(t, "/api/patients", {{"identifier", "MRN-CTL"}, {"name", std::string("Ann\x0b" "Lee")}});
  ASSERT_EQ(ctl->status, 400) << ctl->body;
  EXPECT_EQ(body_json(ctl)["error"]["message"].get<std::string>().rfind("name:", 0), 0u) << ctl->body;
  auto p = post(t, "/api/patients", {{"identifier", "MRN-D"}, {"name", "Dee"}});
  ASSERT_EQ(p->status, 201);
  const auto pid = body_json(p)["id"].get<std::int64_t>();
  auto blank = post(t, "/api/patients/" + std::to_string(pid) + "/samples",
                    {{"accession", "D-1"}, {"collection_date", "2020- 1- 1"}});
  ASSERT_EQ(blank->status, 400) << "sscanf-style dates are stored and then refused by every export";
  EXPECT_NE(blank->body.find("collection_date"), std::string::npos);
  // A CSV in Latin-1, not UTF-8: 400 naming the row, nothing imported.
  auto latin1 = client_->Post("/api/patients/import", t.headers(), "identifier,name\nL1,Ok\nL2,Jos\xe9\n", "text/csv");
  ASSERT_EQ(latin1->status, 400) << latin1->body;
  EXPECT_NE(latin1->body.find("CSV row 3"), std::string::npos) << latin1->body;
  EXPECT_EQ(body_json(get(t, "/api/patients?identifier=L"))["total"], 0);
  auto exported = get(t, "/api/patients/export");
  ASSERT_EQ(exported->status, 200);
  EXPECT_EQ(exported->get_header_value("Cache-Control"), "no-store");
}

TEST_P(RecordsApiTest, SignedReportsNameTheSignersAccountNextToTheDisplayName) {
  // Any user sets their own display name ("Dr. Jane Smith" can be anyone): the signature shows
  // the account that signed too.
  auto doc = user_with_role("jsmith", "doctor");
  const auto me = body_json(get(doc, "/api/session"))["user"]["id"].get<std::int64_t>();
  ASSERT_EQ(patch(doc, "/api/users/" + std::to_string(me), {{"display_name", "Dr. Jane Smith"}})->status, 200);
  const auto sample = make_sample(doc, "SIG-1");
  ASSERT_EQ(upload(doc, sample, {{"f.png", disc_png(7)}})->status, 201);
  wait_for_jobs(doc, sample);
  auto signed_r = sign(doc, sample);
  ASSERT_EQ(signed_r->status, 200) << signed_r->body;
  const std::string base = "/api/samples/" + std::to_string(sample);
  EXPECT_NE(get(doc, base + "/report.html")->body.find("Dr. Jane Smith (jsmith)"), std::string::npos);
  EXPECT_NE(get(doc, base + "/report.hl7")->body.find("jsmith&Dr. Jane Smith"), std::string::npos);
  const Json fhir = body_json(get(doc, base + "/report.fhir.json"));
  bool found = false;
  for (const auto& e : fhir["entry"])
    if (e["resource"]["resourceType"] == "DiagnosticReport") {
      EXPECT_EQ(e["resource"]["resultsInterpreter"][0]["display"], "Dr. Jane Smith (jsmith)");
      EXPECT_EQ(e["resource"]["resultsInterpreter"][0]["identifier"]["value"], "jsmith");
      found = true;
    }
  EXPECT_TRUE(found) << fhir.dump();
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordsApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
