// Region analysis of a whole slide with the tiny models: a synthetic smear written as a tiled
// pyramidal TIFF is read chunk by chunk (never more than one chunk at a time), every white cell is
// found once in slide coordinates, including cells cut by chunk edges, and regions and their
// parsing refuse what lies outside the slide.
#include "pipeline/slide_analysis.h"

#include <gtest/gtest.h>

#include "pipeline/pipeline.h"
#include "slide_fixture.h"
#include "unit/pipeline/pipeline_fixture.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

class SlideAnalysisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    init_torch_runtime();
    models_ = testing::tiny_models();
    dir_ = fs::temp_directory_path() / ("ms_slide_analysis_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::mt19937 rng(5);
    field_ = testing::random_field(700, 600, 40, 30, rng);
    path_ = (dir_ / "smear.tif").string();
    error_ = testing::write_pyramidal_tiff(field_.image, path_, 0.5);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(models_.detector_dir + "/model.json")) << "tiny models were not trained";
    ASSERT_EQ(error_, "");
  }
  static std::unique_ptr<Pipeline> load() {
    PipelineOptions o;
    o.tile_size = 128;  // the tiny detector's input
    o.tile_overlap = 48;
    auto p = Pipeline::load(models_.detector_dir, models_.classifier_dir, o);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
  // Chunks sized for the tiny models' 128-px tiles and 12-17 px cells.
  static RegionAnalysisOptions small_chunks() {
    RegionAnalysisOptions o;
    o.chunk_size = 256;
    o.chunk_overlap = 64;
    o.context_px = 8;
    return o;
  }
  // Each expected white cell inside the region is found once with IoU >= 0.7; nothing else.
  static void expect_cells(const FieldResult& r, const SlideRegion& g) {
    std::vector<testing::SyntheticCell> inside;
    for (const auto& c : field_.white_cells())
      if (c.box.x1 >= float(g.x) && c.box.y1 >= float(g.y) && c.box.x2 <= float(g.x + g.w) &&
          c.box.y2 <= float(g.y + g.h))
        inside.push_back(c);
    ASSERT_GE(inside.size(), 5u);
    EXPECT_EQ(r.cells.size(), inside.size());
    const auto best = testing::best_ious(inside, r.cells.size(), [&](size_t i) { return r.cells[i].box; });
    for (size_t e = 0; e < inside.size(); ++e) EXPECT_GE(best[e], 0.7f) << "white cell " << e << " not found";
  }
  static inline testing::TinyModels models_;
  static inline fs::path dir_;
  static inline testing::SyntheticField field_;
  static inline std::string path_, error_;
};

TEST_F(SlideAnalysisTest, EveryCellIsFoundOnceInSlideCoordinatesReadingOneChunkAtATime) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  auto slide = SlideReader::open(path_);
  ASSERT_TRUE(slide) << slide.error().message;
  // 256-px chunks overlapping by 64: chunk columns start at 0, 192, 384, 444; rows at 0, 192, 344.
  const RegionAnalysisOptions opt = small_chunks();
  // The test means something only if some cells are cut by a chunk edge.
  int cut = 0;
  for (const auto& c : field_.white_cells())
    for (float edge : {256.f, 448.f, 640.f}) cut += (c.box.x1 < edge && c.box.x2 > edge) ? 1 : 0;
  ASSERT_GE(cut, 1);
  const SlideRegion whole{0, 0, 700, 600};
  std::vector<size_t> progress;
  auto r = analyze_slide_region(*pipeline, **slide, whole, opt, [&](size_t done, size_t total) {
    progress.push_back(done * 100 + total);
    return true;
  });
  ASSERT_TRUE(r) << r.error().message;
  expect_cells(*r, whole);
  EXPECT_EQ(progress.size(), 12u);  // 4 x 3 chunks, reported in order
  EXPECT_EQ(progress.back(), 1212u);
  EXPECT_EQ((*slide)->largest_read_pixels(), 256 * 256);  // memory: one chunk, never the region
}

TEST_F(SlideAnalysisTest, ARegionAwayFromTheOriginKeepsSlideCoordinates) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  auto slide = SlideReader::open(path_);
  ASSERT_TRUE(slide);
  const RegionAnalysisOptions opt = small_chunks();
  const SlideRegion g{150, 120, 350, 300};
  auto r = analyze_slide_region(*pipeline, **slide, g, opt);
  ASSERT_TRUE(r) << r.error().message;
  // Every white cell wholly inside is found; cells cut by the region's own border may be found as
  // their visible part; every box lies in the region, in slide coordinates.
  std::vector<testing::SyntheticCell> inside;
  size_t crossing = 0;
  for (const auto& c : field_.white_cells()) {
    const bool in = c.box.x1 >= 150 && c.box.y1 >= 120 && c.box.x2 <= 500 && c.box.y2 <= 420;
    const bool out = c.box.x2 <= 150 || c.box.y2 <= 120 || c.box.x1 >= 500 || c.box.y1 >= 420;
    if (in) inside.push_back(c);
    crossing += (!in && !out) ? 1 : 0;
  }
  ASSERT_GE(inside.size(), 3u);
  EXPECT_GE(r->cells.size(), inside.size());
  EXPECT_LE(r->cells.size(), inside.size() + crossing);
  const auto best = testing::best_ious(inside, r->cells.size(), [&](size_t i) { return r->cells[i].box; });
  for (size_t e = 0; e < inside.size(); ++e) EXPECT_GE(best[e], 0.7f) << "white cell " << e << " not found";
  for (const auto& c : r->cells) {
    EXPECT_GE(c.box.x1, 149.f);
    EXPECT_GE(c.box.y1, 119.f);
    EXPECT_LE(c.box.x2, 501.f);
    EXPECT_LE(c.box.y2, 421.f);
  }
}

// With a margin, a cell the region's edge crosses is found whole, and the region keeps exactly the
// cells whose centre lies inside it: two regions side by side count every cell once.
TEST_F(SlideAnalysisTest, WithAMarginEdgeCellsAreWholeAndBelongToTheRegionOfTheirCentre) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  auto slide = SlideReader::open(path_);
  ASSERT_TRUE(slide);
  RegionAnalysisOptions opt = small_chunks();
  opt.margin = 24;  // more than a tiny cell
  const SlideRegion left{0, 0, 330, 600}, right{330, 0, 370, 600};
  auto a = analyze_slide_region(*pipeline, **slide, left, opt);
  auto b = analyze_slide_region(*pipeline, **slide, right, opt);
  ASSERT_TRUE(a && b);
  size_t crossing = 0;
  for (const auto& c : field_.white_cells()) crossing += (c.box.x1 < 330 && c.box.x2 > 330) ? 1 : 0;
  ASSERT_GE(crossing, 1u) << "the test means something only if a cell crosses x = 330";
  // Every white cell is found whole by the region holding its centre, and only there.
  std::vector<CellResult> both = a->cells;
  both.insert(both.end(), b->cells.begin(), b->cells.end());
  EXPECT_EQ(both.size(), field_.white_cells().size());
  const auto& truth = field_.white_cells();
  const auto best = testing::best_ious(truth, both.size(), [&](size_t i) { return both[i].box; });
  for (size_t e = 0; e < truth.size(); ++e) EXPECT_GE(best[e], 0.7f) << "white cell " << e;
  for (const auto& c : a->cells) EXPECT_LT((c.box.x1 + c.box.x2) / 2, 330.f);
  for (const auto& c : b->cells) EXPECT_GE((c.box.x1 + c.box.x2) / 2, 330.f);
  EXPECT_EQ(a->width, 330);
  opt.margin = -1;
  EXPECT_FALSE(analyze_slide_region(*pipeline, **slide, left, opt));
}

TEST_F(SlideAnalysisTest, CancellingStopsBetweenChunks) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  auto slide = SlideReader::open(path_);
  ASSERT_TRUE(slide);
  const RegionAnalysisOptions opt = small_chunks();
  size_t calls = 0;
  auto r = analyze_slide_region(*pipeline, **slide, {0, 0, 700, 600}, opt, [&](size_t, size_t) { return ++calls < 2; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_EQ(calls, 2u);
}

TEST_F(SlideAnalysisTest, BadChunkOptionsAreErrorsNamingThem) {
  auto pipeline = load();
  ASSERT_TRUE(pipeline);
  auto slide = SlideReader::open(path_);
  ASSERT_TRUE(slide);
  auto expect_error = [&](RegionAnalysisOptions o, const std::string& key) {
    auto r = analyze_slide_region(*pipeline, **slide, {0, 0, 700, 600}, o);
    ASSERT_FALSE(r) << key;
    EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  };
  RegionAnalysisOptions o;
  o.chunk_size = 100;
  expect_error(o, "chunk_size");
  o.chunk_size = 8192;  // 64 megapixels a read: over the reader's bound
  expect_error(o, "chunk_size");
  o = {};
  o.chunk_overlap = 2000;
  expect_error(o, "chunk_overlap");
  o = {};
  o.context_px = 200;  // the neighbour would not see the cell with its context either
  expect_error(o, "context_px");
  EXPECT_EQ((*slide)->largest_read_pixels(), 0);
}

TEST(SlideRegionParse, PixelsMicronsAndBadRegions) {
  auto px = parse_slide_region("10,20,300,400", 1000, 800);
  ASSERT_TRUE(px) << px.error().message;
  EXPECT_EQ(px->x, 10);
  EXPECT_EQ(px->h, 400);
  auto um = parse_slide_region("5,10,100,50", 1000, 800, 0.5);  // 0.5 um per pixel: x2
  ASSERT_TRUE(um) << um.error().message;
  EXPECT_EQ(um->x, 10);
  EXPECT_EQ(um->w, 200);
  for (const char* bad : {"", "1,2,3", "1,2,3,4,5", "a,b,c,d", "0,0,0,10", "-1,0,10,10", "900,0,200,10",
                          "0,0,10,nan", "0,0,1e30,10"}) {
    auto r = parse_slide_region(bad, 1000, 800);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("--region"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace ms
