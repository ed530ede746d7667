// Downloads built from cells: a ZIP of crops for an image or a sample (one folder per class), and
// training data from the reviewed (confirmed) cells of chosen samples, as a folder-per-class
// crop tree, COCO or labelme, so a lab can retrain the models on its own corrected data. COCO and
// labelme go through the annotation writers of src/data/formats (the same files `marrowscope
// convert` writes), written into a scratch folder and zipped.
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "data/formats/formats.h"
#include "pipeline/pipeline_options.h"
#include "server/api.h"
#include "server/cell_crops.h"
#include "server/zip_writer.h"
#include "store/cell_store.h"
#include "store/csv.h"
#include "store/image_store.h"
#include "store/patient_store.h"

namespace ms::server {
namespace fs = std::filesystem;
namespace {

// Cells in one export. Every crop of an export is decoded, encoded and zipped in the request:
// viewers (who only read) get galleries of a size a review needs; staff get training-sized ones.
constexpr std::int64_t kMaxExportCells = 100000;
constexpr std::int64_t kMaxViewerExportCells = 5000;
constexpr std::size_t kMaxExportSamples = 200;
constexpr std::int64_t kExportPage = 5000;
// What a training export calls a detected cell nobody decided on (engine/detector/class_mapping.h
// kIgnoreRegionClass: train-detector ignores the region).
constexpr const char* kUnreviewedClass = "unreviewed";

std::int64_t export_cell_cap(const Caller& c) {
  return c.user.role == store::Role::kViewer ? kMaxViewerExportCells : kMaxExportCells;
}

struct ExportCell {
  store::CellView view;
  store::Image image;
  std::string accession;
};

// Every cell matching q (paged through in blocks), with its image and sample accession; more
// than `max_cells` is kTooLarge naming the cap. A page never asks for more than one cell past
// the cap, and the count is checked before a page is kept, so at most max_cells + 1 cells are
// ever held.
Result<std::vector<ExportCell>> collect_cells(store::Tx& tx, store::CellQuery q, std::int64_t max_cells) {
  std::vector<ExportCell> out;
  std::map<std::int64_t, store::Image> images;
  std::map<std::int64_t, std::string> accessions;
  for (q.offset = 0;; q.offset += q.limit) {
    const auto held = static_cast<std::int64_t>(out.size());
    q.limit = std::min<std::int64_t>(kExportPage, max_cells - held + 1);
    MS_ASSIGN_OR_RETURN(auto views, store::list_cell_views(tx, q));
    if (held + static_cast<std::int64_t>(views.size()) > max_cells)
      return fail(ErrorCode::kTooLarge, "export", "at most " + std::to_string(max_cells) + " cells for your role",
                  "more");
    for (auto& v : views) {
      if (!images.count(v.cell.image_id)) {
        MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, v.cell.image_id));
        images.emplace(image.id, image);
      }
      if (!accessions.count(v.cell.sample_id)) {
        MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, v.cell.sample_id));
        accessions.emplace(sample.id, sample.accession);
      }
      out.push_back({v, images.at(v.cell.image_id), accessions.at(v.cell.sample_id)});
    }
    if (static_cast<std::int64_t>(views.size()) < q.limit) break;
  }
  return out;
}

Box box_of(const store::Cell& c) {
  return Box{static_cast<float>(c.x1), static_cast<float>(c.y1), static_cast<float>(c.x2), static_cast<float>(c.y2)};
}

std::string extension_of(const store::Image& m) {
  if (m.format == "JPEG") return ".jpg";
  if (m.format == "PNG") return ".png";
  if (m.format == "BMP") return ".bmp";
  if (m.format == "TIFF") return ".tif";
  return ".img";
}

// Accessions are free text; file names inside the archive keep only safe characters.
std::string safe_name(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.';
    out += ok ? ch : '_';
  }
  if (out.empty() || out.find("..") != std::string::npos) out = "sample";
  return out.substr(0, 80);
}

std::string field_name(const ExportCell& c) {
  return safe_name(c.accession) + "_image" + std::to_string(c.image.id) + extension_of(c.image);
}

std::string crop_name(const ExportCell& c) {
  return c.view.effective_class + "/" + safe_name(c.accession) + "_cell" + std::to_string(c.view.cell.id) + ".jpg";
}

// Shortest text that reads back as the same double.
std::string fmt_num(double v) { return fmt::format("{}", v); }

// cells.csv: one line per cell in the archive, so the crops can be traced back.
std::string manifest(const std::vector<ExportCell>& cells) {
  std::string csv = store::csv_line({"file", "cell_id", "sample", "image_id", "image_filename", "x1", "y1",
                                     "x2", "y2", "class", "suggested_class", "probability", "reviewed_class",
                                     "confirmed", "reviewer"});
  for (const auto& c : cells) {
    const store::Cell& x = c.view.cell;
    csv += store::csv_line({crop_name(c), std::to_string(x.id), c.accession, std::to_string(x.image_id),
                            c.image.filename, fmt_num(x.x1), fmt_num(x.y1), fmt_num(x.x2), fmt_num(x.y2),
                            c.view.effective_class, x.suggested_class, fmt_num(x.probability),
                            x.reviewed_class.value_or(""), x.confirmed ? "true" : "false",
                            c.view.reviewer_username});
  }
  return csv;
}

Result<std::string> crops_zip(CellCrops& crops, const std::vector<ExportCell>& cells,
                              const std::string& scratch) {
  ZipWriter zip(scratch);
  for (const auto& c : cells) {
    MS_ASSIGN_OR_RETURN(auto jpeg, crops.crop_jpeg(c.image, c.view.cell));
    MS_RETURN_IF_ERROR(zip.add(crop_name(c), std::move(jpeg)));
  }
  MS_RETURN_IF_ERROR(zip.add("cells.csv", manifest(cells)));
  return zip.finish();
}

Reply zip_reply(std::string bytes, const std::string& filename) {
  Reply r = Reply::bytes(std::move(bytes), "application/zip");
  r.headers.emplace("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  r.headers.emplace("Cache-Control", "no-store");  // patient images
  return r;
}

// Export scratch (archives being built, staged originals) stays in the data directory, with the
// images it is made from, instead of the shared system temporary directory.
std::string scratch_parent(const ServerContext& ctx) { return (fs::path(ctx.options.data_dir) / "tmp").string(); }

// Fields of the chosen cells as an annotation dataset: one Field per image (its original linked
// into `images_dir` under a readable name), one box per cell, classes sorted by name.
Result<FieldDataset> field_dataset(const FileStore& files, const std::vector<ExportCell>& cells,
                                   const fs::path& images_dir) {
  FieldDataset ds;
  std::set<std::string> classes;
  for (const auto& c : cells) classes.insert(c.view.effective_class);
  ds.classes.assign(classes.begin(), classes.end());
  std::map<std::int64_t, std::size_t> field_of;
  std::error_code ec;
  fs::create_directories(images_dir, ec);
  if (ec) return fail(ErrorCode::kIo, "export folder '" + images_dir.string() + "': " + ec.message());
  for (const auto& c : cells) {
    auto it = field_of.find(c.image.id);
    if (it == field_of.end()) {
      MS_ASSIGN_OR_RETURN(auto src, files.path_of(c.image.sha256));
      const fs::path dst = images_dir / field_name(c);
      fs::create_hard_link(src, dst, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
        if (ec) return fail(ErrorCode::kIo, "export: copying image " + std::to_string(c.image.id) + ": " + ec.message());
      }
      Field f;
      f.image_path = dst.string();
      f.width = static_cast<int>(c.image.width);
      f.height = static_cast<int>(c.image.height);
      it = field_of.emplace(c.image.id, ds.fields.size()).first;
      ds.fields.push_back(std::move(f));
    }
    BoxAnnotation b;
    b.box = box_of(c.view.cell);
    b.class_id = ds.class_index(c.view.effective_class);
    ds.fields[it->second].boxes.push_back(b);
  }
  return ds;
}

Result<std::vector<std::int64_t>> sample_ids(const net::Request& req) {
  const std::string text = query_text(req, "samples");
  std::vector<std::int64_t> ids;
  std::size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    const std::string tok = text.substr(pos, end - pos);
    if (tok.empty() || tok.size() > 18 || tok.find_first_not_of("0123456789") != std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "query parameter 'samples'", "comma-separated sample ids",
                  "\"" + text + "\"");
    ids.push_back(std::stoll(tok));
    pos = end + 1;
  }
  if (ids.empty())
    return fail(ErrorCode::kInvalidArgument, "query parameter 'samples'", "one or more sample ids", "none");
  if (ids.size() > kMaxExportSamples)
    return fail(ErrorCode::kInvalidArgument, "query parameter 'samples'",
                "at most " + std::to_string(kMaxExportSamples) + " ids", std::to_string(ids.size()));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace

void register_export_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();
  auto crops = std::make_shared<CellCrops>(*ctx.files, PipelineOptions{}.crop_margin, kExportCropCacheBytes);

  api.get(R"(/api/samples/(\d+)/crops.zip)", Access::kAnyUser,
          Doc("ZIP of the cell crops of a sample, one folder per effective class, with cells.csv")
              .describe("`<class>/<accession>_cell<id>.jpg` and `cells.csv` (file, ids, box, classes, "
                        "probability, confirmed, reviewer). At most 5,000 cells for viewers, 100,000 for "
                        "staff. Logged as export.crops")
              .query("class", string_schema(), "effective class")
              .query("reviewed", string_schema({"true", "false"}), "confirmed or not")
              .file(200, "application/zip", "the archive")
              .header("Content-Disposition", "attachment; filename=\"<accession>-crops.zip\"")
              .error(413, "more cells than the caller's cap"),
          [&ctx, &db, crops](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            store::CellQuery q;
            q.sample_id = id;
            q.cell_class = query_text(req, "class");
            const std::string reviewed = query_text(req, "reviewed");
            if (reviewed == "true") q.reviewed = true;
            else if (reviewed == "false") q.reviewed = false;
            else if (!reviewed.empty())
              return fail(ErrorCode::kInvalidArgument, "query parameter 'reviewed'", "true|false", "\"" + reviewed + "\"");
            std::string accession;
            MS_ASSIGN_OR_RETURN(auto cells, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<ExportCell>> {
              MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, id));
              accession = sample.accession;
              return collect_cells(tx, q, export_cell_cap(c));
            }));
            MS_ASSIGN_OR_RETURN(auto zip, crops_zip(*crops, cells, scratch_parent(ctx)));
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
              return log_operation(tx, c, "export.crops", accession, std::to_string(cells.size()) + " crop(s)");
            }));
            return zip_reply(std::move(zip), safe_name(accession) + "-crops.zip");
          });

  api.get(R"(/api/images/(\d+)/crops.zip)", Access::kAnyUser,
          Doc("ZIP of the cell crops of one field image, one folder per class, with cells.csv")
              .describe("The same layout and caps as the sample's archive")
              .file(200, "application/zip", "the archive")
              .header("Content-Disposition", "attachment; filename=\"image-<id>-crops.zip\"")
              .error(413, "more cells than the caller's cap"),
          [&ctx, &db, crops](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            store::CellQuery q;
            q.image_id = id;
            std::string accession;
            MS_ASSIGN_OR_RETURN(auto cells, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<ExportCell>> {
              MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, id));
              MS_ASSIGN_OR_RETURN(auto sample, store::get_sample(tx, image.sample_id));
              accession = sample.accession;
              return collect_cells(tx, q, export_cell_cap(c));
            }));
            MS_ASSIGN_OR_RETURN(auto zip, crops_zip(*crops, cells, scratch_parent(ctx)));
            // Patient images leave the server: logged like the sample's export.
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
              return log_operation(tx, c, "export.crops", accession,
                                   "image " + std::to_string(id) + ", " + std::to_string(cells.size()) + " crop(s)");
            }));
            return zip_reply(std::move(zip), "image-" + std::to_string(id) + "-crops.zip");
          });

  api.get(R"(/api/exports/training)", Access::kStaff,
          Doc("Training data from the confirmed cells and removed boxes of some samples, as a ZIP")
              .describe("Each confirmed cell under its effective class, boxes added by reviewers included "
                        "(positives), and every removed box (class `not_a_cell`, confirmed or not) as a "
                        "negative: `marrowscope train-detector` makes not_a_cell boxes background, never "
                        "positives. In coco and labelme, the other detected cells of the same fields that "
                        "nobody confirmed or removed come as class `unreviewed`: regions train-detector "
                        "ignores (neither cell nor background). At most 100,000 cells in all")
              .query("samples", {{"type", "string"}, {"pattern", "^[0-9]+(,[0-9]+)*$"}},
                     "sample ids, comma-separated (at most " + std::to_string(kMaxExportSamples) + ")", true)
              .query("format", string_schema({"folder", "coco", "labelme"}),
                     "folder (default: crops per class + cells.csv) | coco (images/ + annotations.json) | "
                     "labelme (image + JSON each, classes.txt)")
              .file(200, "application/zip", "the archive")
              .header("Content-Disposition", "attachment; filename=\"training-<format>.zip\"")
              .error(404, "a sample that does not exist")
              .error(409, "none of the samples has a confirmed cell")
              .error(413, "more than 100,000 cells"),
          [&ctx, &db, crops](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto ids, sample_ids(req));
            const std::string format = query_text(req, "format", "folder");
            if (format != "folder" && format != "coco" && format != "labelme")
              return fail(ErrorCode::kInvalidArgument, "query parameter 'format'", "folder|coco|labelme",
                          "\"" + format + "\"");
            // One cap for the whole export, not one per sample.
            MS_ASSIGN_OR_RETURN(auto cells, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<ExportCell>> {
              std::vector<ExportCell> all;
              for (auto id : ids) {
                MS_RETURN_IF_ERROR(store::get_sample(tx, id));
                store::CellQuery q;
                q.sample_id = id;
                q.reviewed = true;
                MS_ASSIGN_OR_RETURN(auto part, collect_cells(tx, q, kMaxExportCells - static_cast<std::int64_t>(all.size())));
                all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
                // Removed boxes are negatives for the detector whoever removed them: a removal is
                // itself a reviewer's decision (the confirmed ones came with the query above).
                q.reviewed = false;
                q.cell_class = store::kNotACell;
                MS_ASSIGN_OR_RETURN(auto removed, collect_cells(tx, q, kMaxExportCells - static_cast<std::int64_t>(all.size())));
                all.insert(all.end(), std::make_move_iterator(removed.begin()), std::make_move_iterator(removed.end()));
              }
              if (format == "folder") return all;
              // A field of an annotation export also names the cells on it that nobody decided
              // (neither confirmed nor removed), as class "unreviewed": a detector treats them as
              // regions to ignore, not as background it must learn (class_mapping.h rule 1c).
              std::set<std::int64_t> fields;
              for (const auto& x : all) fields.insert(x.image.id);
              for (auto id : ids) {
                store::CellQuery q;
                q.sample_id = id;
                q.reviewed = false;
                MS_ASSIGN_OR_RETURN(auto open, collect_cells(tx, q, kMaxExportCells - static_cast<std::int64_t>(all.size())));
                for (auto& x : open) {
                  if (!fields.count(x.image.id) || x.view.effective_class == store::kNotACell) continue;
                  x.view.effective_class = kUnreviewedClass;
                  all.push_back(std::move(x));
                }
              }
              return all;
            }));
            if (cells.empty())
              return fail(ErrorCode::kConflict, "training export: the chosen samples have no confirmed cells yet");
            std::string zip;
            if (format == "folder") {
              MS_ASSIGN_OR_RETURN(zip, crops_zip(*crops, cells, scratch_parent(ctx)));
            } else {
              ScratchDir scratch(scratch_parent(ctx));
              const fs::path root = scratch.path();
              ZipWriter writer(scratch_parent(ctx));
              if (format == "coco") {
                MS_ASSIGN_OR_RETURN(auto ds, field_dataset(*ctx.files, cells, root / "coco" / "images"));
                MS_RETURN_IF_ERROR(write_coco(ds, (root / "coco" / "annotations.json").string(), (root / "coco").string()));
                MS_RETURN_IF_ERROR(writer.add_tree((root / "coco").string()));
              } else {
                MS_ASSIGN_OR_RETURN(auto ds, field_dataset(*ctx.files, cells, root / "staged"));
                MS_RETURN_IF_ERROR(write_labelme(ds, (root / "labelme").string()));
                MS_RETURN_IF_ERROR(writer.add_tree((root / "labelme").string()));
              }
              MS_ASSIGN_OR_RETURN(zip, writer.finish());
            }
            std::string list;
            for (auto id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
              return log_operation(tx, c, "export.training", "samples " + list,
                                   format + ", " + std::to_string(cells.size()) + " cell(s)");
            }));
            return zip_reply(std::move(zip), "training-" + format + ".zip");
          });
}

}  // namespace ms::server
