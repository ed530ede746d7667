// Deep-zoom (DZI) views of stored images over real HTTP, on SQLite and PostgreSQL: a field's
// descriptor and tiles show its pixels at every level, a tiled pyramidal TIFF is served through
// OpenSlide, the ETag answers 304, and hostile tile names (levels, columns and rows the pyramid
// lacks, numbers past int64, other formats, images that do not exist, no session) are refused.
#include <cstdio>

#include <opencv2/imgproc.hpp>

#include "server/lab_server_fixture.h"
#include "slide_fixture.h"

namespace ms::testing {
namespace {

using DeepZoomApiTest = LabServerTest;

cv::Mat decoded(const httplib::Result& r) {
  if (!r || r->status != 200) return {};
  auto m = decode_image(reinterpret_cast<const std::uint8_t*>(r->body.data()), r->body.size(), "tile");
  return m ? *m : cv::Mat();
}

// Mean absolute difference per channel value (JPEG tiles are lossy, the fields are not).
double mean_difference(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar s = cv::mean(d);
  return (s[0] + s[1] + s[2]) / 3.0;
}

// A 600 x 400 field of coloured bands, so a tile in the wrong place shows.
cv::Mat bands() {
  cv::Mat img(400, 600, CV_8UC3, cv::Scalar(250, 250, 250));
  for (int k = 0; k < 6; ++k)
    cv::rectangle(img, cv::Rect(k * 100, 0, 100, 400), cv::Scalar(40 * k, 255 - 40 * k, (97 * k) % 256), cv::FILLED);
  cv::circle(img, cv::Point(300, 200), 60, cv::Scalar(10, 10, 10), cv::FILLED);
  return img;
}

std::int64_t first_image(const Json& upload_answer) {
  return upload_answer["items"][0]["image"].value("id", std::int64_t(0));
}

TEST_P(DeepZoomApiTest, FieldTilesShowTheFieldAtEveryLevel) {
  auto a = admin();
  const auto sample = make_sample(a, "DZI-1");
  const cv::Mat field = bands();
  auto png = encode_image(field, ".png");
  auto up = upload(a, sample, {{"bands.png", std::string(png->begin(), png->end())}});
  ASSERT_EQ(up ? up->status : 0, 201);
  const std::string base = "/api/images/" + std::to_string(first_image(body_json(up)));

  auto dzi = get(a, base + "/dzi");
  ASSERT_EQ(dzi ? dzi->status : 0, 200);
  EXPECT_NE(dzi->body.find("Width=\"600\" Height=\"400\""), std::string::npos) << dzi->body;
  EXPECT_NE(dzi->body.find("TileSize=\"254\""), std::string::npos);
  EXPECT_NE(dzi->body.find("Overlap=\"1\""), std::string::npos);
  EXPECT_EQ(dzi->get_header_value("Content-Type").rfind("application/xml", 0), 0u);
  const std::string etag = dzi->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(dzi->get_header_value("Cache-Control"), "private, max-age=3600");

  // Level 10 (600 -> 2^10) is the field's own pixels: tile (1, 0) is x 253..508, y 0..255.
  const cv::Mat t10 = decoded(get(a, base + "/dzi_files/10/1_0.jpeg"));
  ASSERT_EQ(t10.cols, 256);
  ASSERT_EQ(t10.rows, 255);
  EXPECT_LT(mean_difference(t10, field(cv::Rect(253, 0, 256, 255))), 6.0);
  // The last column is narrower: x 507..599.
  const cv::Mat edge = decoded(get(a, base + "/dzi_files/10/2_1.jpeg"));
  ASSERT_EQ(edge.cols, 93);
  ASSERT_EQ(edge.rows, 400 - 253);
  EXPECT_LT(mean_difference(edge, field(cv::Rect(507, 253, 93, 147))), 6.0);
  // Level 9 is half size, one tile of 300 x 200... cut at 254 + overlap.
  const cv::Mat t9 = decoded(get(a, base + "/dzi_files/9/0_0.jpeg"));
  ASSERT_EQ(t9.cols, 255);
  ASSERT_EQ(t9.rows, 200);
  cv::Mat half;
  cv::resize(field, half, cv::Size(300, 200), 0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_difference(t9, half(cv::Rect(0, 0, 255, 200))), 6.0);
  // Level 0 is one pixel: the field's mean colour.
  const cv::Mat t0 = decoded(get(a, base + "/dzi_files/0/0_0.jpeg"));
  ASSERT_EQ(t0.total(), 1u);

  // The same tile again: the same bytes and ETag; with the ETag back, 304 and no body.
  auto again = get(a, base + "/dzi_files/10/1_0.jpeg");
  const std::string tile_etag = again->get_header_value("ETag");
  ASSERT_FALSE(tile_etag.empty());
  EXPECT_NE(tile_etag, etag);
  EXPECT_NE(tile_etag, get(a, base + "/dzi_files/10/0_0.jpeg")->get_header_value("ETag"));
  httplib::Headers h = a.headers(false);
  h.emplace("If-None-Match", "\"other\", " + tile_etag);
  auto same = client_->Get((base + "/dzi_files/10/1_0.jpeg").c_str(), h);
  ASSERT_EQ(same ? same->status : 0, 304);
  EXPECT_TRUE(same->body.empty());
  httplib::Headers hd = a.headers(false);
  hd.emplace("If-None-Match", etag);
  EXPECT_EQ(client_->Get((base + "/dzi").c_str(), hd)->status, 304);
  // Another tile's ETag does not make this one unchanged.
  httplib::Headers other = a.headers(false);
  other.emplace("If-None-Match", tile_etag);
  EXPECT_EQ(client_->Get((base + "/dzi_files/10/0_0.jpeg").c_str(), other)->status, 200);
  // An ETag sent for a tile the pyramid lacks is still 404.
  httplib::Headers lacking = a.headers(false);
  lacking.emplace("If-None-Match", "*");
  EXPECT_EQ(client_->Get((base + "/dzi_files/10/9_0.jpeg").c_str(), lacking)->status, 404);
}

TEST_P(DeepZoomApiTest, HostileTileNamesAreRefused) {
  auto a = admin();
  const auto sample = make_sample(a, "DZI-2");
  auto up = upload(a, sample, {{"f.png", disc_png(3)}});  // 64 x 48: levels 0..6
  ASSERT_EQ(up ? up->status : 0, 201);
  const std::string base = "/api/images/" + std::to_string(first_image(body_json(up)));
  EXPECT_EQ(get(a, base + "/dzi_files/6/0_0.jpeg")->status, 200);
  for (const std::string bad :
       {"/dzi_files/7/0_0.jpeg", "/dzi_files/6/1_0.jpeg", "/dzi_files/6/0_1.jpeg", "/dzi_files/64/0_0.jpeg",
        "/dzi_files/99999999999999999999/0_0.jpeg", "/dzi_files/6/99999999999999999999_0.jpeg",
        "/dzi_files/6/0_9223372036854775807.jpeg", "/dzi_files/6/-1_0.jpeg", "/dzi_files/6/0_0.png",
        "/dzi_files/6/0_0", "/dzi_files/6/0-0.jpeg", "/dzi_files/6/0_0.jpeg/..", "/dzi_files/x/0_0.jpeg"}) {
    auto r = get(a, base + bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 404) << bad << ": " << r->body;
  }
  EXPECT_EQ(get(a, "/api/images/987654/dzi")->status, 404);
  EXPECT_EQ(get(a, "/api/images/987654/dzi_files/0/0_0.jpeg")->status, 404);
  EXPECT_EQ(client_->Get((base + "/dzi").c_str())->status, 401);
  EXPECT_EQ(client_->Get((base + "/dzi_files/6/0_0.jpeg").c_str())->status, 401);
  EXPECT_EQ(client_->Post((base + "/dzi").c_str(), a.headers(), "", "application/json")->status, 405);
}

TEST_P(DeepZoomApiTest, APyramidalTiffIsServedThroughOpenSlide) {
  const cv::Mat field = bands();
  const std::string path = (dir_.path / "pyramid.tif").string();
  const std::string made = write_pyramidal_tiff(field, path);
  ASSERT_EQ(made, "");
  auto bytes = read_file_bytes(path);
  ASSERT_TRUE(bytes);
  auto a = admin();
  const auto sample = make_sample(a, "DZI-3");
  auto up = upload(a, sample, {{"pyramid.tif", std::string(bytes->begin(), bytes->end())}});
  ASSERT_EQ(up ? up->status : 0, 201) << (up ? up->body : "");
  const std::string base = "/api/images/" + std::to_string(first_image(body_json(up)));
  auto dzi = get(a, base + "/dzi");
  ASSERT_EQ(dzi ? dzi->status : 0, 200);
  EXPECT_NE(dzi->body.find("Width=\"600\" Height=\"400\""), std::string::npos) << dzi->body;
  const cv::Mat t10 = decoded(get(a, base + "/dzi_files/10/1_1.jpeg"));
  ASSERT_EQ(t10.cols, 256);
  ASSERT_EQ(t10.rows, 400 - 253);
  EXPECT_LT(mean_difference(t10, field(cv::Rect(253, 253, 256, 147))), 6.0);
  const cv::Mat t8 = decoded(get(a, base + "/dzi_files/8/0_0.jpeg"));  // quarter size, from the pyramid
  ASSERT_EQ(t8.cols, 150);
  ASSERT_EQ(t8.rows, 100);
  cv::Mat quarter;
  cv::resize(field, quarter, cv::Size(150, 100), 0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_difference(t8, quarter), 10.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, DeepZoomApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
