// Whole slides through the real server on SQLite and PostgreSQL: a tiled pyramidal TIFF (libvips)
// is uploaded in chunks, resumed after a refused duplicate chunk, finished into an image of kind
// "slide" with the scanner's scale; its deep-zoom tiles are served, the whole file never is; the
// suggested areas find the monolayer; an area becomes a durable job whose cells keep slide
// coordinates and whose crops are read from the slide; and every hostile request (wrong offsets,
// oversized or empty chunks, a stranger's upload, a PNG called .tif, areas outside the slide or
// too large, a field's areas, a signed sample) is refused with what was wrong and stores nothing.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <opencv2/imgproc.hpp>

#include "server/lab_server_fixture.h"
#include "slide_fixture.h"

namespace ms::testing {
namespace {

using SlideApiTest = LabServerTest;

// 4000 x 3000 at 0.25 um/px (1000-px survey squares): a monolayer of pink red cells with purple
// nuclei in the top-left 2000 x 2000, packed overlapping red cells (the thick part) top right,
// empty glass below.
cv::Mat synthetic_slide() {
  cv::Mat img(3000, 4000, CV_8UC3, cv::Scalar(245, 245, 245));
  const cv::Scalar red_cell(200, 170, 235), nucleus(150, 40, 110);
  for (int y = 20; y < 2000; y += 40)
    for (int x = 20; x < 2000; x += 40) cv::circle(img, {x, y}, 16, red_cell, cv::FILLED);
  for (int y = 100; y < 2000; y += 250)
    for (int x = 100; x < 2000; x += 250) cv::circle(img, {x, y}, 22, nucleus, cv::FILLED);
  cv::rectangle(img, cv::Rect(2000, 0, 2000, 2000), cv::Scalar(190, 150, 225), cv::FILLED);
  for (int y = 10; y < 2000; y += 18)
    for (int x = 2010; x < 4000; x += 18) cv::circle(img, {x, y}, 12, cv::Scalar(180, 140, 215), cv::FILLED);
  return img;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class SlideUploads : public SlideApiTest {
 protected:
  // The slide's bytes (written once per test).
  std::string slide_bytes() {
    const std::string path = dir_.str() + "/synthetic.tif";
    const std::string err = write_pyramidal_tiff(synthetic_slide(), path, 0.25);
    EXPECT_EQ(err, "");
    return read_all(path);
  }
  httplib::Result put_chunk(const SessionCookies& s, std::int64_t upload, std::int64_t offset, const std::string& bytes) {
    return client_->Put(("/api/slide-uploads/" + std::to_string(upload) + "?offset=" + std::to_string(offset)).c_str(),
                        s.headers(), bytes, "application/octet-stream");
  }
  httplib::Result start(const SessionCookies& s, std::int64_t sample, const std::string& name, std::int64_t bytes) {
    return post(s, "/api/samples/" + std::to_string(sample) + "/slide-uploads", {{"filename", name}, {"bytes", bytes}});
  }
  // Uploads `bytes` in three chunks and finishes; returns the image.
  Json upload_slide(const SessionCookies& s, std::int64_t sample, const std::string& bytes,
                    const std::string& name = "BM-1.tif") {
    auto st = start(s, sample, name, std::int64_t(bytes.size()));
    EXPECT_EQ(st ? st->status : 0, 201) << (st ? st->body : "");
    const auto id = body_json(st).value("id", std::int64_t(0));
    const std::size_t third = bytes.size() / 3;
    for (std::size_t at = 0; at < bytes.size(); at += third) {
      auto r = put_chunk(s, id, std::int64_t(at), bytes.substr(at, std::min(third, bytes.size() - at)));
      EXPECT_EQ(r ? r->status : 0, 200) << (r ? r->body : "");
    }
    auto fin = post(s, "/api/slide-uploads/" + std::to_string(id) + "/finish", Json::object());
    EXPECT_EQ(fin ? fin->status : 0, 201) << (fin ? fin->body : "");
    return body_json(fin);
  }
  std::int64_t count(const std::string& table) {
    std::int64_t n = -1;
    auto db = store::open_database(url_->url());
    EXPECT_TRUE(db) << db.error().message;
    if (!db) return n;
    (void)(*db)->transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
      auto row = tx.query_one("SELECT COUNT(*) AS n FROM " + table);
      if (row && *row) n = (*row)->i("n");
      return {};
    });
    return n;
  }
};

TEST_P(SlideUploads, ChunksResumeAfterARefusedDuplicateAndFinishIntoASlide) {
  auto a = admin();
  const auto sample = make_sample(a, "SLIDE-1");
  const std::string bytes = slide_bytes();
  ASSERT_GT(bytes.size(), 3000u);
  auto st = start(a, sample, "BM-1.tif", std::int64_t(bytes.size()));
  ASSERT_EQ(st ? st->status : 0, 201) << (st ? st->body : "");
  const Json u = body_json(st);
  EXPECT_EQ(u["received"], 0);
  EXPECT_EQ(u["bytes"], std::int64_t(bytes.size()));
  EXPECT_EQ(u["chunk_bytes"], 8 << 20);
  const auto id = u.value("id", std::int64_t(0));
  const std::size_t half = bytes.size() / 2;

  auto first = put_chunk(a, id, 0, bytes.substr(0, half));
  ASSERT_EQ(first ? first->status : 0, 200) << (first ? first->body : "");
  EXPECT_EQ(body_json(first)["received"], std::int64_t(half));
  // The same chunk again (a client retrying after a lost answer): refused, with where to go on.
  auto again = put_chunk(a, id, 0, bytes.substr(0, half));
  ASSERT_EQ(again ? again->status : 0, 409);
  const Json err = body_json(again)["error"];
  EXPECT_EQ(err["reason"], "upload_offset_mismatch");
  EXPECT_EQ(err["params"]["received"], std::to_string(half));
  // Finishing early names what is missing.
  auto early = post(a, "/api/slide-uploads/" + std::to_string(id) + "/finish", Json::object());
  ASSERT_EQ(early ? early->status : 0, 409);
  EXPECT_EQ(body_json(early)["error"]["reason"], "upload_incomplete");
  // A client that lost track asks where the upload stands and continues there.
  auto where = get(a, "/api/slide-uploads/" + std::to_string(id));
  ASSERT_EQ(where ? where->status : 0, 200);
  const auto received = body_json(where).value("received", std::int64_t(-1));
  ASSERT_EQ(received, std::int64_t(half));
  auto rest = put_chunk(a, id, received, bytes.substr(half));
  ASSERT_EQ(rest ? rest->status : 0, 200) << (rest ? rest->body : "");

  auto fin = post(a, "/api/slide-uploads/" + std::to_string(id) + "/finish", Json::object());
  ASSERT_EQ(fin ? fin->status : 0, 201) << (fin ? fin->body : "");
  const Json image = body_json(fin);
  EXPECT_EQ(image["kind"], "slide");
  EXPECT_EQ(image["width"], 4000);
  EXPECT_EQ(image["height"], 3000);
  EXPECT_NEAR(image.value("mpp", 0.0), 0.25, 1e-3);
  EXPECT_EQ(image["format"], "generic-tiff");
  EXPECT_EQ(image["bytes"], std::int64_t(bytes.size()));
  EXPECT_FALSE(image["thumbnail_sha256"].is_null());
  EXPECT_EQ(count("slide_uploads"), 0);
  // The upload is closed; its part file is gone from the scratch folder.
  EXPECT_EQ(get(a, "/api/slide-uploads/" + std::to_string(id))->status, 404);
  for (const auto& e : std::filesystem::directory_iterator(dir_.str() + "/data/tmp"))
    EXPECT_EQ(e.path().filename().string().rfind("slide-upload-", 0), std::string::npos) << e.path();

  const std::string base = "/api/images/" + std::to_string(image.value("id", 0));
  // Viewed through deep-zoom tiles, never sent whole.
  auto dzi = get(a, base + "/dzi");
  ASSERT_EQ(dzi ? dzi->status : 0, 200);
  EXPECT_NE(dzi->body.find("Width=\"4000\" Height=\"3000\""), std::string::npos);
  EXPECT_EQ(get(a, base + "/dzi_files/12/0_0.jpeg")->status, 200);
  EXPECT_EQ(get(a, base + "/dzi_files/0/0_0.jpeg")->status, 200);
  EXPECT_EQ(get(a, base + "/thumbnail")->status, 200);
  for (const char* whole : {"/file", "/display"}) {
    auto r = get(a, base + whole);
    EXPECT_EQ(r ? r->status : 0, 409) << whole;
    EXPECT_NE(body_json(r)["error"]["message"].get<std::string>().find("deep-zoom"), std::string::npos);
  }
  // Uploading the same bytes again closes the upload and answers the slide the sample has.
  auto st2 = start(a, sample, "BM-1-again.tif", std::int64_t(bytes.size()));
  const auto id2 = body_json(st2).value("id", std::int64_t(0));
  ASSERT_EQ(put_chunk(a, id2, 0, bytes)->status, 200);
  auto dup = post(a, "/api/slide-uploads/" + std::to_string(id2) + "/finish", Json::object());
  ASSERT_EQ(dup ? dup->status : 0, 200) << (dup ? dup->body : "");
  EXPECT_EQ(body_json(dup)["id"], image["id"]);
  EXPECT_EQ(count("images"), 1);
}

TEST_P(SlideUploads, HostileUploadRequestsAreRefusedAndStoreNothing) {
  auto a = admin();
  const auto sample = make_sample(a, "SLIDE-2");
  const std::string path = "/api/samples/" + std::to_string(sample) + "/slide-uploads";
  struct Case {
    Json body;
    int status;
    const char* says;
  };
  const Case cases[] = {
      {{{"filename", "notes.txt"}, {"bytes", 100}}, 415, "not a slide"},
      {{{"filename", "field.png"}, {"bytes", 100}}, 415, "not a slide"},
      {{{"filename", "x.mrxs"}, {"bytes", 100}}, 415, "not a slide"},
      {{{"filename", ""}, {"bytes", 100}}, 400, "filename"},
      {{{"filename", std::string(300, 'a') + ".svs"}, {"bytes", 100}}, 400, "filename"},
      {{{"filename", "a.svs"}, {"bytes", 0}}, 400, "bytes"},
      {{{"filename", "a.svs"}, {"bytes", -5}}, 400, "bytes"},
      {{{"filename", "a.svs"}}, 400, "bytes"},
      {{{"bytes", 10}}, 400, "filename"},
      {{{"filename", "a.svs"}, {"bytes", "ten"}}, 400, "bytes"},
      {{{"filename", "a.svs"}, {"bytes", 1LL << 50}}, 413, "GiB"},
  };
  for (const auto& c : cases) {
    auto r = post(a, path, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body.dump() << " -> " << r->body;
    EXPECT_NE(r->body.find(c.says), std::string::npos) << r->body;
  }
  EXPECT_EQ(count("slide_uploads"), 0);

  auto st = start(a, sample, "BM.svs", 1000);
  ASSERT_EQ(st->status, 201);
  const auto id = body_json(st).value("id", std::int64_t(0));
  const std::string up = "/api/slide-uploads/" + std::to_string(id);
  // Offsets: missing, not a number, past what arrived, negative.
  EXPECT_EQ(client_->Put(up.c_str(), a.headers(), std::string(10, 'x'), "application/octet-stream")->status, 400);
  EXPECT_EQ(client_->Put((up + "?offset=ten").c_str(), a.headers(), std::string(10, 'x'), "application/octet-stream")->status, 400);
  EXPECT_EQ(put_chunk(a, id, 500, std::string(10, 'x'))->status, 409);
  EXPECT_EQ(put_chunk(a, id, -1, std::string(10, 'x'))->status, 409);
  // Empty, longer than the file, larger than a chunk (refused before the body is read).
  EXPECT_EQ(put_chunk(a, id, 0, "")->status, 400);
  EXPECT_EQ(put_chunk(a, id, 0, std::string(1001, 'x'))->status, 400);
  auto big = put_chunk(a, id, 0, std::string((8u << 20) + 1, 'x'));
  EXPECT_EQ(big ? big->status : 0, 413);
  EXPECT_EQ(body_json(get(a, up))["received"], 0);
  // No CSRF header: refused.
  EXPECT_EQ(client_->Put((up + "?offset=0").c_str(), a.headers(false), std::string(10, 'x'), "application/octet-stream")->status, 403);

  // A stranger (another technician) cannot see, write, finish or cancel it; a viewer cannot start one.
  auto tech = user_with_role("slidetech", "technician");
  EXPECT_EQ(get(tech, up)->status, 404);
  EXPECT_EQ(put_chunk(tech, id, 0, std::string(10, 'x'))->status, 404);
  EXPECT_EQ(post(tech, up + "/finish", Json::object())->status, 404);
  EXPECT_EQ(del(tech, up)->status, 404);
  auto viewer = user_with_role("slideviewer", "viewer");
  EXPECT_EQ(start(viewer, sample, "v.svs", 10)->status, 403);

  // A PNG called .svs: every byte arrives, then finishing says it is no slide and drops it.
  const std::string png = disc_png(4);
  auto st2 = start(a, sample, "fake.svs", std::int64_t(png.size()));
  const auto id2 = body_json(st2).value("id", std::int64_t(0));
  ASSERT_EQ(put_chunk(a, id2, 0, png)->status, 200);
  auto fake = post(a, "/api/slide-uploads/" + std::to_string(id2) + "/finish", Json::object());
  ASSERT_EQ(fake ? fake->status : 0, 415);
  EXPECT_EQ(body_json(fake)["error"]["reason"], "not_a_slide");
  EXPECT_EQ(get(a, "/api/slide-uploads/" + std::to_string(id2))->status, 404);
  EXPECT_EQ(count("images"), 0);

  // At most four open uploads per person.
  for (int k = 0; k < 3; ++k) EXPECT_EQ(start(a, sample, "more.svs", 10)->status, 201);
  EXPECT_EQ(start(a, sample, "one-too-many.svs", 10)->status, 409);
  // Cancelling removes the row and frees a place.
  EXPECT_EQ(del(a, up)->status, 204);
  EXPECT_EQ(get(a, up)->status, 404);
  EXPECT_EQ(start(a, sample, "again.svs", 10)->status, 201);

  // A signed sample takes no slide.
  const auto signed_sample = make_sample(a, "SLIDE-2S");
  ASSERT_EQ(upload(a, signed_sample, {{"f.png", disc_png(9)}})->status, 201);
  wait_for_jobs(a, signed_sample);
  ASSERT_EQ(sign(a, signed_sample)->status, 200);
  auto late = start(tech, signed_sample, "late.svs", 10);  // tech has no upload open
  ASSERT_EQ(late ? late->status : 0, 409);
  EXPECT_EQ(body_json(late)["error"]["reason"], "sample_signed");
}

TEST_P(SlideUploads, SuggestedAreasFindTheMonolayer) {
  auto a = admin();
  const auto sample = make_sample(a, "SLIDE-3");
  const Json image = upload_slide(a, sample, slide_bytes());
  const std::string base = "/api/images/" + std::to_string(image.value("id", 0));
  auto r = get(a, base + "/suggested-areas");
  ASSERT_EQ(r ? r->status : 0, 200) << (r ? r->body : "");
  const Json s = body_json(r);
  EXPECT_EQ(s["cols"], 4);  // 1000-px squares at 0.25 um/px
  EXPECT_EQ(s["rows"], 3);
  EXPECT_EQ(s["cell_w"], 1000);
  ASSERT_EQ(s["scores"].size(), 12u);
  // The monolayer scores high; the thick part and the glass score nothing.
  EXPECT_GT(s["scores"][0].get<double>(), 0.8);
  EXPECT_GT(s["scores"][5].get<double>(), 0.8);
  EXPECT_LT(s["scores"][3].get<double>(), 0.05);
  EXPECT_LT(s["scores"][10].get<double>(), 0.05);
  ASSERT_GE(s["areas"].size(), 1u);
  EXPECT_EQ(s["areas"][0]["x"], 0);
  EXPECT_EQ(s["areas"][0]["y"], 0);
  EXPECT_EQ(s["areas"][0]["w"], 2000);
  EXPECT_EQ(s["areas"][0]["h"], 2000);
  for (const auto& area : s["areas"]) EXPECT_LT(area["x"].get<int>(), 2000) << area.dump();

  // A field has no areas.
  auto up = upload(a, sample, {{"f.png", disc_png(7)}});
  const auto field = body_json(up)["items"][0]["image"].value("id", 0);
  auto no = get(a, "/api/images/" + std::to_string(field) + "/suggested-areas");
  ASSERT_EQ(no ? no->status : 0, 409);
  EXPECT_EQ(body_json(no)["error"]["reason"], "areas_need_a_slide");
}

TEST_P(SlideUploads, AnAreaIsAJobWhoseCellsKeepSlideCoordinates) {
  auto a = admin();
  const auto sample = make_sample(a, "SLIDE-4");
  const Json image = upload_slide(a, sample, slide_bytes());
  const auto image_id = image.value("id", 0);
  const std::string areas = "/api/images/" + std::to_string(image_id) + "/areas";

  // Hostile areas: outside, negative, empty, missing a side, too large for one job (checked on a
  // rectangle inside a larger slide below), a field's areas.
  struct Case {
    Json body;
    int status;
    const char* reason;
  };
  const Case cases[] = {
      {{{"x", 3000}, {"y", 0}, {"w", 1001}, {"h", 10}}, 400, "area_outside_slide"},
      {{{"x", -1}, {"y", 0}, {"w", 10}, {"h", 10}}, 400, "area_outside_slide"},
      {{{"x", 0}, {"y", 0}, {"w", 0}, {"h", 10}}, 400, "area_outside_slide"},
      {{{"x", 0}, {"y", 2999}, {"w", 10}, {"h", 2}}, 400, "area_outside_slide"},
      {{{"x", 9223372036854775807LL}, {"y", 0}, {"w", 9223372036854775807LL}, {"h", 10}}, 400, "area_outside_slide"},
  };
  for (const auto& c : cases) {
    auto r = post(a, areas, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body.dump() << " -> " << r->body;
    EXPECT_EQ(body_json(r)["error"].value("reason", ""), c.reason) << r->body;
  }
  EXPECT_EQ(post(a, areas, {{"x", 0}, {"y", 0}, {"w", 10}})->status, 400);
  EXPECT_EQ(post(a, areas, {{"x", 0}, {"y", 0}, {"w", 1.5}, {"h", 10}})->status, 400);
  auto viewer = user_with_role("areaviewer", "viewer");
  EXPECT_EQ(post(viewer, areas, {{"x", 0}, {"y", 0}, {"w", 10}, {"h", 10}})->status, 403);
  auto up = upload(a, sample, {{"f.png", disc_png(8)}});
  const auto field = body_json(up)["items"][0]["image"].value("id", 0);
  wait_for_jobs(a, sample);
  auto on_field = post(a, "/api/images/" + std::to_string(field) + "/areas", {{"x", 0}, {"y", 0}, {"w", 10}, {"h", 10}});
  EXPECT_EQ(on_field->status, 409);
  EXPECT_EQ(body_json(on_field)["error"]["reason"], "areas_need_a_slide");

  // Long enough for the heartbeat (every lease / 3 = 0.5 s) to record progress while it runs.
  runner_->delay_ms = 3000;
  auto r = post(a, areas, {{"x", 1000}, {"y", 500}, {"w", 1500}, {"h", 1200}});
  ASSERT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
  const Json job = body_json(r);
  EXPECT_EQ(job["kind"], "analyse_area");
  EXPECT_EQ(job["region"], Json({{"x", 1000}, {"y", 500}, {"w", 1500}, {"h", 1200}}));
  const std::string job_url = "/api/jobs/" + std::to_string(job.value("id", 0));
  // While it runs, the job carries its progress and an estimate of the time left.
  bool saw_eta = false;
  for (int k = 0; k < 240 && !saw_eta; ++k) {
    const Json j = body_json(get(a, job_url));
    if (j.value("status", "") == "running" && j["eta_s"].is_number()) saw_eta = j["eta_s"].get<double>() >= 0;
    if (j.value("status", "") == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(saw_eta);
  wait_for_jobs(a, sample);
  const Json done = body_json(get(a, job_url));
  EXPECT_EQ(done["status"], "done");
  EXPECT_TRUE(done["eta_s"].is_null());
  EXPECT_EQ(runner_->last_region_x.load(), 1000);
  EXPECT_EQ(runner_->last_region_w.load(), 1500);
  EXPECT_NEAR(runner_->last_um_per_px.load(), 0.25, 1e-3);  // the slide's own scale

  const Json cells = body_json(get(a, "/api/images/" + std::to_string(image_id) + "/cells"));
  ASSERT_EQ(cells["items"].size(), 3u) << cells.dump();
  for (const auto& c : cells["items"]) {
    EXPECT_GE(c["x1"].get<double>(), 1000.0);
    EXPECT_GE(c["y1"].get<double>(), 500.0);
    EXPECT_EQ(c["image_id"], image_id);
  }
  // The crop is read from the slide: the third cell's recorded side.
  const auto third = cells["items"][2].value("id", 0);
  auto crop = get(a, "/api/cells/" + std::to_string(third) + "/crop");
  ASSERT_EQ(crop ? crop->status : 0, 200) << (crop ? crop->body : "");
  auto mat = decode_image(reinterpret_cast<const std::uint8_t*>(crop->body.data()), crop->body.size(), "crop");
  ASSERT_TRUE(mat);
  EXPECT_EQ(mat->cols, kThirdCropSide);

  // An area overlapping the analysed one would count the overlap's cells twice: refused, naming
  // the job; one beside it (sharing only an edge) is taken.
  auto over = post(a, areas, {{"x", 2000}, {"y", 1000}, {"w", 500}, {"h", 500}});
  ASSERT_EQ(over ? over->status : 0, 409);
  EXPECT_EQ(body_json(over)["error"]["reason"], "area_overlaps");
  EXPECT_EQ(body_json(over)["error"]["params"]["job"], std::to_string(job.value("id", 0)));
  auto beside = post(a, areas, {{"x", 2500}, {"y", 500}, {"w", 500}, {"h", 500}});
  ASSERT_EQ(beside ? beside->status : 0, 201) << (beside ? beside->body : "");
  wait_for_jobs(a, sample);

  // A signed sample takes no more areas.
  ASSERT_EQ(sign(a, sample)->status, 200);
  EXPECT_EQ(post(a, areas, {{"x", 0}, {"y", 0}, {"w", 10}, {"h", 10}})->status, 409);
}

TEST_P(SlideUploads, AnAreaOverAHundredMegapixelsIsRefused) {
  auto a = admin();
  const auto sample = make_sample(a, "SLIDE-5");
  // 12000 x 10000 of black glass, written by libvips without building it in this process.
  const std::string path = dir_.str() + "/large.tif";
  const std::string cmd = "vips black '" + dir_.str() + "/large.v' 12000 10000 --bands 3 && vips tiffsave '" +
                          dir_.str() + "/large.v' '" + path +
                          "' --tile --tile-width 256 --tile-height 256 --pyramid --compression deflate";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const Json image = upload_slide(a, sample, read_all(path), "large.tif");
  const std::string areas = "/api/images/" + std::to_string(image.value("id", 0)) + "/areas";
  auto r = post(a, areas, {{"x", 0}, {"y", 0}, {"w", 12000}, {"h", 9000}});
  ASSERT_EQ(r ? r->status : 0, 413);
  EXPECT_EQ(body_json(r)["error"]["reason"], "area_too_large");
  EXPECT_EQ(body_json(r)["error"]["params"]["max"], "100");
  EXPECT_EQ(post(a, areas, {{"x", 0}, {"y", 0}, {"w", 10000}, {"h", 10000}})->status, 201);
}

INSTANTIATE_TEST_SUITE_P(Backends, SlideUploads, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
