// Field uploads (validated by content, de-duplicated per sample, each queuing an analysis job),
// image files and thumbnails, jobs (list, progress, retry, cancel). Their cells: cell_routes.cpp.
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/image.h"
#include "core/json_schema.h"
#include "server/api.h"
#include "server/decode_slots.h"
#include "server/field_upload.h"
#include "server/job_workers.h"
#include "store/image_store.h"
#include "store/job_queue.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

// Files one upload request may carry. Each is decoded and thumbnailed in the request thread and
// queues an analysis, so the count bounds one request's CPU, memory and queued work (a field is a
// few MB; a sample has tens of fields, sent in several requests when there are more).
constexpr std::size_t kMaxFilesPerUpload = 64;

// Removes the files an upload stored anew that no row names (the upload failed, or stored a
// file that turned out not to be needed); logs rather than fails: a leftover is swept later.
void forget_unneeded(store::Database& db, const FileStore& files, const std::vector<std::string>& hashes) {
  if (hashes.empty()) return;
  auto removed = remove_unreferenced(db, files, hashes);
  if (!removed) spdlog::warn("upload clean-up: {} (the next file sweep retries)", removed.error().message);
}

std::string mime_type(const std::string& format) {
  if (format == "JPEG") return "image/jpeg";
  if (format == "PNG") return "image/png";
  if (format == "BMP") return "image/bmp";
  if (format == "TIFF") return "image/tiff";
  return "application/octet-stream";
}

// A slide (gigabytes) is never read whole into a reply: it is viewed through its deep-zoom tiles.
Status not_a_slide(const store::Image& m) {
  if (m.kind == store::ImageKind::kSlide)
    return fail(ErrorCode::kConflict, "image " + std::to_string(m.id) + " is a whole slide; view it through its "
                                      "deep-zoom tiles (/api/images/" + std::to_string(m.id) + "/dzi)");
  return {};
}

// Formats every browser displays in an <img>.
bool browser_shows(const std::string& format) { return format == "JPEG" || format == "PNG" || format == "BMP"; }

// At most this many renditions are decoded at once: decoding is where a stored field becomes many
// megabytes of pixels.
DecodeSlots& rendition_slots() {
  static DecodeSlots slots(2);
  return slots;
}

// The stored field decoded (within the upload limits it passed) and encoded as PNG.
Result<std::string> png_rendition(const FileStore& files, const store::Image& m) {
  MS_ASSIGN_OR_RETURN(auto raw, files.read(m.sha256));
  DecodeSlots::Hold hold(rendition_slots());
  MS_ASSIGN_OR_RETURN(auto bgr, decode_image(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size(),
                                             "image " + std::to_string(m.id)));
  raw.clear();
  raw.shrink_to_fit();
  MS_ASSIGN_OR_RETURN(auto png, encode_image(bgr, ".png"));
  return std::string(png.begin(), png.end());
}

}  // namespace

void register_image_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.post(R"(/api/samples/(\d+)/images)", Access::kStaff,
           Doc("Upload field images; each new one queues an analysis job")
               .describe("All files are checked by content first: one bad file refuses the request "
                         "and `details.files` lists each file's problem (400 empty, 413 over the per-file "
                         "limit, 415 not an image, 422 does not decode). A file already in the sample is "
                         "not stored again (`duplicate: true`, no job)")
               .body("multipart/form-data",
                     object_of({{"files", array_of({{"type", "string"}, {"format", "binary"}})}}),
                     "field images (JPEG, PNG, BMP, TIFF), at most 64 files per request, under any field name")
               .answers(201,
                        object_of({{"items", array_of(object_of({{"image", ref("Image")},
                                                                 {"duplicate", {{"type", "boolean"}}},
                                                                 {"job", nullable(ref("Job"))}}))},
                                   {"queued", integer_schema(0)}}),
                        "stored; one item per file, in request order")
               .error(409, "the sample is signed; more than 5,000 of the uploader's analyses would be queued")
               .error(422, "a file that claims an image format but does not decode"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto sample_id, path_id(req));
             MS_RETURN_IF_ERROR(require_multipart(req, "upload"));
             // Refuse a signed sample before decoding anything; the check that holds is the one
             // repeated inside the write transaction below (a sign-off may commit meanwhile).
             MS_ASSIGN_OR_RETURN(auto sample, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
               return store::get_sample(tx, sample_id);
             }));
             MS_RETURN_IF_ERROR(store::require_unsigned(sample));
             MS_ASSIGN_OR_RETURN(auto parts, file_parts(req, "upload"));
             if (parts.size() > kMaxFilesPerUpload)
               return fail(ErrorCode::kTooLarge,
                           fmt::format("upload: {} files in one request; at most {} files per "
                                       "upload request (send the others in further requests)",
                                       parts.size(), kMaxFilesPerUpload));
             ImageLimits limits;
             limits.max_bytes = ctx.options.max_image_bytes;
             struct Ready {
               CheckedField field;
               FileStore::Stored original, thumb;
               std::int64_t bytes = 0;
             };
             std::vector<Ready> ready;
             auto check = [&limits](const net::MultipartFormData& part) -> Result<Ready> {
               MS_ASSIGN_OR_RETURN(auto field, check_field_image(part.filename, part.content, limits));
               return Ready{std::move(field), {}, {}, static_cast<std::int64_t>(part.content.size())};
             };
             if (auto refused = check_file_parts(parts, "stored", check, ready)) return *refused;
             // Files before rows (a row never names a missing file); the files this request
             // stored anew are removed again unless a row names them when it is over.
             std::vector<std::string> created;
             std::vector<std::pair<std::string, std::string_view>> held;
             auto store_files = [&]() -> Status {
               for (std::size_t k = 0; k < ready.size(); ++k) {
                 MS_ASSIGN_OR_RETURN(ready[k].original, ctx.files->put(parts[k]->content));
                 if (!ready[k].original.existed) created.push_back(ready[k].original.sha256);
                 MS_ASSIGN_OR_RETURN(ready[k].thumb, ctx.files->put(ready[k].field.thumbnail_jpeg));
                 if (!ready[k].thumb.existed) created.push_back(ready[k].thumb.sha256);
                 held.emplace_back(ready[k].original.sha256, parts[k]->content);
                 held.emplace_back(ready[k].thumb.sha256, ready[k].field.thumbnail_jpeg);
               }
               return {};
             };
             if (auto stored = store_files(); !stored) {
               forget_unneeded(db, *ctx.files, created);
               return tl::unexpected(stored.error());
             }
             Json results = Json::array();
             std::int64_t queued = 0;
             std::unordered_set<std::string> named;  // files the inserted rows name
             auto written = db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               results = Json::array();
               queued = 0;
               named.clear();
               // The sample as of this transaction, locked against a concurrent sign-off.
               MS_ASSIGN_OR_RETURN(auto locked, store::lock_sample(tx, sample_id));
               MS_RETURN_IF_ERROR(store::require_unsigned(locked));
               MS_RETURN_IF_ERROR(hold_stored_files(tx, *ctx.files, held));
               for (const auto& r : ready) {
                 MS_ASSIGN_OR_RETURN(auto existing, store::find_image_by_hash(tx, sample_id, r.original.sha256));
                 if (existing) {
                   results.push_back({{"image", config_to_json(*existing)}, {"duplicate", true}, {"job", nullptr}});
                   continue;
                 }
                 store::NewImage m;
                 m.sample_id = sample_id;
                 m.sha256 = r.original.sha256;
                 m.filename = r.field.filename;
                 m.format = std::string(image_format_name(r.field.format));
                 m.width = r.field.width;
                 m.height = r.field.height;
                 m.bytes = r.bytes;
                 m.thumbnail_sha256 = r.thumb.sha256;
                 m.uploaded_by = c.user_id();
                 MS_ASSIGN_OR_RETURN(auto inserted, store::insert_image(tx, m));
                 if (!inserted) {  // a concurrent upload stored the same bytes first
                   MS_ASSIGN_OR_RETURN(auto other, store::find_image_by_hash(tx, sample_id, m.sha256));
                   if (!other) return fail(ErrorCode::kConflict, "image " + m.filename + " changed during upload; retry");
                   results.push_back({{"image", config_to_json(*other)}, {"duplicate", true}, {"job", nullptr}});
                   continue;
                 }
                 const store::Image& image = *inserted;
                 named.insert(image.sha256);
                 if (image.thumbnail_sha256) named.insert(*image.thumbnail_sha256);
                 MS_ASSIGN_OR_RETURN(auto job, store::enqueue_analysis(tx, image.id, sample_id, c.user_id()));
                 ++queued;
                 results.push_back({{"image", config_to_json(image)}, {"duplicate", false},
                                    {"job", config_to_json(job)}});
                 MS_RETURN_IF_ERROR(log_operation(tx, c, "image.upload", locked.accession,
                                                  image.filename + " (" + image.sha256.substr(0, 12) + ")"));
               }
               if (queued > 0) MS_RETURN_IF_ERROR(store::check_queue_quota(tx, c.user_id()));
               return {};
             });
             if (!written) {
               forget_unneeded(db, *ctx.files, created);
               return tl::unexpected(written.error());
             }
             std::vector<std::string> unneeded;  // e.g. a new thumbnail of a duplicate
             for (const auto& h : created)
               if (!named.count(h)) unneeded.push_back(h);
             forget_unneeded(db, *ctx.files, unneeded);
             if (queued > 0 && ctx.workers) ctx.workers->wake();
             return Reply::json({{"items", results}, {"queued", queued}}, 201);
           });

  api.get(R"(/api/samples/(\d+)/images)", Access::kAnyUser, Doc("Images of a sample")
              .answers(200, object_of({{"items", array_of(ref("Image"))}, {"total", integer_schema(0)}}), "the images"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto images, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<store::Image>> {
              MS_RETURN_IF_ERROR(store::get_sample(tx, id));
              return store::list_images(tx, id);
            }));
            Json items = Json::array();
            for (const auto& m : images) items.push_back(config_to_json(m));
            return Reply::json({{"items", items}, {"total", items.size()}});
          });

  api.get(R"(/api/images/(\d+))", Access::kAnyUser, Doc("One image's metadata").answers(200, ref("Image"), "the image"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            return Reply::json(config_to_json(m));
          });

  api.get(R"(/api/images/(\d+)/file)", Access::kAnyUser, Doc("The original image bytes")
              .file(200, "image/*", "as uploaded (image/jpeg, image/png, image/bmp or image/tiff)")
              .header("Cache-Control", "private, no-store")
              .error(409, "the image is a whole slide (viewed through its deep-zoom tiles, never sent whole)"),
          [&ctx, &db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            MS_RETURN_IF_ERROR(not_a_slide(m));
            MS_ASSIGN_OR_RETURN(auto bytes, ctx.files->read(m.sha256));
            Reply r = Reply::bytes(std::move(bytes), mime_type(m.format));
            r.headers.emplace("Cache-Control", "private, no-store");  // patient images
            r.headers.emplace("Vary", "Cookie");
            return r;
          });

  api.get(R"(/api/images/(\d+)/display)", Access::kAnyUser,
          Doc("The field as a browser shows it")
              .describe("JPEG, PNG and BMP fields as uploaded; other formats (TIFF) as a lossless PNG "
                        "rendition, made on the first request and kept in the file store")
              .file(200, "image/*", "image/jpeg, image/png or image/bmp")
              .header("Cache-Control", "private, no-store")
              .error(409, "the image is a whole slide (viewed through its deep-zoom tiles, never sent whole)"),
          [&ctx, &db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            std::optional<std::string> rendition;
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<store::Image> {
              MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, id));
              MS_ASSIGN_OR_RETURN(rendition, store::image_display(tx, id));
              return image;
            }));
            MS_RETURN_IF_ERROR(not_a_slide(m));
            std::string bytes, type = mime_type(m.format);
            if (browser_shows(m.format)) {
              MS_ASSIGN_OR_RETURN(bytes, ctx.files->read(m.sha256));
            } else if (rendition && ctx.files->contains(*rendition)) {
              MS_ASSIGN_OR_RETURN(bytes, ctx.files->read(*rendition));
              type = "image/png";
            } else {
              MS_ASSIGN_OR_RETURN(bytes, png_rendition(*ctx.files, m));
              MS_ASSIGN_OR_RETURN(auto stored, ctx.files->put(bytes));
              MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                return store::set_image_display(tx, id, stored.sha256);
              }));
              type = "image/png";
            }
            Reply r = Reply::bytes(std::move(bytes), type);
            r.headers.emplace("Cache-Control", "private, no-store");  // patient images
            r.headers.emplace("Vary", "Cookie");
            return r;
          });

  api.get(R"(/api/images/(\d+)/thumbnail)", Access::kAnyUser, Doc("A JPEG thumbnail (256 px)")
              .file(200, "image/jpeg", "the thumbnail")
              .header("Cache-Control", "private, no-store"),
          [&ctx, &db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            if (!m.thumbnail_sha256)
              return fail(ErrorCode::kNotFound, "image " + std::to_string(id) + " has no thumbnail");
            MS_ASSIGN_OR_RETURN(auto bytes, ctx.files->read(*m.thumbnail_sha256));
            Reply r = Reply::bytes(std::move(bytes), "image/jpeg");
            r.headers.emplace("Cache-Control", "private, no-store");  // patient images
            r.headers.emplace("Vary", "Cookie");
            return r;
          });

  api.get(R"(/api/samples/(\d+)/progress)", Access::kAnyUser,
          Doc("Analysis progress of a sample: jobs by status, cells, reviewed cells, count target")
              .answers(200, ref("SampleProgress"), "the progress"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto p, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::sample_progress(tx, id);
            }));
            return Reply::json(config_to_json(p));
          });

  api.get(R"(/api/jobs)", Access::kAnyUser,
          Doc("Analysis jobs, newest first, with the queue's counts")
              .query("sample_id", integer_schema(), "only this sample's jobs")
              .query("status", written_schema<store::JobStatus>(), "only jobs in this status")
              .query("limit", integer_schema(), "default 100; clamped to 1..1000")
              .answers(200, object_of({{"items", array_of(ref("Job"))}, {"counts", ref("QueueCounts")}}), "the jobs"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            store::JobQuery q;
            MS_ASSIGN_OR_RETURN(q.sample_id, query_opt_int(req, "sample_id"));
            MS_ASSIGN_OR_RETURN(q.limit, query_int(req, "limit", 100));
            const std::string status = query_text(req, "status");
            if (!status.empty()) {
              MS_ASSIGN_OR_RETURN(q.status, parse_config<store::JobStatus>(Json(status), "query parameter 'status'"));
            }
            Json out;
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
              MS_ASSIGN_OR_RETURN(auto jobs, store::list_jobs(tx, q));
              MS_ASSIGN_OR_RETURN(auto counts, store::queue_counts(tx));
              Json items = Json::array();
              for (const auto& j : jobs) items.push_back(config_to_json(j));
              out = {{"items", items}, {"counts", config_to_json(counts)}};
              return {};
            }));
            return Reply::json(out);
          });

  api.get(R"(/api/jobs/(\d+))", Access::kAnyUser, Doc("One job (status, progress, error)").answers(200, ref("Job"), "the job"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto j, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_job(tx, id);
            }));
            return Reply::json(config_to_json(j));
          });

  api.post(R"(/api/jobs/(\d+)/retry)", Access::kStaff,
           Doc("Queue a failed or cancelled job again (with a fresh allowance of attempts)")
               .answers(200, ref("Job"), "queued")
               .error(409, "a job that is not failed or cancelled; the sample is signed"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto j, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Job> {
               MS_ASSIGN_OR_RETURN(auto job, store::retry_job(tx, id));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "job.retry", std::to_string(id)));
               return job;
             }));
             if (ctx.workers) ctx.workers->wake();
             return Reply::json(config_to_json(j));
           });

  api.post(R"(/api/jobs/(\d+)/cancel)", Access::kStaff,
           Doc("Cancel a queued or running job")
               .describe("It becomes cancelled (retry queues it again); a running analysis is stopped at "
                         "its worker's next lease renewal and its result discarded")
               .answers(200, ref("Job"), "cancelled")
               .error(409, "a finished job"),
           [&db](const auto& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto j, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Job> {
               MS_ASSIGN_OR_RETURN(auto job, store::cancel_job(tx, id, c.user.username));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "job.cancel", std::to_string(id)));
               return job;
             }));
             return Reply::json(config_to_json(j));
           });
}

}  // namespace ms::server
