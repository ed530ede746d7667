// The real thing: `serve`'s PipelineRunner with the SHIPPED detector and classifier, two real
// txl-pbc validation fields uploaded over HTTP, analysed by the job workers, and the stored cells
// checked against the fields' ground-truth WBC boxes. Model versions are recorded and written on
// every cell; each cell's crop is the pipeline's own crop of it (red-cell framing); recognition
// runs on the same models. Skips cleanly without the data.
#include <filesystem>

#include <opencv2/core.hpp>

#include "core/box.h"
#include "core/image.h"
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
  // A server whose job workers run the real pipeline with these model folders.
  std::shared_ptr<server::PipelineRunner> start_with(const std::string& detector, const std::string& classifier) {
    auto runner = server::PipelineRunner::load(detector, classifier);
    EXPECT_TRUE(runner) << runner.error().message;
    if (!runner) return nullptr;
    options_.workers = 2;
    auto s = server::LabServer::create(options_, *runner);
    EXPECT_TRUE(s) << s.error().message;
    if (!s) return nullptr;
    server_ = std::move(*s);
    EXPECT_TRUE(server_->start());
    connect(server_->port());
    client_->set_read_timeout(120);
    return *runner;
  }
  // The index of the white-cell class of txl-pbc's labels ("0 White Blood Cell (WBC)").
  static int wbc_class(const FieldDataset& gt) {
    for (std::size_t k = 0; k < gt.classes.size(); ++k)
      if (gt.classes[k].find("WBC") != std::string::npos) return static_cast<int>(k);
    return -1;
  }
};

TEST_P(RealModelsTest, UploadAnalyseReviewWithShippedModels) {
  const std::string val = kSharedData + "/txl-pbc";
  if (!fs::exists(val + "/images/val")) GTEST_SKIP() << "no " << val << " (../shared/data is absent)";
  init_torch_runtime();
  auto runner = start_with(MARROWSCOPE_SOURCE_DIR "/models/detector", MARROWSCOPE_SOURCE_DIR "/models/classifier");
  ASSERT_TRUE(runner);

  auto gt = read_yolo(val, "val");
  ASSERT_TRUE(gt) << gt.error().message;
  const int wbc = wbc_class(*gt);
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

  const auto classes = runner->classes();
  const auto versions = runner->models();
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

// A sample's stain against the classifier's training lab: the same real field as it is and through a
// yellow camera (blue at 60%), analysed by a classifier folder that carries a stain reference. The
// summary measures both; once the cells are atypical (outside the domain) what differs is among the
// reasons, and the report's domain warning says it in both languages.
TEST_P(RealModelsTest, SummaryAndReportSayWhatDiffersInTheStain) {
  const std::string val = kSharedData + "/txl-pbc";
  if (!fs::exists(val + "/images/val")) GTEST_SKIP() << "no " << val << " (../shared/data is absent)";
  init_torch_runtime();
  const fs::path shipped = MARROWSCOPE_SOURCE_DIR "/models/classifier";
  const fs::path cls = fs::path(dir_.str()) / "classifier-with-stain";
  fs::create_directories(cls);
  for (const char* f : {"model.pt", "atypical.json"}) fs::create_symlink(shipped / f, cls / f);
  auto info = read_json_file((shipped / "model.json").string());
  ASSERT_TRUE(info);
  (*info)["normalization"]["stain_standardisation"] = {{"background", {0.9988, 0.8963, 0.7959}},
                                                       {"od_p99", {1.3257, 2.2480, 0.4474}}};
  ASSERT_TRUE(write_json_file((cls / "model.json").string(), *info));
  ASSERT_TRUE(start_with(MARROWSCOPE_SOURCE_DIR "/models/detector", cls.string()));

  // 36 fields with a white cell each: enough cells (20) to judge the domain even where the yellow
  // camera costs the detector some (it does: 16 of 24 in one try).
  auto gt = read_yolo(val, "val");
  ASSERT_TRUE(gt) << gt.error().message;
  const int wbc = wbc_class(*gt);
  ASSERT_GE(wbc, 0);
  std::vector<std::pair<std::string, std::string>> plain_files, cast_files;
  for (const auto& f : gt->fields) {
    int n = 0;
    for (const auto& b : f.boxes) n += b.class_id == wbc;
    if (n < 1 || plain_files.size() == 36) continue;
    auto field = read_image(f.image_path);
    ASSERT_TRUE(field) << field.error().message;
    std::vector<cv::Mat> ch;
    cv::split(*field, ch);
    ch[0].convertTo(ch[0], -1, 0.6);  // BGR: the blue channel at 60%, a yellow camera
    cv::Mat yellow;
    cv::merge(ch, yellow);
    auto png = encode_image(yellow, ".png");
    ASSERT_TRUE(png);
    const std::string name = fs::path(f.image_path).filename().string();
    plain_files.emplace_back(name, file_bytes(f.image_path));
    cast_files.emplace_back("yellow-" + name + ".png", std::string(png->begin(), png->end()));
  }
  ASSERT_EQ(plain_files.size(), 36u);

  auto doc = user_with_role("doc", "doctor");
  const auto plain = make_sample(doc, "STAIN-PLAIN"), cast = make_sample(doc, "STAIN-YELLOW");
  for (std::size_t k = 0; k < plain_files.size(); k += 6) {  // six fields a request: the upload limit
    const auto part = [&](const auto& v) { return std::vector<std::pair<std::string, std::string>>(v.begin() + k, v.begin() + k + 6); };
    ASSERT_EQ(upload(doc, plain, part(plain_files))->status, 201);
    ASSERT_EQ(upload(doc, cast, part(cast_files))->status, 201);
  }
  ASSERT_EQ(wait_for_jobs(doc, plain, 240000)["done"], 36);
  ASSERT_EQ(wait_for_jobs(doc, cast, 240000)["done"], 36);
  const auto summary = [&](std::int64_t sample) {
    return body_json(get(doc, "/api/samples/" + std::to_string(sample) + "/cells/summary"));
  };
  const Json a = summary(plain), b = summary(cast);
  ASSERT_TRUE(a["domain"].contains("stain")) << a.dump();
  ASSERT_TRUE(b["domain"].contains("stain")) << b.dump();
  const Json& sa = a["domain"]["stain"];
  const Json& sb = b["domain"]["stain"];
  EXPECT_GE(sa["cells"].get<int>(), 20);
  EXPECT_EQ(sa["reference_background"][2], 0.796);
  // The yellow camera: a much less blue background than the plain fields' (60% of the pixel values;
  // the brightest pixels of a plain field are clipped at white), red and green alike.
  EXPECT_LT(sb["background"][2].get<double>() / sa["background"][2].get<double>(), 0.8) << sb.dump();
  EXPECT_NEAR(sb["background"][0].get<double>(), sa["background"][0].get<double>(), 0.02);
  ASSERT_FALSE(sb["differences"].empty()) << sb.dump();
  EXPECT_NE(sb["differences"][0].get<std::string>().find("background colour differs"), std::string::npos);

  // Outside the domain (every cell atypical): the reasons say what differs, and so does the report.
  auto db = store::open_database(url_->url());
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("UPDATE cells SET atypical = 0.99, flag_reason = 'atypical' WHERE sample_id = ?", {cast}));
    return {};
  }));
  const Json out = summary(cast);
  ASSERT_GE(out["atypical_scored"].get<int>(), 20) << out.dump();
  ASSERT_EQ(out["domain"]["outside"], true) << out.dump();
  std::string reasons;
  for (const auto& r : out["domain"]["reasons"]) reasons += r.get<std::string>() + "\n";
  EXPECT_NE(reasons.find("The background colour differs from the training lab's"), std::string::npos) << reasons;
  const Json report = body_json(get(doc, "/api/samples/" + std::to_string(cast) + "/report"));
  const std::string warning = report["report"]["domain_warning"].dump();
  EXPECT_NE(warning.find("background colour differs"), std::string::npos) << warning;
  EXPECT_NE(warning.find("背景颜色与训练实验室不同"), std::string::npos) << warning;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, RealModelsTest, ::testing::Values(std::string("sqlite")), backend_name);

}  // namespace
}  // namespace ms::testing
