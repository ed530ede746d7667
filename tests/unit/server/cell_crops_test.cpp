// The crop cache: bounded by decoded bytes, never by a count of fields.
#include <gtest/gtest.h>

#include <optional>
#include <thread>
#include <vector>

#include "core/image.h"
#include "server/cell_crops.h"
#include "server/test_database.h"

namespace ms::server {
namespace {

std::string field_png(int side, int seed) {
  cv::Mat m(side, side, CV_8UC3, cv::Scalar(seed % 256, (seed * 7) % 256, 90));
  auto png = encode_image(m, ".png");
  return std::string(png->begin(), png->end());
}

class CellCropsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = FileStore::open(dir_.str() + "/data");
    ASSERT_TRUE(f) << f.error().message;
    files_.emplace(std::move(*f));
  }
  std::string put(const std::string& bytes) {
    auto s = files_->put(bytes);
    EXPECT_TRUE(s) << s.error().message;
    return s ? s->sha256 : "";
  }
  ms::testing::TempDir dir_;
  std::optional<FileStore> files_;
};

TEST_F(CellCropsTest, CacheIsBoundedByDecodedBytes) {
  // 100 x 100 BGR fields are 30,000 bytes decoded: a 70,000-byte cache keeps two of them.
  CellCrops crops(*files_, 0.1f, 70000);
  const std::string a = put(field_png(100, 1)), b = put(field_png(100, 2)), c = put(field_png(100, 3));
  ASSERT_TRUE(crops.field(a));
  ASSERT_TRUE(crops.field(b));
  EXPECT_EQ(crops.cached_fields(), 2u);
  EXPECT_EQ(crops.cached_bytes(), 60000u);
  ASSERT_TRUE(crops.field(a));  // a is now the most recent
  ASSERT_TRUE(crops.field(c));  // evicts b, the least recent
  EXPECT_EQ(crops.cached_fields(), 2u);
  EXPECT_LE(crops.cached_bytes(), 70000u);
  // A field larger than the whole budget is served but not kept (it would evict everything).
  const std::string huge = put(field_png(200, 4));  // 120,000 bytes decoded
  auto h = crops.field(huge);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ((*h)->cols, 200);
  EXPECT_EQ(crops.cached_fields(), 2u);
  EXPECT_LE(crops.cached_bytes(), 70000u);
}

TEST_F(CellCropsTest, ParallelRequestsForOneFieldShareItsDecode) {
  CellCrops crops(*files_, 0.1f, 10u << 20);
  const std::string a = put(field_png(300, 5));
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<const cv::Mat>> got(8);
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      auto f = crops.field(a);
      if (f) got[k] = *f;
    });
  for (auto& t : threads) t.join();
  for (const auto& g : got) {
    ASSERT_TRUE(g);
    EXPECT_EQ(g->cols, 300);
  }
  EXPECT_EQ(crops.cached_fields(), 1u);
  auto missing = crops.field(std::string(64, 'a'));
  EXPECT_FALSE(missing);
}

}  // namespace
}  // namespace ms::server
