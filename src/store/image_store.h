#pragma once
// Uploaded field images of a sample: metadata and content hashes (the bytes live in the server's
// content-addressed file store). One image per content hash per sample.
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

struct NewImage {
  std::int64_t sample_id = 0;
  std::string sha256, filename, format;
  std::int64_t width = 0, height = 0, bytes = 0;
  std::optional<std::string> thumbnail_sha256;
  std::optional<std::int64_t> uploaded_by;
  ImageKind kind = ImageKind::kField;
  std::optional<double> mpp;  // slides: microns per level-0 pixel, where the file says
};

Result<std::optional<Image>> find_image_by_hash(Tx& tx, std::int64_t sample_id,
                                                const std::string& sha256);
// nullopt when the sample already holds these bytes, even when another transaction inserted
// them a moment ago (INSERT ... ON CONFLICT DO NOTHING: concurrent uploads of one file cannot
// fail on the UNIQUE (sample_id, sha256) constraint).
Result<std::optional<Image>> insert_image(Tx& tx, const NewImage& m);
Result<Image> get_image(Tx& tx, std::int64_t id);
Result<std::vector<Image>> list_images(Tx& tx, std::int64_t sample_id);
// The file hash of the image's browser rendition (PNG of a TIFF field), when one was made.
Result<std::optional<std::string>> image_display(Tx& tx, std::int64_t image_id);
Status set_image_display(Tx& tx, std::int64_t image_id, const std::string& sha256);

}  // namespace ms::store
