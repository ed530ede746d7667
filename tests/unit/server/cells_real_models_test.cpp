// The real thing: `serve`'s PipelineRunner with the SHIPPED detector and classifier, two real
// txl-pbc validation fields uploaded over HTTP, analysed by the job workers, and the stored cells
// checked against the fields' ground-truth WBC boxes. Model versions are recorded and written on
// every cell; each cell's crop is the pipeline's own crop of it (red-cell framing); recognition
// runs on the same models. Skips cleanly without the data.
#include <filesystem>

#include "core/box.h"
#include "data/formats/formats.h"
#include "models/runtime.h"
#include "pipeline/pipeline.h"
#include "review_fixture.h"
#include "server/cell_crops.h"
#include "server/pipeline_runner.h"

namespace ms::testing {
namespace {
namespace fs = std::filesystem;

class RealModelsTest : public ReviewServerTest {
 protected:
  RealModelsTest() { start_in_setup_ = false; }
};

TEST_P(RealModelsTest, UploadAnalyseReviewWithShippedModels) {
  const std::string val = kSharedData + "/txl-pbc";
  if (!fs::exists(val + "/images/val")) GTEST_SKIP() << "no " << val << " (../shared/data is absent)";
  init_torch_runtime();
  auto runner = server::PipelineRunner::load(MARROWSCOPE_SOURCE_DIR "/models/detector",
                                             MARROWSCOPE_SOURCE_DIR "/models/classifier");
  ASSERT_TRUE(runner) << runner.error().message;
  options_.workers = 2;
  auto s = server::LabServer::create(options_, *runner);
  ASSERT_TRUE(s) << s.error().message;
  server_ = std::move(*s);
  ASSERT_TRUE(server_->start());
  connect(server_->port());
  client_->set_read_timeout(120);

  auto gt = read_yolo(val, "val");
  ASSERT_TRUE(gt) << gt.error().message;
  int wbc = -1;  // classes.txt names it "0 White Blood Cell (WBC)"
  for (std::size_t k = 0; k < gt->classes.size(); ++k)
    if (gt->classes[k].find("WBC") != std::string::npos) wbc = static_cast<int>(k);
  ASSERT_GE(wbc, 0);
  std::vector<const Field*> fields;
  for (const auto& f : gt->fields) {
    int n = 0;
    for (const auto& b : f.boxes) n += b.class_id == wbc;
    if (n >= 1) fields.push_back(&f);
    if (fields.size() == 2) break;
  }
  ASSERT_EQ(fields.size(), 2u);

  auto doc = user_with_role("doc", "doctor");
  const auto sample = make_sample(doc, "REAL-1");
  auto up = upload(doc, sample, {{fs::path(fields[0]->image_path).filename().string(), file_bytes(fields[0]->image_path)},
                                 {fs::path(fields[1]->image_path).filename().string(), file_bytes(fields[1]->image_path)}});
  ASSERT_EQ(up->status, 201) << up->body;
  auto progress = wait_for_jobs(doc, sample, 240000);
  ASSERT_EQ(progress["done"], 2) << progress.dump();
  ASSERT_GE(progress["cells"].get<int>(), 2);

  const auto classes = (*runner)->classes();
  const auto versions = (*runner)->models();
  int matched = 0, truths = 0;
  for (int k = 0; k < 2; ++k) {
    const auto image_id = body_json(up)["items"][k]["image"]["id"].get<std::int64_t>();
    auto list = body_json(get(doc, "/api/images/" + std::to_string(image_id) + "/cells"));
    std::vector<Box> found;
    for (const auto& c : list["items"]) {
      const Box b{c["x1"].get<float>(), c["y1"].get<float>(), c["x2"].get<float>(), c["y2"].get<float>()};
      // Sane boxes: inside the field, a plausible nucleated-cell size for these 575 px fields.
      EXPECT_GE(b.x1, -1.f);
      EXPECT_GE(b.y1, -1.f);
      EXPECT_LE(b.x2, fields[k]->width + 1.f);
      EXPECT_LE(b.y2, fields[k]->height + 1.f);
      EXPECT_GT(b.width(), 15.f);
      EXPECT_LT(b.width(), 0.8f * fields[k]->width);
      EXPECT_NE(std::find(classes.begin(), classes.end(), c["suggested_class"].get<std::string>()), classes.end());
      EXPECT_GT(c["probability"].get<double>(), 0.0);
      EXPECT_FALSE(c["top_k"].empty());
      // The shipped classifier carries an atypical reference: every cell is scored.
      ASSERT_TRUE(c["atypical"].is_number()) << c.dump();
      EXPECT_GE(c["atypical"].get<double>(), 0.0);
      EXPECT_LE(c["atypical"].get<double>(), 1.0);
      EXPECT_EQ(c["flagged"].get<bool>(), c["flag_reason"].is_string()) << c.dump();
      EXPECT_EQ(c["detector_version"], versions[0].version);
      EXPECT_EQ(c["classifier_version"], versions[1].version);
      found.push_back(b);
    }
    for (const auto& t : fields[k]->boxes) {
      if (t.class_id != wbc) continue;
      ++truths;
      float best = 0;
      for (const auto& b : found) best = std::max(best, iou(t.box, b));
      matched += best >= 0.5f;
    }
  }
  EXPECT_EQ(matched, truths) << "every ground-truth WBC of the two fields is found at IoU >= 0.5";

  auto mv = body_json(get(doc, "/api/model-versions"))["items"];
  ASSERT_EQ(mv.size(), 2u) << mv.dump();
  for (const auto& m : mv) {
    EXPECT_EQ(m["active"], true);
    EXPECT_EQ(m["sha256"].get<std::string>().size(), 64u);
  }
  // The runner and its model versions: for signed-in users only.
  EXPECT_NE(body_json(get(doc, "/api/health"))["runner"].get<std::string>().find(versions[0].version),
            std::string::npos);

  // Every stored cell's crop is the pipeline's own crop of that cell, framed by the field's red
  // cells as when it was classified: the same JPEG bytes as Pipeline::crop's pixels give.
  auto pipeline = Pipeline::load(MARROWSCOPE_SOURCE_DIR "/models/detector",
                                 MARROWSCOPE_SOURCE_DIR "/models/classifier");
  ASSERT_TRUE(pipeline) << pipeline.error().message;
  int compared = 0, ruler_differs = 0;
  for (int k = 0; k < 2; ++k) {
    auto field = read_image(fields[k]->image_path);
    ASSERT_TRUE(field) << field.error().message;
    const FieldResult analysed = (*pipeline)->analyze(*field, fields[k]->image_path);
    ASSERT_GT(analysed.rbc_side, 0.f) << "txl-pbc fields show red cells: they size the crops";
    const auto image_id = body_json(up)["items"][k]["image"]["id"].get<std::int64_t>();
    const Json list = body_json(get(doc, "/api/images/" + std::to_string(image_id) + "/cells"));
    for (const auto& c : list["items"]) {
      const Box b{c["x1"].get<float>(), c["y1"].get<float>(), c["x2"].get<float>(), c["y2"].get<float>()};
      const cv::Mat want = (*pipeline)->crop(*field, b, analysed.rbc_side);
      EXPECT_EQ(c["crop_side"], want.cols);
      auto crop = get(doc, cell_url(c["id"].get<std::int64_t>()) + "/crop");
      ASSERT_EQ(crop->status, 200) << crop->body;
      EXPECT_EQ(crop->body, *server::jpeg_bytes(want)) << "cell " << c["id"] << " is framed differently";
      ruler_differs += crop_square(*field, b, PipelineOptions{}.crop_margin).cols != want.cols;
      ++compared;
    }
  }
  EXPECT_GE(compared, 2);
  EXPECT_GT(ruler_differs, 0) << "the default margin frames these cells as the ruler does: this "
                                 "comparison cannot tell the two apart";

  // Review a real cell, fetch its crop, and classify a real PBC crop through recognition.
  const auto first = cell_ids(doc, sample)[0];
  ASSERT_EQ(patch(doc, cell_url(first), {{"class", "monocyte"}, {"confirmed", true}})->status, 200);
  auto crop = get(doc, cell_url(first) + "/crop?size=96");
  ASSERT_EQ(crop->status, 200);
  EXPECT_TRUE(decode_image(reinterpret_cast<const std::uint8_t*>(crop->body.data()), crop->body.size(), "crop"));
  const std::string pbc = kSharedData + "/pbc/eosinophil";
  if (fs::exists(pbc)) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(pbc)) names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    httplib::MultipartFormDataItems items = {{"files", file_bytes(names[0]), "eo.jpg", "image/jpeg"}};
    auto r = client_->Post("/api/recognition", doc.headers(), items);
    ASSERT_EQ(r->status, 200) << r->body;
    const auto cls = body_json(r)["items"][0]["class"].get<std::string>();
    EXPECT_NE(std::find(classes.begin(), classes.end(), cls), classes.end());
  }
}

INSTANTIATE_TEST_SUITE_P(Sqlite, RealModelsTest, ::testing::Values(std::string("sqlite")), backend_name);

}  // namespace
}  // namespace ms::testing
