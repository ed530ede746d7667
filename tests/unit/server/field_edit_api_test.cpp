// Editing the boxes of a field over real HTTP, on SQLite and PostgreSQL: a drawn box becomes a
// classified cell, a removed box leaves every count but stays in the trail and comes back, a moved
// box is re-classified, undo takes each back, and hostile requests (bad boxes, strangers' ids,
// wrong roles, signed samples, malformed JSON) change nothing.
#include <atomic>

#include <opencv2/imgcodecs.hpp>

#include "review_fixture.h"
#include "server/cell_recognizer.h"

namespace ms::testing {
namespace {

// Names a crop by its mean colour (reddish: eosinophil, else basophil), so a box's class follows
// the pixels under it, and keeps the side of the last crop it saw.
class FieldEditRecognizer : public TestDoubleRunner, public server::CellRecognizer {
 public:
  Result<std::vector<store::AnalysedCell>> classify_crops(const std::vector<cv::Mat>& crops) override {
    std::vector<store::AnalysedCell> out;
    for (const auto& m : crops) {
      last_side = m.cols;
      const cv::Scalar mean = cv::mean(m);  // B, G, R
      store::AnalysedCell c;
      c.cell_class = mean[2] > mean[0] + 20 ? "eosinophil" : "basophil";
      c.probability = 0.8f;
      c.top_k = {{c.cell_class, 0.8f}, {"lymphocyte", 0.2f}};
      c.entropy = 0.5f;
      out.push_back(c);
    }
    return out;
  }
  std::vector<std::string> classes() const override { return {"eosinophil", "basophil", "lymphocyte"}; }
  std::string classifier_version() const override { return "edit-classifier"; }
  std::atomic<int> last_side{0};
};

// A 64 x 48 white field with a red square at (30..50, 20..40).
std::string field_png() {
  cv::Mat img(48, 64, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::rectangle(img, cv::Rect(30, 20, 20, 20), cv::Scalar(30, 30, 220), cv::FILLED);
  auto png = encode_image(img, ".png");
  return std::string(png->begin(), png->end());
}

class FieldEditApiTest : public ReviewServerTest {
 protected:
  FieldEditApiTest() { start_in_setup_ = false; }
  void SetUp() override {
    ReviewServerTest::SetUp();
    recognizer_ = std::make_shared<FieldEditRecognizer>();
    runner_ = recognizer_;
    start_server();
  }
  // A sample with the red-square field analysed (three model cells); returns {sample, image}.
  std::pair<std::int64_t, std::int64_t> field(const SessionCookies& s, const std::string& accession) {
    const auto sample = make_sample(s, accession);
    auto r = upload(s, sample, {{"field.png", field_png()}});
    EXPECT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
    wait_for_jobs(s, sample);
    const Json list = cells(s, sample);
    return {sample, list["items"][0]["image_id"].get<std::int64_t>()};
  }
  static std::string image_cells(std::int64_t image) { return "/api/images/" + std::to_string(image) + "/cells"; }
  Json summary(const SessionCookies& s, std::int64_t sample) {
    return body_json(get(s, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  }
  Json differential(const SessionCookies& s, std::int64_t sample) {
    return body_json(get(s, "/api/samples/" + std::to_string(sample) + "/differential"));
  }
  httplib::Result put(const SessionCookies& s, const std::string& path, const Json& body) {
    return client_->Put(path.c_str(), s.headers(), body.dump(), "application/json");
  }
  int class_count(const Json& summary_json, const std::string& cls) {
    for (const auto& c : summary_json["classes"])
      if (c["class"] == cls) return c["cells"].get<int>();
    return 0;
  }
  std::vector<std::string> actions(const SessionCookies& s, std::int64_t cell) {
    std::vector<std::string> out;
    const Json evs = body_json(get(s, cell_url(cell) + "/audit"));
    for (const auto& e : evs["items"]) out.push_back(e["action"].get<std::string>());
    return out;
  }
  std::shared_ptr<FieldEditRecognizer> recognizer_;
};

TEST_P(FieldEditApiTest, ABoxOnAFieldStillBeingAnalysedIsRefusedWithItsReason) {
  auto tech = user_with_role("tech", "technician");
  recognizer_->delay_ms = 4000;  // the field's analysis is still running when the box is drawn
  const auto sample = make_sample(tech, "EDIT-WAIT");
  auto up = upload(tech, sample, {{"field.png", field_png()}});
  ASSERT_EQ(up->status, 201) << up->body;
  const Json images = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/images"));
  ASSERT_EQ(images["items"].size(), 1u);
  const auto image = images["items"][0]["id"].get<std::int64_t>();
  auto early = post(tech, image_cells(image), {{"x1", 30}, {"y1", 20}, {"x2", 50}, {"y2", 40}});
  ASSERT_EQ(early->status, 409) << early->body;
  const Json e = body_json(early)["error"];
  EXPECT_EQ(e["reason"], "no_finished_analysis");
  EXPECT_EQ(e["params"], Json({{"image", std::to_string(image)}}));
  wait_for_jobs(tech, sample);
  EXPECT_EQ(summary(tech, sample)["cells"], 3) << "the refused box was not stored";
  EXPECT_EQ(post(tech, image_cells(image), {{"x1", 30}, {"y1", 20}, {"x2", 50}, {"y2", 40}})->status, 201);
}

TEST_P(FieldEditApiTest, ADrawnBoxIsClassifiedAndCountedAndUndoRemovesIt) {
  auto tech = user_with_role("tech", "technician");
  const auto [sample, image] = field(tech, "EDIT-1");
  EXPECT_EQ(summary(tech, sample)["cells"], 3);

  auto r = post(tech, image_cells(image), {{"x1", 30}, {"y1", 20}, {"x2", 50}, {"y2", 40}});
  ASSERT_EQ(r->status, 201) << r->body;
  const Json added = body_json(r);
  EXPECT_EQ(added["origin"], "reviewer");
  EXPECT_EQ(added["suggested_class"], "eosinophil") << "classified from the red pixels under the box";
  EXPECT_EQ(added["class"], "eosinophil");
  EXPECT_EQ(added["classifier_version"], "edit-classifier");
  EXPECT_EQ(added["detector_version"], "test-detector");
  EXPECT_TRUE(added["reviewed_class"].is_null());
  EXPECT_EQ(added["x1"], 30.0);
  EXPECT_EQ(added["y2"], 40.0);
  EXPECT_GE(recognizer_->last_side.load(), 22) << "the crop frames the box with a margin";
  const auto id = added["id"].get<std::int64_t>();

  EXPECT_EQ(summary(tech, sample)["cells"], 4);
  EXPECT_EQ(body_json(get(tech, image_cells(image)))["total"], 4);
  EXPECT_EQ(differential(tech, sample)["cells"], 4);
  EXPECT_EQ(actions(tech, id), std::vector<std::string>{"add"});

  // With the reviewer's class at once.
  auto classed = post(tech, image_cells(image), {{"x1", 2}, {"y1", 30}, {"x2", 14}, {"y2", 44}, {"class", "myelocyte"}});
  ASSERT_EQ(classed->status, 201) << classed->body;
  EXPECT_EQ(body_json(classed)["suggested_class"], "basophil");
  EXPECT_EQ(body_json(classed)["class"], "myelocyte");
  EXPECT_EQ(body_json(classed)["reviewer"]["username"], "tech");
  EXPECT_EQ(summary(tech, sample)["cells"], 5);

  // Undo takes the last add back: the cell stays, as not a cell, out of the counts.
  auto undo = post(tech, "/api/samples/" + std::to_string(sample) + "/review/undo", Json::object());
  ASSERT_EQ(undo->status, 200) << undo->body;
  EXPECT_EQ(body_json(undo)["items"][0]["class"], "not_a_cell");
  EXPECT_EQ(summary(tech, sample)["cells"], 4);
  EXPECT_EQ(differential(tech, sample)["cells"], 4);
  auto logs = body_json(get(admin(), "/api/logs?action=cell.add"));
  EXPECT_EQ(logs["total"], 2);
}

TEST_P(FieldEditApiTest, ARemovedBoxLeavesEveryCountAndComesBack) {
  auto doctor = user_with_role("doc", "doctor");
  const auto [sample, image] = field(doctor, "EDIT-2");
  const Json list = cells(doctor, sample);
  const auto lymph = list["items"][1]["id"].get<std::int64_t>();
  ASSERT_EQ(list["items"][1]["class"], "lymphocyte");
  ASSERT_EQ(patch(doctor, cell_url(lymph), {{"confirmed", true}})->status, 200);
  const Json before = differential(doctor, sample);
  EXPECT_EQ(before["cells"], 3);

  auto r = del(doctor, cell_url(lymph));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["class"], "not_a_cell");
  const Json s = summary(doctor, sample);
  EXPECT_EQ(s["cells"], 2);
  EXPECT_EQ(s["confirmed"], 0) << "a removed box is not a confirmed cell";
  EXPECT_EQ(class_count(s, "not_a_cell"), 1) << "the gallery's not-a-cell bin still shows it";
  EXPECT_EQ(class_count(s, "lymphocyte"), 0);
  const Json after = differential(doctor, sample);
  EXPECT_EQ(after["cells"], 2);
  EXPECT_FALSE(after["unmapped"].contains("not_a_cell"));
  EXPECT_EQ(body_json(get(doctor, "/api/samples/" + std::to_string(sample) + "/progress"))["cells"], 2);
  EXPECT_EQ(cells(doctor, sample)["total"], 3) << "the cell itself stays";

  // Removing twice changes nothing; restore gives back the confirmed lymphocyte.
  EXPECT_EQ(del(doctor, cell_url(lymph))->status, 200);
  auto back = post(doctor, cell_url(lymph) + "/restore", Json::object());
  ASSERT_EQ(back->status, 200) << back->body;
  EXPECT_EQ(body_json(back)["class"], "lymphocyte");
  EXPECT_EQ(body_json(back)["confirmed"], true);
  EXPECT_EQ(summary(doctor, sample)["cells"], 3);
  EXPECT_EQ(post(doctor, cell_url(lymph) + "/restore", Json::object())->status, 409) << "not removed";
  EXPECT_EQ(actions(doctor, lymph), (std::vector<std::string>{"confirm", "remove", "restore"}));

  // The gallery's key: a reclassification to not_a_cell is a removal too; undo brings it back.
  auto mono = list["items"][2]["id"].get<std::int64_t>();
  ASSERT_EQ(patch(doctor, cell_url(mono), {{"class", "not_a_cell"}})->status, 200);
  EXPECT_EQ(summary(doctor, sample)["cells"], 2);
  ASSERT_EQ(post(doctor, "/api/samples/" + std::to_string(sample) + "/review/undo", Json::object())->status, 200);
  EXPECT_EQ(summary(doctor, sample)["cells"], 3);
  // Smudge and artefact bins are classes any reviewer may give.
  EXPECT_EQ(patch(doctor, cell_url(mono), {{"class", "smudge"}})->status, 200);
  EXPECT_EQ(patch(doctor, cell_url(mono), {{"class", "artefact"}})->status, 200);
}

TEST_P(FieldEditApiTest, AMovedBoxIsReclassifiedAndUndoPutsItBack) {
  auto doctor = user_with_role("doc", "doctor");
  auto tech = user_with_role("tech", "technician");
  const auto [sample, image] = field(doctor, "EDIT-3");
  const auto id = cells(doctor, sample)["items"][0]["id"].get<std::int64_t>();
  ASSERT_EQ(patch(doctor, cell_url(id), {{"class", "myelocyte"}, {"confirmed", true}})->status, 200);

  auto r = put(tech, cell_url(id) + "/box", {{"x1", 31}, {"y1", 21}, {"x2", 49.5}, {"y2", 39}});
  ASSERT_EQ(r->status, 200) << r->body;
  Json moved = body_json(r);
  EXPECT_EQ(moved["x2"], 49.5);
  EXPECT_EQ(moved["suggested_class"], "eosinophil");
  EXPECT_EQ(moved["class"], "myelocyte") << "the reviewer's class stays with the cell";
  EXPECT_EQ(moved["confirmed"], false) << "a technician's move needs a doctor's confirmation again";
  EXPECT_EQ(moved["origin"], "model");

  auto undo = post(tech, "/api/samples/" + std::to_string(sample) + "/review/undo", Json::object());
  ASSERT_EQ(undo->status, 200) << undo->body;
  const Json back = body_json(get(doctor, cell_url(id)));
  EXPECT_EQ(back["x1"], 4.0);
  EXPECT_EQ(back["x2"], 12.0);
  EXPECT_EQ(back["suggested_class"], "neutrophil");
  EXPECT_EQ(back["classifier_version"], "test-classifier");
  EXPECT_EQ(back["confirmed"], true);
  EXPECT_EQ(actions(doctor, id), (std::vector<std::string>{"reclassify", "move", "undo"}));

  // A doctor's move keeps the confirmation.
  auto d = put(doctor, cell_url(id) + "/box", {{"x1", 3}, {"y1", 3}, {"x2", 13}, {"y2", 13}});
  ASSERT_EQ(d->status, 200) << d->body;
  EXPECT_EQ(body_json(d)["confirmed"], true);
}

TEST_P(FieldEditApiTest, HostileEditsAreRefusedAndChangeNothing) {
  auto tech = user_with_role("tech", "technician");
  auto viewer = user_with_role("viewer", "viewer");
  auto doctor = user_with_role("doc", "doctor");
  const auto [sample, image] = field(tech, "EDIT-4");
  const auto id = cells(tech, sample)["items"][0]["id"].get<std::int64_t>();
  const std::string add = image_cells(image);
  const Json bad_boxes[] = {
      {{"x1", -1}, {"y1", 0}, {"x2", 10}, {"y2", 10}},      // outside (left)
      {{"x1", 50}, {"y1", 0}, {"x2", 65}, {"y2", 10}},      // outside (the image is 64 wide)
      {{"x1", 0}, {"y1", 40}, {"x2", 10}, {"y2", 49}},      // outside (48 high)
      {{"x1", 10}, {"y1", 10}, {"x2", 10}, {"y2", 20}},     // zero width
      {{"x1", 10}, {"y1", 10}, {"x2", 12}, {"y2", 20}},     // under the smallest side
      {{"x1", 20}, {"y1", 10}, {"x2", 10}, {"y2", 20}},     // reversed
      {{"x1", 0}, {"y1", 0}, {"x2", 1e308}, {"y2", 1e308}}, // huge
      {{"x1", 0}, {"y1", 0}, {"x2", 10}},                    // a coordinate missing
      {{"x1", "0"}, {"y1", 0}, {"x2", 10}, {"y2", 10}},      // a string
      {{"x1", 0}, {"y1", 0}, {"x2", 10}, {"y2", 10}, {"colour", "red"}},  // an unknown key
      {{"x1", 0}, {"y1", 0}, {"x2", 10}, {"y2", 10}, {"class", "Not A Class"}},
      {{"x1", 0}, {"y1", 0}, {"x2", 10}, {"y2", 10}, {"class", "unheard_of"}},
      Json::array({1, 2, 3, 4}),
  };
  for (const auto& b : bad_boxes) {
    auto r = post(tech, add, b);
    EXPECT_EQ(r->status, 400) << b.dump() << " " << r->body;
    if (!b.is_object() || b.contains("class") || b.size() != 4) continue;
    EXPECT_EQ(put(tech, cell_url(id) + "/box", b)->status, 400) << b.dump();
  }
  for (const std::string raw : {"{\"x1\": NaN, \"y1\": 0, \"x2\": 10, \"y2\": 10}", "{\"x1\": 1e400}", "not json", ""}) {
    auto r = client_->Post(add.c_str(), tech.headers(), raw, "application/json");
    EXPECT_EQ(r->status, 400) << raw << " " << r->body;
  }
  EXPECT_EQ(put(tech, cell_url(id) + "/box", {{"x1", 0}, {"y1", 0}, {"x2", 10}, {"y2", 10}, {"class", "basophil"}})->status,
            400);
  const Json ok = {{"x1", 0}, {"y1", 0}, {"x2", 10}, {"y2", 10}};
  EXPECT_EQ(post(tech, "/api/images/987654/cells", ok)->status, 404);
  EXPECT_EQ(put(tech, "/api/cells/987654/box", ok)->status, 404);
  EXPECT_EQ(del(tech, "/api/cells/987654")->status, 404);
  EXPECT_EQ(post(tech, "/api/cells/987654/restore", Json::object())->status, 404);
  EXPECT_EQ(post(viewer, add, ok)->status, 403);
  EXPECT_EQ(put(viewer, cell_url(id) + "/box", ok)->status, 403);
  EXPECT_EQ(del(viewer, cell_url(id))->status, 403);
  EXPECT_EQ(post(viewer, cell_url(id) + "/restore", Json::object())->status, 403);
  EXPECT_EQ(client_->Post(add.c_str(), ok.dump(), "application/json")->status, 401);
  EXPECT_EQ(summary(tech, sample)["cells"], 3);
  EXPECT_EQ(actions(tech, id), std::vector<std::string>{});

  // Signed: every edit is locked and nothing is stored.
  ASSERT_EQ(del(tech, cell_url(id))->status, 200);
  ASSERT_EQ(sign(doctor, sample)->status, 200);
  EXPECT_EQ(post(tech, add, ok)->status, 409);
  EXPECT_EQ(put(doctor, cell_url(id) + "/box", ok)->status, 409);
  EXPECT_EQ(del(doctor, cell_url(cells(tech, sample)["items"][1]["id"].get<std::int64_t>()))->status, 409);
  EXPECT_EQ(post(doctor, cell_url(id) + "/restore", Json::object())->status, 409);
  EXPECT_EQ(cells(tech, sample)["total"], 3);
}

TEST_P(FieldEditApiTest, TrainingExportCarriesAddedBoxesAndRemovedOnesAsNegatives) {
  auto doctor = user_with_role("doc", "doctor");
  const auto [sample, image] = field(doctor, "EDIT-5");
  const Json list = cells(doctor, sample);
  auto added = post(doctor, image_cells(image), {{"x1", 30}, {"y1", 20}, {"x2", 50}, {"y2", 40}});
  ASSERT_EQ(added->status, 201);
  const auto new_id = body_json(added)["id"].get<std::int64_t>();
  ASSERT_EQ(patch(doctor, cell_url(new_id), {{"confirmed", true}})->status, 200);
  auto tech = user_with_role("tech", "technician");
  ASSERT_EQ(del(tech, cell_url(list["items"][0]["id"].get<std::int64_t>()))->status, 200);  // unconfirmed removal

  auto r = get(doctor, "/api/exports/training?format=coco&samples=" + std::to_string(sample));
  ASSERT_EQ(r->status, 200) << r->body;
  auto coco = unzip(r->body);
  ASSERT_EQ(coco.count("annotations.json"), 1u);
  const Json j = Json::parse(coco["annotations.json"], nullptr, false);
  ASSERT_TRUE(j.is_object());
  std::map<std::int64_t, std::string> names;
  for (const auto& c : j["categories"]) names[c["id"].get<std::int64_t>()] = c["name"].get<std::string>();
  std::map<std::string, int> boxes;
  for (const auto& a : j["annotations"]) ++boxes[names[a["category_id"].get<std::int64_t>()]];
  // The field's other detected cells, neither confirmed nor removed.
  const int undecided = list["total"].get<int>() - 1;
  ASSERT_GT(undecided, 0);
  EXPECT_EQ(boxes, (std::map<std::string, int>{{"eosinophil", 1}, {"not_a_cell", 1}, {"unreviewed", undecided}}))
      << "the added, confirmed cell is a positive, the removed box a negative, the undecided cells regions "
         "a detector ignores";
  // labelme says the same per field; the crop tree (a classifier's data) has no undecided cells.
  auto lm = get(doctor, "/api/exports/training?format=labelme&samples=" + std::to_string(sample));
  ASSERT_EQ(lm->status, 200) << lm->body;
  int unreviewed_shapes = 0;
  for (const auto& [name, bytes] : unzip(lm->body)) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".json") continue;
    const Json shapes = Json::parse(bytes, nullptr, false);
    ASSERT_TRUE(shapes.is_object()) << name;
    for (const auto& sh : shapes["shapes"]) unreviewed_shapes += sh["label"] == "unreviewed" ? 1 : 0;
  }
  EXPECT_EQ(unreviewed_shapes, undecided);
  auto folder = get(doctor, "/api/exports/training?samples=" + std::to_string(sample));
  ASSERT_EQ(folder->status, 200) << folder->body;
  for (const auto& [name, bytes] : unzip(folder->body)) EXPECT_NE(name.rfind("unreviewed/", 0), 0u) << name;
}

TEST_P(FieldEditApiTest, TiffFieldsDisplayAsAStoredPngRendition) {
  auto tech = user_with_role("tech", "technician");
  const auto sample = make_sample(tech, "EDIT-6");
  cv::Mat img(30, 40, CV_8UC3, cv::Scalar(10, 200, 30));
  std::vector<std::uint8_t> tif;
  ASSERT_TRUE(cv::imencode(".tiff", img, tif));
  auto up = upload(tech, sample, {{"field.tif", std::string(tif.begin(), tif.end())}, {"field.png", field_png()}});
  ASSERT_EQ(up->status, 201) << up->body;
  const Json images = body_json(get(tech, "/api/samples/" + std::to_string(sample) + "/images"));
  ASSERT_EQ(images["items"].size(), 2u);
  for (const auto& im : images["items"]) {
    const std::string base = "/api/images/" + std::to_string(im["id"].get<std::int64_t>());
    auto shown = get(tech, base + "/display");
    ASSERT_EQ(shown->status, 200) << shown->body;
    if (im["format"] == "TIFF") {
      EXPECT_EQ(shown->get_header_value("Content-Type"), "image/png");
      auto again = get(tech, base + "/display");
      EXPECT_EQ(again->body, shown->body) << "the stored rendition";
      std::vector<std::uint8_t> bytes(shown->body.begin(), shown->body.end());
      const cv::Mat back = cv::imdecode(bytes, cv::IMREAD_COLOR);
      ASSERT_EQ(back.cols, 40);
      ASSERT_EQ(back.rows, 30);
      EXPECT_EQ(back.at<cv::Vec3b>(5, 5), cv::Vec3b(10, 200, 30)) << "lossless";
    } else {
      EXPECT_EQ(shown->get_header_value("Content-Type"), "image/png");
      EXPECT_EQ(shown->body, get(tech, base + "/file")->body) << "browser formats as uploaded";
    }
  }
  EXPECT_EQ(get(tech, "/api/images/987654/display")->status, 404);
  EXPECT_EQ(client_->Get("/api/images/1/display")->status, 401);
}

INSTANTIATE_TEST_SUITE_P(Backends, FieldEditApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
