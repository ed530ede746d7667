// Crop ZIPs and training-data exports over real HTTP; archives are opened with libzip and their
// entries checked (names, counts, decodable crops, COCO / labelme JSON).
#include "review_fixture.h"
#include "store/database.h"

namespace ms::testing {
namespace {

using ExportApiTest = ReviewServerTest;

TEST_P(ExportApiTest, CropZipsHaveAFolderPerClassAndAManifest) {
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(doc, "EXP-1", 2);
  const auto ids = cell_ids(doc, sample);
  ASSERT_EQ(patch(doc, cell_url(ids[0]), {{"class", "lymphocyte"}})->status, 200);
  auto r = get(doc, "/api/samples/" + std::to_string(sample) + "/crops.zip");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/zip");
  EXPECT_NE(r->get_header_value("Content-Disposition").find("EXP-1-crops.zip"), std::string::npos);
  auto entries = unzip(r->body);
  ASSERT_EQ(entries.size(), 7u) << "six crops and cells.csv";
  std::map<std::string, int> per_folder;
  for (const auto& [name, bytes] : entries) {
    if (name == "cells.csv") continue;
    per_folder[name.substr(0, name.find('/'))]++;
    auto m = decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
    EXPECT_TRUE(m) << name;
  }
  EXPECT_EQ(per_folder["lymphocyte"], 3) << "the reclassified cell goes under its reviewed class";
  EXPECT_EQ(per_folder["neutrophil"], 1);
  EXPECT_EQ(per_folder["monocyte"], 2);
  EXPECT_EQ(entries.count("lymphocyte/EXP-1_cell" + std::to_string(ids[0]) + ".jpg"), 1u);
  const std::string& csv = entries["cells.csv"];
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7);
  EXPECT_NE(csv.find(",lymphocyte,neutrophil,"), std::string::npos) << csv;

  const auto image = body_json(get(doc, cell_url(ids[0])))["image_id"].get<std::int64_t>();
  auto one = get(doc, "/api/images/" + std::to_string(image) + "/crops.zip");
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(unzip(one->body).size(), 4u);
  EXPECT_EQ(unzip(get(doc, "/api/samples/" + std::to_string(sample) + "/crops.zip?reviewed=true")->body).size(), 1u)
      << "nothing confirmed yet: only cells.csv";
  EXPECT_EQ(get(doc, "/api/samples/424242/crops.zip")->status, 404);
  EXPECT_EQ(get(doc, "/api/images/424242/crops.zip")->status, 404);
  EXPECT_EQ(get(doc, "/api/samples/" + std::to_string(sample) + "/crops.zip?reviewed=maybe")->status, 400);
  EXPECT_EQ(client_->Get(("/api/samples/" + std::to_string(sample) + "/crops.zip").c_str())->status, 401);
}

TEST_P(ExportApiTest, TrainingExportTakesConfirmedCellsInEachFormat) {
  auto doc = user_with_role("doc", "doctor");
  const auto a = analysed_sample(doc, "EXP-2", 1, 3);
  const auto b = analysed_sample(doc, "EXP-3", 1, 4);
  const std::string both = "/api/exports/training?samples=" + std::to_string(a) + "," + std::to_string(b);
  auto none = get(doc, both);
  EXPECT_EQ(none->status, 409) << "no confirmed cells yet";
  const auto ia = cell_ids(doc, a), ib = cell_ids(doc, b);
  ASSERT_EQ(post(doc, "/api/cells/review", {{"changes", {{{"id", ia[0]}, {"class", "monocyte"}, {"confirmed", true}},
                                                          {{"id", ia[1]}, {"confirmed", true}},
                                                          {{"id", ib[2]}, {"confirmed", true}}}}})->status,
            200);

  auto folder = unzip(get(doc, both + "&format=folder")->body);
  EXPECT_EQ(folder.size(), 4u) << "three confirmed crops and cells.csv";
  EXPECT_EQ(folder.count("monocyte/EXP-2_cell" + std::to_string(ia[0]) + ".jpg"), 1u);
  EXPECT_EQ(folder.count("monocyte/EXP-3_cell" + std::to_string(ib[2]) + ".jpg"), 1u);

  auto coco = unzip(get(doc, both + "&format=coco")->body);
  ASSERT_EQ(coco.count("annotations.json"), 1u);
  Json j = Json::parse(coco["annotations.json"], nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["images"].size(), 2u);
  // Three confirmed cells, and the three other cells of their fields that nobody decided.
  ASSERT_EQ(j["annotations"].size(), 6u);
  EXPECT_EQ(j["categories"].size(), 3u) << "lymphocyte, monocyte and unreviewed";
  int unreviewed = 0;
  for (const auto& cat : j["categories"])
    if (cat["name"] == "unreviewed")
      for (const auto& an : j["annotations"]) unreviewed += an["category_id"] == cat["id"] ? 1 : 0;
  EXPECT_EQ(unreviewed, 3);
  const std::string file = j["images"][0]["file_name"].get<std::string>();
  EXPECT_EQ(coco.count(file), 1u) << file << " is in the archive";
  // The reclassified cell is annotated as monocyte with its box as x, y, w, h: [4, 4, 8, 8].
  EXPECT_EQ(j["annotations"][0]["bbox"], Json({4, 4, 8, 8}));

  auto labelme = unzip(get(doc, both + "&format=labelme")->body);
  EXPECT_EQ(labelme.count("classes.txt"), 1u);
  int jsons = 0, shapes = 0;
  for (const auto& [name, bytes] : labelme)
    if (name.size() > 5 && name.substr(name.size() - 5) == ".json") {
      ++jsons;
      shapes += static_cast<int>(Json::parse(bytes)["shapes"].size());
    }
  EXPECT_EQ(jsons, 2);
  EXPECT_EQ(shapes, 6);

  EXPECT_EQ(get(doc, both + "&format=voc")->status, 400);
  EXPECT_EQ(get(doc, "/api/exports/training?samples=abc")->status, 400);
  EXPECT_EQ(get(doc, "/api/exports/training")->status, 400);
  EXPECT_EQ(get(doc, "/api/exports/training?samples=424242")->status, 404);
  EXPECT_EQ(get(user_with_role("viewer1", "viewer"), both)->status, 403);
  auto logs = body_json(get(doc, "/api/logs?action=export.training"));
  EXPECT_EQ(logs["total"], 3);
}

TEST_P(ExportApiTest, ViewerExportsAreCappedLowerThanStaffOnes) {
  auto doc = user_with_role("doc", "doctor");
  auto viewer = user_with_role("viewer1", "viewer");
  const auto sample = analysed_sample(doc, "CAP-1", 1);
  // 4,998 more cells in the same field (the test double finds three per field): 5,001 in all.
  auto db = store::open_database(url_->url());
  ASSERT_TRUE(db) << db.error().message;
  auto added = (*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) {
    return tx.exec(
        "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 4998) "
        "INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
        "suggested_class, probability, created_at, updated_at) "
        "SELECT c.job_id, 1000 + n.k, c.image_id, c.sample_id, c.x1, c.y1, c.x2, c.y2, c.det_score, "
        "c.suggested_class, c.probability, c.created_at, c.updated_at FROM n, "
        "(SELECT * FROM cells WHERE sample_id = ? ORDER BY id LIMIT 1) c",
        {sample});
  });
  ASSERT_TRUE(added) << added.error().message;
  ASSERT_EQ(*added, 4998);
  const std::string url = "/api/samples/" + std::to_string(sample) + "/crops.zip";
  auto refused = get(viewer, url);
  ASSERT_EQ(refused->status, 413) << refused->body.substr(0, 300);
  EXPECT_NE(refused->body.find("at most 5000 cells"), std::string::npos) << refused->body;
  const auto image = body_json(get(doc, cell_url(cell_ids(doc, sample)[0])))["image_id"].get<std::int64_t>();
  EXPECT_EQ(get(viewer, "/api/images/" + std::to_string(image) + "/crops.zip")->status, 413);
  // Staff get the whole sample.
  auto whole = get(doc, url);
  ASSERT_EQ(whole->status, 200) << whole->body.substr(0, 300);
  EXPECT_EQ(whole->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(unzip(whole->body).size(), 5002u) << "5,001 crops and cells.csv";
  // At the cap exactly, viewers get it too.
  auto removed = (*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) {
    return tx.exec("DELETE FROM cells WHERE sample_id = ? AND cell_index = 1001", {sample});
  });
  ASSERT_TRUE(removed && *removed == 1);
  auto at_cap = get(viewer, url);
  ASSERT_EQ(at_cap->status, 200) << at_cap->body.substr(0, 300);
  EXPECT_EQ(unzip(at_cap->body).size(), 5001u);
}

TEST_P(ExportApiTest, ImageCropZipsAreLoggedLikeSampleOnes) {
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(doc, "LOG-1", 1);
  const auto image = body_json(get(doc, cell_url(cell_ids(doc, sample)[0])))["image_id"].get<std::int64_t>();
  ASSERT_EQ(get(doc, "/api/images/" + std::to_string(image) + "/crops.zip")->status, 200);
  auto logs = body_json(get(doc, "/api/logs?action=export.crops"));
  ASSERT_EQ(logs["total"], 1) << logs.dump();
  EXPECT_EQ(logs["items"][0]["target"], "LOG-1");
  EXPECT_NE(logs["items"][0]["details"].get<std::string>().find("image " + std::to_string(image)), std::string::npos)
      << logs.dump();
  EXPECT_EQ(logs["items"][0]["username"], "doc");
}

TEST_P(ExportApiTest, PatientImagesAreNotKeptByBrowsers) {
  // Shared ward workstations: originals, thumbnails and crops must not outlive the session.
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(doc, "CACHE-1", 1);
  const auto cell = cell_ids(doc, sample)[0];
  const auto image = body_json(get(doc, cell_url(cell)))["image_id"].get<std::int64_t>();
  for (const std::string& url : {"/api/images/" + std::to_string(image) + "/file",
                                "/api/images/" + std::to_string(image) + "/thumbnail", cell_url(cell) + "/crop"}) {
    SCOPED_TRACE(url);
    auto r = get(doc, url);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "private, no-store");
    EXPECT_EQ(r->get_header_value("Vary"), "Cookie");
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ExportApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
