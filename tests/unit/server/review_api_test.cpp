// Cells and their review over real HTTP, on SQLite and PostgreSQL: lists with filters and orders,
// one cell, crops, reclassify / confirm with roles (a technician's new class clears a doctor's
// confirmation), batches that are all or nothing, the audit trail, undo, signed samples locked,
// and parallel reviews that leave a consistent trail.
#include <atomic>
#include <thread>

#include <cmath>

#include "pipeline/pipeline_options.h"
#include "review_fixture.h"
#include "server/cell_crops.h"

namespace ms::testing {
namespace {

using ReviewApiTest = ReviewServerTest;

TEST_P(ReviewApiTest, ListsFilterOrderPageAndSummarise) {
  auto t = user_with_role("tech", "technician");
  const auto sample = analysed_sample(t, "REV-1", 2);
  auto all = cells(t, sample);
  ASSERT_EQ(all["total"], 6);
  EXPECT_EQ(all["items"][0]["class"], "neutrophil");
  EXPECT_TRUE(all["items"][0]["reviewer"].is_null());

  auto flagged = cells(t, sample, "?flagged=true");
  EXPECT_EQ(flagged["total"], 2);
  for (const auto& c : flagged["items"]) EXPECT_EQ(c["suggested_class"], "monocyte");
  EXPECT_EQ(cells(t, sample, "?flagged=false")["total"], 4);
  auto attention = cells(t, sample, "?order=attention&limit=3");
  ASSERT_EQ(attention["items"].size(), 3u);
  EXPECT_EQ(attention["items"][0]["flagged"], true);
  EXPECT_EQ(attention["items"][1]["flagged"], true);
  EXPECT_EQ(attention["items"][2]["flagged"], false);
  EXPECT_EQ(attention["total"], 6) << "total counts every match, not the page";
  auto page2 = cells(t, sample, "?limit=4&offset=4");
  EXPECT_EQ(page2["items"].size(), 2u);
  EXPECT_EQ(cells(t, sample, "?class=lymphocyte")["total"], 2);
  EXPECT_EQ(cells(t, sample, "?reviewed=true")["total"], 0);

  auto image_id = all["items"][0]["image_id"].get<std::int64_t>();
  auto by_image = body_json(get(t, "/api/images/" + std::to_string(image_id) + "/cells?order=confidence"));
  EXPECT_EQ(by_image["total"], 3);

  auto summary = body_json(get(t, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  EXPECT_EQ(summary["cells"], 6);
  EXPECT_EQ(summary["flagged"], 2);
  ASSERT_EQ(summary["classes"].size(), 3u);
  EXPECT_EQ(summary["classes"][0]["class"], "lymphocyte");
  EXPECT_EQ(summary["classes"][0]["cells"], 2);

  for (const std::string bad : {"?flagged=maybe", "?order=random", "?limit=0", "?limit=9999",
                                "?offset=-1", "?reviewed=yes", "?limit=ten"})
    EXPECT_EQ(get(t, "/api/samples/" + std::to_string(sample) + "/cells" + bad)->status, 400) << bad;
  EXPECT_EQ(get(t, "/api/samples/424242/cells")->status, 404);
  EXPECT_EQ(get(t, "/api/samples/424242/cells/summary")->status, 404);
  EXPECT_EQ(client_->Get(("/api/samples/" + std::to_string(sample) + "/cells").c_str())->status, 401);
}

TEST_P(ReviewApiTest, OneCellAndItsCrop) {
  auto t = user_with_role("tech", "technician");
  const auto sample = analysed_sample(t, "REV-2", 1);
  const auto listed = cell_ids(t, sample);
  ASSERT_EQ(listed.size(), 3u) << cells(t, sample).dump();
  const auto id = listed[1];
  auto viewer = user_with_role("viewer1", "viewer");
  auto one = body_json(get(viewer, cell_url(id)));
  EXPECT_EQ(one["id"], id);
  EXPECT_EQ(one["suggested_class"], "lymphocyte");
  EXPECT_EQ(one["top_k"][0]["class"], "lymphocyte");
  EXPECT_EQ(one["classifier_version"], "test-classifier");
  EXPECT_FLOAT_EQ(one["x1"].get<float>(), 14.f);
  EXPECT_EQ(one["confirmed"], false);
  EXPECT_EQ(get(viewer, cell_url(987654))->status, 404);
  EXPECT_EQ(get(viewer, "/api/cells/99999999999999999999")->status, 404);

  auto crop = get(viewer, cell_url(id) + "/crop");
  ASSERT_EQ(crop->status, 200) << crop->body;
  EXPECT_EQ(crop->get_header_value("Content-Type"), "image/jpeg");
  auto mat = decode_image(reinterpret_cast<const std::uint8_t*>(crop->body.data()), crop->body.size(), "crop");
  ASSERT_TRUE(mat) << mat.error().message;
  // The 8 x 8 px box grown by the pipeline's crop margin on each side, square.
  const int side = static_cast<int>(std::lround(8.f * (1.f + 2.f * PipelineOptions{}.crop_margin)));
  EXPECT_EQ(mat->cols, side);
  EXPECT_EQ(mat->rows, side);
  auto sized = get(viewer, cell_url(id) + "/crop?size=64");
  ASSERT_EQ(sized->status, 200);
  auto big = decode_image(reinterpret_cast<const std::uint8_t*>(sized->body.data()), sized->body.size(), "crop");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->cols, 64);
  EXPECT_EQ(get(viewer, cell_url(id) + "/crop?size=5")->status, 400);
  EXPECT_EQ(get(viewer, cell_url(987654) + "/crop")->status, 404);
  EXPECT_TRUE(one["crop_side"].is_null()) << "the runner did not record this cell's crop";

  // The third cell's crop was recorded as 30 px wide (the pipeline's red-cell framing): the
  // endpoint frames exactly that square, centred on the box [24, 4, 32, 12], white where it
  // leaves the field, not the box grown by the default margin.
  const auto third = listed[2];
  EXPECT_EQ(body_json(get(viewer, cell_url(third)))["crop_side"], kThirdCropSide);
  auto framed = get(viewer, cell_url(third) + "/crop");
  ASSERT_EQ(framed->status, 200) << framed->body;
  const std::string png = disc_png(100);  // the sample's one field (seed 1)
  const cv::Mat field = value_or_throw(
      decode_image(reinterpret_cast<const std::uint8_t*>(png.data()), png.size(), "field"));
  cv::Mat want(kThirdCropSide, kThirdCropSide, CV_8UC3, cv::Scalar(255, 255, 255));
  const int x0 = 28 - kThirdCropSide / 2, y0 = 8 - kThirdCropSide / 2;  // centre (28, 8)
  field(cv::Rect(x0, 0, kThirdCropSide, y0 + kThirdCropSide)).copyTo(want(cv::Rect(0, -y0, kThirdCropSide, y0 + kThirdCropSide)));
  EXPECT_EQ(framed->body, value_or_throw(server::jpeg_bytes(want)))
      << "the crop is not the recorded 30 px square around the box";
}

TEST_P(ReviewApiTest, ReclassifyConfirmRolesAndAudit) {
  auto tech = user_with_role("tech", "technician");
  auto doc = user_with_role("doc", "doctor");
  auto viewer = user_with_role("viewer1", "viewer");
  const auto sample = analysed_sample(tech, "REV-3", 1);
  const auto id = cell_ids(tech, sample)[0];  // neutrophil

  auto r = patch(tech, cell_url(id), {{"class", "lymphocyte"}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto cell = body_json(r);
  EXPECT_EQ(cell["class"], "lymphocyte");
  EXPECT_EQ(cell["reviewed_class"], "lymphocyte");
  EXPECT_EQ(cell["suggested_class"], "neutrophil");
  EXPECT_EQ(cell["confirmed"], false);
  EXPECT_EQ(cell["reviewer"]["username"], "tech");

  auto tech_confirm = patch(tech, cell_url(id), {{"confirmed", true}});
  EXPECT_EQ(tech_confirm->status, 403) << tech_confirm->body;
  EXPECT_NE(tech_confirm->body.find("doctors"), std::string::npos);
  EXPECT_EQ(patch(viewer, cell_url(id), {{"class", "monocyte"}})->status, 403);
  EXPECT_EQ(client_->Patch(cell_url(id).c_str(), doc.headers(false), Json{{"confirmed", true}}.dump(),
                           "application/json")->status, 403)
      << "no CSRF header";
  EXPECT_EQ(client_->Patch(cell_url(id).c_str(), Json{{"confirmed", true}}.dump(), "application/json")->status, 401);

  auto confirmed = patch(doc, cell_url(id), {{"confirmed", true}});
  ASSERT_EQ(confirmed->status, 200) << confirmed->body;
  EXPECT_EQ(body_json(confirmed)["confirmed"], true);
  EXPECT_EQ(body_json(confirmed)["class"], "lymphocyte");
  EXPECT_EQ(body_json(confirmed)["reviewer"]["username"], "doc");
  // Saying what is already so changes nothing and writes no audit event.
  EXPECT_EQ(patch(doc, cell_url(id), {{"confirmed", true}, {"class", "lymphocyte"}})->status, 200);

  auto unknown_class = patch(doc, cell_url(id), {{"class", "dragon"}});
  EXPECT_EQ(unknown_class->status, 400);
  EXPECT_NE(unknown_class->body.find("dragon"), std::string::npos);
  EXPECT_EQ(patch(doc, cell_url(id), {{"class", "Not A Class"}})->status, 400);
  EXPECT_EQ(patch(doc, cell_url(id), {{"class", 7}})->status, 400);
  EXPECT_EQ(patch(doc, cell_url(id), Json::object())->status, 400);
  auto typo = patch(doc, cell_url(id), {{"clas", "monocyte"}});
  EXPECT_EQ(typo->status, 400);
  EXPECT_NE(typo->body.find("$.clas"), std::string::npos);
  EXPECT_EQ(patch(doc, cell_url(424242), {{"class", "monocyte"}})->status, 404);
  // A class of the lab's taxonomy that the models never suggested here is allowed.
  EXPECT_EQ(patch(doc, cell_url(id), {{"class", "blast"}})->status, 200);

  auto audit = body_json(get(viewer, cell_url(id) + "/audit"))["items"];
  ASSERT_EQ(audit.size(), 3u) << audit.dump();
  EXPECT_EQ(audit[0]["action"], "reclassify");
  EXPECT_EQ(audit[0]["username"], "tech");
  EXPECT_TRUE(audit[0]["from"]["class"].is_null());
  EXPECT_EQ(audit[0]["from"]["suggested_class"], "neutrophil");
  EXPECT_EQ(audit[0]["to"]["class"], "lymphocyte");
  EXPECT_EQ(audit[1]["action"], "confirm");
  EXPECT_EQ(audit[1]["username"], "doc");
  EXPECT_EQ(audit[1]["from"]["confirmed"], false);
  EXPECT_EQ(audit[1]["to"]["confirmed"], true);
  EXPECT_EQ(audit[2]["to"]["class"], "blast");
  EXPECT_GT(audit[2]["at"].get<std::int64_t>(), 0);
  EXPECT_EQ(get(viewer, cell_url(424242) + "/audit")->status, 404);

  auto trail = body_json(get(viewer, "/api/samples/" + std::to_string(sample) + "/audit?limit=2"));
  EXPECT_EQ(trail["total"], 3);
  ASSERT_EQ(trail["items"].size(), 2u);
  EXPECT_EQ(trail["items"][0]["to"]["class"], "blast") << "newest first";
  auto logs = body_json(get(doc, "/api/logs?action=cell.review"));
  EXPECT_EQ(logs["total"], 4) << "every accepted review request is logged";

  auto summary = body_json(get(viewer, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  EXPECT_EQ(summary["confirmed"], 1);
  EXPECT_EQ(summary["reclassified"], 1);
  EXPECT_EQ(cells(viewer, sample, "?reviewed=true")["total"], 1);
  EXPECT_EQ(cells(viewer, sample, "?class=blast")["total"], 1);
}

// A doctor's confirmation vouches for one class: a technician who changes the class (one cell or a
// batch, without "confirmed") leaves the cell unconfirmed, so a confirmed count never holds a
// class no doctor saw. A doctor's own reclassification keeps it confirmed.
TEST_P(ReviewApiTest, ATechniciansNewClassIsNoLongerDoctorConfirmed) {
  auto tech = user_with_role("tech", "technician");
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(tech, "REV-8", 1);
  const auto ids = cell_ids(tech, sample);  // neutrophil, lymphocyte, monocyte
  ASSERT_EQ(ids.size(), 3u);
  for (const auto id : ids) ASSERT_EQ(patch(doc, cell_url(id), {{"confirmed", true}})->status, 200);

  auto one = patch(tech, cell_url(ids[0]), {{"class", "lymphocyte"}});
  ASSERT_EQ(one->status, 200) << one->body;
  EXPECT_EQ(body_json(one)["class"], "lymphocyte");
  EXPECT_EQ(body_json(one)["confirmed"], false);
  EXPECT_EQ(body_json(one)["reviewer"]["username"], "tech");
  auto audit = body_json(get(tech, cell_url(ids[0]) + "/audit"))["items"];
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1]["action"], "reclassify");
  EXPECT_EQ(audit[1]["from"]["confirmed"], true);
  EXPECT_EQ(audit[1]["to"]["confirmed"], false);

  auto batch = post(tech, "/api/cells/review", {{"ids", {ids[1]}}, {"class", "monocyte"}});
  ASSERT_EQ(batch->status, 200) << batch->body;
  EXPECT_EQ(body_json(batch)["items"][0]["confirmed"], false);
  // Naming the class the cell already has changes nothing: still confirmed.
  auto same = patch(tech, cell_url(ids[2]), {{"class", "monocyte"}});
  ASSERT_EQ(same->status, 200);
  EXPECT_EQ(body_json(same)["confirmed"], true);

  auto summary = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  EXPECT_EQ(summary["confirmed"], 1);
  // A doctor who reclassifies vouches for the new class.
  auto by_doctor = patch(doc, cell_url(ids[2]), {{"class", "lymphocyte"}});
  ASSERT_EQ(by_doctor->status, 200);
  EXPECT_EQ(body_json(by_doctor)["confirmed"], true);
  ASSERT_EQ(patch(doc, cell_url(ids[0]), {{"confirmed", true}})->status, 200);
  EXPECT_EQ(body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/cells/summary"))["confirmed"], 2);
}

TEST_P(ReviewApiTest, BatchesAreAllOrNothingAndUndoWalksBack) {
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(doc, "REV-4", 2);
  const auto ids = cell_ids(doc, sample);
  ASSERT_EQ(ids.size(), 6u);

  auto first = post(doc, "/api/cells/review", {{"changes", {{{"id", ids[0]}, {"class", "monocyte"}}}}});
  ASSERT_EQ(first->status, 200) << first->body;
  auto batch = post(doc, "/api/cells/review", {{"ids", {ids[0], ids[1], ids[2]}}, {"confirmed", true}});
  ASSERT_EQ(batch->status, 200) << batch->body;
  ASSERT_EQ(body_json(batch)["items"].size(), 3u);
  const Json batch_items = body_json(batch)["items"];
  for (const auto& c : batch_items) EXPECT_EQ(c["confirmed"], true);

  // One bad cell refuses the whole request and changes nothing. (Cell ids of concurrent jobs
  // may interleave, so the class is read rather than assumed.)
  const Json before3 = body_json(get(doc, cell_url(ids[3])))["class"];
  auto partly_unknown = post(doc, "/api/cells/review", {{"ids", {ids[3], 987654}}, {"class", "lymphocyte"}});
  EXPECT_EQ(partly_unknown->status, 404);
  auto partly_bad = post(doc, "/api/cells/review",
                         {{"changes", {{{"id", ids[3]}, {"class", "lymphocyte"}}, {{"id", ids[4]}, {"class", "dragon"}}}}});
  EXPECT_EQ(partly_bad->status, 400);
  EXPECT_EQ(body_json(get(doc, cell_url(ids[3])))["class"], before3) << "a refused batch changed a cell";
  EXPECT_EQ(post(doc, "/api/cells/review", {{"ids", {ids[3], ids[3]}}, {"confirmed", true}})->status, 400);
  EXPECT_EQ(post(doc, "/api/cells/review", {{"ids", Json::array()}, {"confirmed", true}})->status, 400);
  EXPECT_EQ(post(doc, "/api/cells/review", {{"ids", {ids[3]}}, {"changes", {{{"id", ids[4]}, {"confirmed", true}}}}})->status, 400);
  EXPECT_EQ(post(doc, "/api/cells/review", {{"ids", {ids[3]}}})->status, 400) << "a change needs class or confirmed";
  EXPECT_EQ(client_->Post("/api/cells/review", doc.headers(), "{\"ids\": [", "application/json")->status, 400);

  const std::string undo = "/api/samples/" + std::to_string(sample) + "/review/undo";
  auto u1 = post(doc, undo, Json::object());
  ASSERT_EQ(u1->status, 200) << u1->body;
  EXPECT_EQ(body_json(u1)["items"].size(), 3u);
  EXPECT_EQ(cells(doc, sample, "?reviewed=true")["total"], 0) << "the batch confirm is undone as one step";
  EXPECT_EQ(body_json(get(doc, cell_url(ids[0])))["class"], "monocyte") << "only the last change is undone";
  auto u2 = post(doc, undo, Json::object());
  ASSERT_EQ(u2->status, 200) << u2->body;
  auto back = body_json(get(doc, cell_url(ids[0])));
  EXPECT_EQ(back["class"], "neutrophil");
  EXPECT_TRUE(back["reviewed_class"].is_null());
  EXPECT_EQ(post(doc, undo, Json::object())->status, 404) << "nothing left to undo";
  auto audit = body_json(get(doc, cell_url(ids[0]) + "/audit"))["items"];
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_EQ(audit[3]["action"], "undo");
  EXPECT_FALSE(audit[0]["undone_at"].is_null());

  // Undo never overwrites somebody else's later change.
  auto other = user_with_role("doc2", "doctor");
  ASSERT_EQ(patch(doc, cell_url(ids[5]), {{"class", "eosinophil"}})->status, 200);
  ASSERT_EQ(patch(other, cell_url(ids[5]), {{"class", "neutrophil"}})->status, 200);
  auto conflict = post(doc, undo, Json::object());
  EXPECT_EQ(conflict->status, 409) << conflict->body;
  EXPECT_EQ(body_json(get(doc, cell_url(ids[5])))["class"], "neutrophil");
  EXPECT_EQ(post(user_with_role("viewer1", "viewer"), undo, Json::object())->status, 403);
  EXPECT_EQ(post(doc, "/api/samples/424242/review/undo", Json::object())->status, 404);
}

// Technicians pre-verify (who and when, a state of its own); doctors see it and confirm. A new
// class clears a pre-verification unless the same change verifies again; undo restores it.
TEST_P(ReviewApiTest, TechniciansPreVerifyAndDoctorsConfirm) {
  auto tech = user_with_role("tech", "technician");
  auto doc = user_with_role("doc", "doctor");
  auto viewer = user_with_role("view", "viewer");
  const auto sample = analysed_sample(tech, "REV-V", 1);
  const auto ids = cell_ids(tech, sample);  // neutrophil, lymphocyte, monocyte
  ASSERT_EQ(ids.size(), 3u);

  auto batch = post(tech, "/api/cells/review", {{"ids", {ids[0], ids[1]}}, {"verified", true}});
  ASSERT_EQ(batch->status, 200) << batch->body;
  // A named copy: iterating a member of the temporary body_json() returns would read freed memory.
  const auto verified = body_json(batch)["items"];
  for (const auto& c : verified) {
    EXPECT_EQ(c["verified"], true);
    EXPECT_EQ(c["confirmed"], false);
    EXPECT_EQ(c["verifier"]["username"], "tech");
    EXPECT_TRUE(c["verified_at"].is_number_integer());
  }
  auto audit = body_json(get(doc, cell_url(ids[0]) + "/audit"))["items"];
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["action"], "verify");
  EXPECT_TRUE(audit[0]["to"]["verified_at"].is_number_integer());
  EXPECT_TRUE(audit[0]["from"]["verified_at"].is_null());
  auto summary = body_json(get(doc, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  EXPECT_EQ(summary["verified"], 2);

  // Hostile and wrong requests: a viewer, a wrong type, a cell that does not exist.
  EXPECT_EQ(patch(viewer, cell_url(ids[2]), {{"verified", true}})->status, 403);
  auto wrong = patch(tech, cell_url(ids[2]), {{"verified", "yes"}});
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(wrong->body.find("verified"), std::string::npos) << wrong->body;
  EXPECT_EQ(post(tech, "/api/cells/review", {{"ids", {ids[2], 99999999}}, {"verified", true}})->status, 404);
  EXPECT_EQ(body_json(get(tech, cell_url(ids[2])))["verified"], false);  // all or nothing
  EXPECT_EQ(post(tech, "/api/cells/review", {{"changes", {{{"id", ids[2]}}}}, {"verified", true}})->status, 400);

  // A new class without "verified" clears the pre-verification; with it, keeps it.
  auto moved = patch(tech, cell_url(ids[1]), {{"class", "monocyte"}});
  EXPECT_EQ(body_json(moved)["verified"], false);
  auto again = patch(tech, cell_url(ids[1]), {{"class", "lymphocyte"}, {"verified", true}});
  EXPECT_EQ(body_json(again)["verified"], true);
  // Undo walks back the technician's last change: the cell is monocyte and unverified again.
  auto undo = post(tech, "/api/samples/" + std::to_string(sample) + "/review/undo", Json::object());
  ASSERT_EQ(undo->status, 200) << undo->body;
  EXPECT_EQ(body_json(undo)["items"][0]["verified"], false);
  EXPECT_EQ(body_json(undo)["items"][0]["class"], "monocyte");

  // The doctor confirms what the technician pre-verified; the report counts cells per state.
  ASSERT_EQ(patch(doc, cell_url(ids[0]), {{"confirmed", true}, {"class", "segmented_neutrophil"}})->status, 200);
  auto report = body_json(get(doc, "/api/samples/" + std::to_string(sample) + "/report"));
  const Json review = report["report"]["review"];
  EXPECT_EQ(review["doctor"], 1);
  EXPECT_EQ(review["technician"], 0);
  EXPECT_EQ(review["reclassified"], 1);
  EXPECT_EQ(review["model_only"], 1);
  bool said = false;
  for (const auto& s : report["statements"])
    said = said || s["en"].get<std::string>().find("1 cells confirmed by a doctor, 0 pre-verified by a technician") !=
                       std::string::npos;
  EXPECT_TRUE(said) << report["statements"].dump();
}

TEST_P(ReviewApiTest, SignedSamplesAreLocked) {
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(doc, "REV-5", 1);
  const auto ids = cell_ids(doc, sample);
  ASSERT_EQ(patch(doc, cell_url(ids[0]), {{"confirmed", true}})->status, 200);
  ASSERT_EQ(post(doc, "/api/samples/" + std::to_string(sample) + "/status", {{"status", "in_review"}})->status, 200);
  auto signed_ = sign(doc, sample);
  ASSERT_EQ(signed_->status, 200) << signed_->body;
  auto locked = patch(doc, cell_url(ids[1]), {{"class", "monocyte"}});
  EXPECT_EQ(locked->status, 409);
  EXPECT_NE(locked->body.find("signed"), std::string::npos);
  EXPECT_EQ(post(doc, "/api/cells/review", {{"ids", ids}, {"confirmed", true}})->status, 409);
  EXPECT_EQ(patch(doc, cell_url(ids[1]), {{"verified", true}})->status, 409);
  EXPECT_EQ(post(doc, "/api/samples/" + std::to_string(sample) + "/review/undo", Json::object())->status, 409);
  EXPECT_EQ(cells(doc, sample, "?reviewed=true")["total"], 1);
}

TEST_P(ReviewApiTest, ParallelReviewsLeaveAConsistentTrail) {
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(doc, "REV-6", 4);
  const auto ids = cell_ids(doc, sample);
  ASSERT_EQ(ids.size(), 12u);
  const int port = server_->port();
  const char* classes[] = {"lymphocyte", "monocyte", "neutrophil", "eosinophil"};
  std::vector<std::string> suggested;  // of each worker's reclassified cell, read before
  for (int w = 0; w < 4; ++w)
    suggested.push_back(body_json(get(doc, cell_url(ids[2 + 2 * w])))["suggested_class"].get<std::string>());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", port);
      for (int round = 0; round < 6; ++round) {
        // Each worker owns two cells and also fights over the first cell with everybody.
        Json changes = {{{"id", ids[0]}, {"class", classes[(w + round) % 4]}, {"confirmed", round % 2 == 0}},
                        {{"id", ids[1 + 2 * w]}, {"confirmed", true}},
                        {{"id", ids[2 + 2 * w]}, {"class", classes[w]}}};
        auto r = c.Post("/api/cells/review", doc.headers(), Json{{"changes", changes}}.dump(), "application/json");
        if (!r || r->status != 200) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  auto summary = body_json(get(doc, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  EXPECT_EQ(summary["cells"], 12);
  const int contested_confirmed = body_json(get(doc, cell_url(ids[0])))["confirmed"].get<bool>() ? 1 : 0;
  EXPECT_EQ(summary["confirmed"], 4 + contested_confirmed);
  // The contested cell's trail is one unbroken chain: each event starts where the previous ended,
  // and the last one ends in the cell's state (no update was lost or applied on a stale read).
  auto audit = body_json(get(doc, cell_url(ids[0]) + "/audit"))["items"];
  ASSERT_GE(audit.size(), 1u);
  for (std::size_t k = 1; k < audit.size(); ++k) {
    EXPECT_EQ(audit[k]["from"]["class"], audit[k - 1]["to"]["class"]) << k;
    EXPECT_EQ(audit[k]["from"]["confirmed"], audit[k - 1]["to"]["confirmed"]) << k;
  }
  auto now = body_json(get(doc, cell_url(ids[0])));
  EXPECT_EQ(audit.back()["to"]["class"], now["reviewed_class"]);
  EXPECT_EQ(audit.back()["to"]["confirmed"], now["confirmed"]);
  // Owned cells changed once each: one event apiece however often the same change was sent.
  for (int w = 0; w < 4; ++w) {
    EXPECT_EQ(body_json(get(doc, cell_url(ids[1 + 2 * w]) + "/audit"))["items"].size(), 1u);
    EXPECT_EQ(body_json(get(doc, cell_url(ids[2 + 2 * w]) + "/audit"))["items"].size(),
              suggested[static_cast<std::size_t>(w)] == classes[w] ? 0u : 1u)
        << "setting the class a cell already has writes nothing";
  }
}

TEST_P(ReviewApiTest, OpenApiListsEveryReviewRoute) {
  auto doc = body_json(client_->Get("/api/openapi.json"));
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/api/samples/{id}/cells", "get"},          {"/api/images/{id}/cells", "get"},
      {"/api/samples/{id}/cells/summary", "get"},  {"/api/cells/{id}", "get"},
      {"/api/cells/{id}", "patch"},                {"/api/cells/{id}/crop", "get"},
      {"/api/cells/review", "post"},               {"/api/cells/{id}/audit", "get"},
      {"/api/samples/{id}/audit", "get"},          {"/api/samples/{id}/review/undo", "post"},
      {"/api/samples/{id}/crops.zip", "get"},  {"/api/images/{id}/crops.zip", "get"},
      {"/api/exports/training", "get"},            {"/api/recognition", "post"},
      {"/api/model-versions", "get"}};
  for (const auto& [path, method] : routes) {
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_TRUE(doc["paths"][path].contains(method)) << method << " " << path;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ReviewApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
