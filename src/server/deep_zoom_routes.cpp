// Deep Zoom (DZI) views of any stored image, as OpenSeadragon opens them: the descriptor at
// /api/images/{id}/dzi and its tiles at /api/images/{id}/dzi_files/{level}/{column}_{row}.jpeg
// (OpenSeadragon derives the tile folder from the descriptor's URL by that rule). Slides are read
// through OpenSlide, ordinary fields are decoded once; both through one bounded cache.
#include <fmt/format.h>

#include "server/api.h"
#include "server/deep_zoom_cache.h"
#include "store/image_store.h"

namespace ms::server {
namespace {

// A stored file never changes under its hash and an image row never changes its file, so a
// descriptor or tile is named by the hash: the browser keeps it (privately: patient images) and
// revalidates with If-None-Match after max-age, answered 304 without rendering anything.
constexpr const char* kCacheControl = "private, max-age=3600";

// Levels of any image fit in 63 (a side of 2^63 pixels); a larger number names no level.
constexpr std::int64_t kMaxLevel = 63;

Reply with_validators(Reply r, const std::string& etag) {
  r.headers.emplace("ETag", etag);
  r.headers.emplace("Cache-Control", kCacheControl);
  r.headers.emplace("Vary", "Cookie");
  return r;
}

Reply unchanged(const std::string& etag) {
  Reply r;
  r.status = 304;
  return with_validators(std::move(r), etag);
}

}  // namespace

void register_deep_zoom_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();
  auto cache = std::make_shared<DeepZoomCache>();

  api.get(R"(/api/images/(\d+)/dzi)", Access::kAnyUser,
          Doc("The image's Deep Zoom (DZI) descriptor")
              .describe("Size, tile size (254) and overlap (1) of the image's deep-zoom pyramid, for "
                        "OpenSeadragon. Tiles are at `/api/images/{id}/dzi_files/{level}/{column}_{row}.jpeg`. "
                        "Slides are read through OpenSlide, fields decoded once; both cached")
              .file(200, "application/xml", "the DZI descriptor")
              .header("ETag", "names the stored file; send it back as If-None-Match")
              .header("Cache-Control", "private, max-age=3600")
              .no_body(304, "unchanged since the If-None-Match the request sent"),
          [&ctx, &db, cache](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            const std::string etag = fmt::format("\"dzi-{}\"", m.sha256.substr(0, 32));
            if (if_none_match(req, etag)) return unchanged(etag);
            MS_ASSIGN_OR_RETURN(auto src, cache->source(*ctx.files, m.sha256, m.format, m.kind == store::ImageKind::kSlide, m.filename));
            return with_validators(Reply::bytes(src->layout().descriptor_xml("jpeg"), "application/xml"), etag);
          });

  api.get(R"(/api/images/(\d+)/dzi_files/(\d+)/(\d+)_(\d+)\.jpeg)", Access::kAnyUser,
          Doc("One Deep Zoom tile of the image")
              .describe("`{id2}` is the level (0: one pixel; the highest: the image's own pixels), `{id3}` "
                        "the column and `{id4}` the row; a tile the pyramid lacks answers 404. Tiles are "
                        "254 px squares plus a 1 px overlap on inner sides, JPEG")
              .file(200, "image/jpeg", "the tile")
              .header("ETag", "names the stored file and the tile; send it back as If-None-Match")
              .header("Cache-Control", "private, max-age=3600")
              .no_body(304, "unchanged since the If-None-Match the request sent")
              .error(413, "a far-out level of a slide without a pyramid (more pixels than one read may take)"),
          [&ctx, &db, cache](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto level, path_id(req, 2));
            MS_ASSIGN_OR_RETURN(auto column, path_id(req, 3));
            MS_ASSIGN_OR_RETURN(auto row, path_id(req, 4));
            if (level > kMaxLevel)
              return fail(ErrorCode::kNotFound, "deep zoom level", fmt::format("0 to {}", kMaxLevel),
                          std::to_string(level));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            const std::string etag =
                fmt::format("\"dzt-{}-{}-{}-{}\"", m.sha256.substr(0, 32), level, column, row);
            if (if_none_match(req, etag)) {
              // Only a tile the pyramid has is "unchanged": the layout decides, without rendering.
              MS_ASSIGN_OR_RETURN(auto src, cache->source(*ctx.files, m.sha256, m.format, m.kind == store::ImageKind::kSlide, m.filename));
              MS_RETURN_IF_ERROR(deep_zoom_tile(src->layout(), int(level), column, row));
              return unchanged(etag);
            }
            MS_ASSIGN_OR_RETURN(auto jpeg, cache->jpeg_tile(*ctx.files, m.sha256, m.format, int(level), column, row,
                                                          m.kind == store::ImageKind::kSlide, m.filename));
            return with_validators(Reply::bytes(*jpeg, "image/jpeg"), etag);
          });
}

}  // namespace ms::server
