#include "store/image_store.h"

namespace ms::store {
namespace {
constexpr const char* kImageSelect =
    "SELECT id, sample_id, sha256, filename, format, width, height, bytes, thumbnail_sha256, "
    "uploaded_by, created_at, kind, mpp FROM images";
}

Result<std::optional<Image>> find_image_by_hash(Tx& tx, std::int64_t sample_id,
                                                const std::string& sha256) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string(kImageSelect) +
                                                 " WHERE sample_id = ? AND sha256 = ?",
                                             {sample_id, sha256}));
  if (!row) return std::optional<Image>{};
  return std::optional<Image>(from_row<Image>(*row));
}

Result<std::optional<Image>> insert_image(Tx& tx, const NewImage& m) {
  MS_ASSIGN_OR_RETURN(
      auto rows, tx.query("INSERT INTO images (sample_id, sha256, filename, format, width, height, "
                         "bytes, thumbnail_sha256, uploaded_by, created_at, kind, mpp) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT (sample_id, sha256) DO NOTHING RETURNING id",
                         {m.sample_id, m.sha256, m.filename.substr(0, 255), m.format, m.width,
                          m.height, m.bytes, Value(m.thumbnail_sha256), Value(m.uploaded_by),
                          now_ms(), std::string(m.kind == ImageKind::kSlide ? "slide" : "field"),
                          m.mpp && *m.mpp > 0 ? Value(*m.mpp) : Value()}));
  if (rows.empty()) return std::optional<Image>{};
  MS_ASSIGN_OR_RETURN(auto image, get_image(tx, rows.front().values().front().as_int()));
  return std::optional<Image>(std::move(image));
}

Result<Image> get_image(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string(kImageSelect) + " WHERE id = ?", {id}));
  if (!row) return fail(ErrorCode::kNotFound, "image " + std::to_string(id) + " does not exist");
  return from_row<Image>(*row);
}

Result<std::vector<Image>> list_images(Tx& tx, std::int64_t sample_id) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(std::string(kImageSelect) +
                                              " WHERE sample_id = ? ORDER BY id",
                                          {sample_id}));
  std::vector<Image> out;
  for (const auto& r : rows) out.push_back(from_row<Image>(r));
  return out;
}

Result<std::optional<std::string>> image_display(Tx& tx, std::int64_t image_id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT display_sha256 FROM images WHERE id = ?", {image_id}));
  if (!row) return fail(ErrorCode::kNotFound, "image " + std::to_string(image_id) + " does not exist");
  return row->opt_s("display_sha256");
}

Status set_image_display(Tx& tx, std::int64_t image_id, const std::string& sha256) {
  MS_RETURN_IF_ERROR(tx.exec("UPDATE images SET display_sha256 = ? WHERE id = ?", {sha256, image_id}));
  return {};
}

}  // namespace ms::store
