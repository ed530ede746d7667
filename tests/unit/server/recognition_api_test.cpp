// Recognition over real HTTP: single-cell crops in, classes out, nothing stored. The recogniser
// here is a test double that names a crop by its dominant colour, so each answer is checkable.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "review_fixture.h"
#include "server/cell_recognizer.h"
#include "server/decode_slots.h"

namespace ms::testing {
namespace {

class ColourRecognizer : public TestDoubleRunner, public server::CellRecognizer {
 public:
  Result<std::vector<store::AnalysedCell>> classify_crops(const std::vector<cv::Mat>& crops) override {
    std::vector<store::AnalysedCell> out;
    for (const auto& m : crops) {
      largest_side = std::max<int>(largest_side, std::max(m.cols, m.rows));
      const cv::Scalar mean = cv::mean(m);  // B, G, R
      store::AnalysedCell c;
      c.box = Box{0.f, 0.f, float(m.cols), float(m.rows)};
      c.det_score = 1.f;
      c.cell_class = mean[2] > mean[0] ? "eosinophil" : "lymphocyte";
      c.probability = 0.9f;
      c.top_k = {{c.cell_class, 0.9f}, {c.cell_class == "eosinophil" ? "lymphocyte" : "eosinophil", 0.1f}};
      c.entropy = 0.33f;
      out.push_back(c);
    }
    return out;
  }
  // Frames as the pipeline would without a detector: by the declared scale where there is one.
  Result<std::vector<store::AnalysedCell>> classify_cell_images(const std::vector<cv::Mat>& images,
                                                                const CellImageScale& scale,
                                                                std::vector<Framing>& framing) override {
    {
      std::lock_guard<std::mutex> lock(seen_mutex);
      last_scale = scale;
    }
    framing.clear();
    for (std::size_t i = 0; i < images.size(); ++i) {
      const double um = i < scale.um_per_px_each.size() ? scale.um_per_px_each[i] : scale.um_per_px;
      framing.push_back(um > 0 ? Framing{"declared", red_cell_side_px(um)} : Framing{});
    }
    return classify_crops(images);
  }
  std::vector<std::string> classes() const override { return {"eosinophil", "lymphocyte"}; }
  std::atomic<int> largest_side{0};  // of the crops handed to the classifier
  std::mutex seen_mutex;
  CellImageScale last_scale;
};

std::string solid_png(const cv::Scalar& bgr, int side = 40) {
  cv::Mat m(side, side, CV_8UC3, bgr);
  auto png = encode_image(m, ".png");
  return std::string(png->begin(), png->end());
}

class RecognitionApiTest : public LabServerTest {
 protected:
  RecognitionApiTest() { start_in_setup_ = false; }
  void SetUp() override {
    LabServerTest::SetUp();
    runner_ = std::make_shared<ColourRecognizer>();
    start_server();
  }
  httplib::Result recognise(const SessionCookies& s, const std::vector<std::pair<std::string, std::string>>& files) {
    httplib::MultipartFormDataItems items;
    for (const auto& [name, bytes] : files) items.push_back({"files", bytes, name, "application/octet-stream"});
    return client_->Post("/api/recognition", s.headers(), items);
  }
};

TEST_P(RecognitionApiTest, ClassifiesCropsAndStoresNothing) {
  auto tech = user_with_role("tech1", "technician");
  auto r = recognise(tech, {{"red.png", solid_png({20, 20, 220})}, {"blue.png", solid_png({220, 20, 20}, 31)}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto items = body_json(r)["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["filename"], "red.png");
  EXPECT_EQ(items[0]["class"], "eosinophil");
  EXPECT_EQ(items[1]["class"], "lymphocyte");
  EXPECT_EQ(items[1]["width"], 31);
  EXPECT_EQ(items[0]["top_k"].size(), 2u);
  EXPECT_NEAR(items[0]["probability"].get<double>(), 0.9, 1e-6);
  EXPECT_EQ(body_json(r)["classes"].size(), 2u);
  EXPECT_EQ(body_json(get(admin(), "/api/samples"))["items"].size(), 0u);
  auto logs = body_json(get(admin(), "/api/logs?action=recognition.classify"));
  EXPECT_EQ(logs["total"], 1);
}

TEST_P(RecognitionApiTest, RefusesBadInputWholesale) {
  auto t = user_with_role("tech", "technician");
  auto garbage = recognise(t, {{"ok.png", solid_png({1, 2, 3})}, {"notes.txt", "hello, not an image"}});
  EXPECT_EQ(garbage->status, 415) << garbage->body;
  auto files = body_json(garbage)["error"]["details"]["files"];
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]["filename"], "notes.txt");
  EXPECT_EQ(body_json(garbage)["error"]["message"].get<std::string>().rfind(
                "1 of 2 files refused, nothing classified; first: file 'notes.txt': ", 0),
            0u)
      << garbage->body;
  auto empty = recognise(t, {{"empty.png", ""}});
  EXPECT_EQ(body_json(empty)["error"]["message"], "file 'empty.png': expected image bytes, found an empty file");
  EXPECT_EQ(recognise(t, {{"empty.png", ""}})->status, 400);
  std::string half = solid_png({1, 2, 3});
  half.resize(half.size() / 2);
  EXPECT_EQ(recognise(t, {{"half.png", half}})->status, 422);
  EXPECT_EQ(recognise(t, {{"big.png", std::string(options_.max_image_bytes + 1, '\x89')}})->status, 413);
  EXPECT_EQ(client_->Post("/api/recognition", t.headers(), solid_png({1, 2, 3}), "image/png")->status, 415);
  httplib::MultipartFormDataItems no_files = {{"note", "text", "", ""}};
  EXPECT_EQ(client_->Post("/api/recognition", t.headers(), no_files)->status, 400);
  EXPECT_EQ(client_->Post("/api/recognition", t.headers(false), no_files)->status, 403) << "no CSRF header";
  EXPECT_EQ(client_->Post("/api/recognition", no_files)->status, 401);
}

TEST_P(RecognitionApiTest, FramesByRedCellsByDefaultAndByADeclaredScaleOfTheUploadedPixels) {
  auto tech = user_with_role("tech-scale", "technician");
  auto& rec = static_cast<ColourRecognizer&>(*runner_);
  auto post = [&](const std::string& query, const std::vector<std::pair<std::string, std::string>>& files) {
    httplib::MultipartFormDataItems items;
    for (const auto& [name, bytes] : files) items.push_back({"files", bytes, name, "application/octet-stream"});
    return client_->Post(("/api/recognition" + query).c_str(), tech.headers(), items);
  };
  auto plain = post("", {{"a.png", solid_png({20, 20, 220})}});
  ASSERT_EQ(plain->status, 200) << plain->body;
  EXPECT_TRUE(rec.last_scale.from_red_cells) << "the image's own red cells frame it unless asked otherwise";
  EXPECT_EQ(rec.last_scale.um_per_px, 0.0);
  EXPECT_EQ(body_json(plain)["items"][0]["framing"]["source"], "as_is");
  EXPECT_TRUE(body_json(plain)["items"][0]["framing"]["red_cell_side_px"].is_null());

  // 0.1 um per uploaded pixel: the 512 px crop is kept at 256 px, so 0.2 um per kept pixel; the
  // ruler is answered in the uploaded image's pixels (7.5 um / 0.1 = 75 px).
  auto declared = post("?frame=as_is&um_per_px=0.1", {{"big.png", solid_png({20, 20, 220}, 512)}, {"small.png", solid_png({220, 20, 20}, 40)}});
  ASSERT_EQ(declared->status, 200) << declared->body;
  EXPECT_FALSE(rec.last_scale.from_red_cells);
  ASSERT_EQ(rec.last_scale.um_per_px_each.size(), 2u);
  EXPECT_NEAR(rec.last_scale.um_per_px_each[0], 0.2, 1e-9);
  EXPECT_NEAR(rec.last_scale.um_per_px_each[1], 0.1, 1e-9);
  const Json items = body_json(declared)["items"];
  for (const auto& it : items) {
    EXPECT_EQ(it["framing"]["source"], "declared");
    EXPECT_NEAR(it["framing"]["red_cell_side_px"].get<double>(), 75.0, 1e-3) << it.dump();
  }

  // Hostile or mistaken values are refused before any file is read, naming the parameter.
  for (const std::string q : {"?frame=zoom", "?um_per_px=abc", "?um_per_px=0", "?um_per_px=-1", "?um_per_px=1e400",
                              "?um_per_px=51", "?um_per_px=", "?um_per_px=0.1x", "?um_per_px=nan", "?um_per_px=inf"}) {
    auto r = post(q, {{"a.png", solid_png({20, 20, 220})}});
    ASSERT_EQ(r->status, 400) << q << " " << r->body;
    EXPECT_NE(r->body.find(q.find("frame") != std::string::npos ? "'frame'" : "'um_per_px'"), std::string::npos) << r->body;
  }
}

TEST_P(RecognitionApiTest, ViewersMayNotRunRecognition) {
  auto viewer = user_with_role("viewer1", "viewer");
  auto r = recognise(viewer, {{"red.png", solid_png({20, 20, 220})}});
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_EQ(error_code(r), "permission_denied");
}

TEST_P(RecognitionApiTest, CropsAreSmallAndFewAndShrunkBeforeClassifying) {
  auto t = user_with_role("tech", "technician");
  // A crop over 1024 px per side is refused from its header, naming the limit.
  cv::Mat wide(10, 1025, CV_8UC3, cv::Scalar(1, 2, 3));
  auto png = encode_image(wide, ".png");
  auto big = recognise(t, {{"wide.png", std::string(png->begin(), png->end())}});
  ASSERT_EQ(big->status, 413) << big->body;
  EXPECT_NE(big->body.find("1024 per side"), std::string::npos) << big->body;
  // At most 64 crops per request.
  std::vector<std::pair<std::string, std::string>> many;
  for (int k = 0; k < 65; ++k) many.emplace_back("c" + std::to_string(k) + ".png", solid_png({1, 2, 3}, 8));
  auto too_many = recognise(t, many);
  EXPECT_EQ(too_many->status, 400) << too_many->body;
  EXPECT_NE(too_many->body.find("at most 64 files"), std::string::npos) << too_many->body;
  many.pop_back();
  EXPECT_EQ(recognise(t, many)->status, 200);
  // A 1000 px crop is accepted, reported at its own size, and classified from a copy shrunk at
  // decode time (the full-size pixels are not held).
  auto large = recognise(t, {{"large.png", solid_png({20, 20, 220}, 1000)}});
  ASSERT_EQ(large->status, 200) << large->body;
  EXPECT_EQ(body_json(large)["items"][0]["width"], 1000);
  EXPECT_EQ(body_json(large)["items"][0]["class"], "eosinophil");
  EXPECT_LE(static_cast<ColourRecognizer&>(*runner_).largest_side.load(), 256);
}

TEST(DecodeSlots, AtMostTheGivenNumberHoldASlotAtOnce) {
  server::DecodeSlots slots(2);
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&] {
      server::DecodeSlots::Hold hold(slots);
      const int now = ++inside;
      for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      --inside;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(most.load(), 2);
}

using RecognitionWithoutPipelineTest = ReviewServerTest;

TEST_P(RecognitionWithoutPipelineTest, SaysThereIsNoClassifier) {
  // The plain test double analyses fields but cannot classify crops.
  auto t = user_with_role("tech", "technician");
  httplib::MultipartFormDataItems items = {{"files", solid_png({1, 2, 3}), "a.png", "image/png"}};
  auto r = client_->Post("/api/recognition", t.headers(), items);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("pipeline"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Backends, RecognitionApiTest, ::testing::ValuesIn(test_backends()), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, RecognitionWithoutPipelineTest, ::testing::ValuesIn(test_backends()),
                         backend_name);

}  // namespace
}  // namespace ms::testing
