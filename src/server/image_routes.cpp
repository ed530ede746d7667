// Field uploads (validated by content, de-duplicated per sample, each queuing an analysis job),
// image files and thumbnails, jobs (list, progress, retry). Their cells: cell_routes.cpp.
#include "server/api.h"
#include "server/field_upload.h"
#include "server/job_workers.h"
#include "store/image_store.h"
#include "store/job_queue.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

std::string mime_type(const std::string& format) {
  if (format == "JPEG") return "image/jpeg";
  if (format == "PNG") return "image/png";
  if (format == "BMP") return "image/bmp";
  if (format == "TIFF") return "image/tiff";
  return "application/octet-stream";
}

}  // namespace

void register_image_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.post(R"(/api/samples/(\d+)/images)", Access::kStaff,
           "Upload field images (multipart, any number of files); each new image queues an "
           "analysis job. All files are checked first: one bad file refuses the request and "
           "details list each file's problem",
           [&ctx, &db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto sample_id, path_id(req));
             MS_RETURN_IF_ERROR(require_multipart(req, "upload"));
             MS_ASSIGN_OR_RETURN(auto sample, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
               return store::get_sample(tx, sample_id);
             }));
             MS_RETURN_IF_ERROR(store::require_unsigned(sample));
             MS_ASSIGN_OR_RETURN(auto parts, file_parts(req, "upload"));
             ImageLimits limits;
             limits.max_bytes = ctx.options.max_image_bytes;
             struct Ready {
               CheckedField field;
               FileStore::Stored original, thumb;
               std::int64_t bytes = 0;
             };
             std::vector<Ready> ready;
             auto check = [&limits](const httplib::MultipartFormData& part) -> Result<Ready> {
               MS_ASSIGN_OR_RETURN(auto field, check_field_image(part.filename, part.content, limits));
               return Ready{std::move(field), {}, {}, static_cast<std::int64_t>(part.content.size())};
             };
             if (auto refused = check_file_parts(parts, "stored", check, ready)) return *refused;
             for (std::size_t k = 0; k < ready.size(); ++k) {
               MS_ASSIGN_OR_RETURN(ready[k].original, ctx.files->put(parts[k]->content));
               MS_ASSIGN_OR_RETURN(ready[k].thumb, ctx.files->put(ready[k].field.thumbnail_jpeg));
             }
             Json results = Json::array();
             std::int64_t queued = 0;
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               results = Json::array();
               queued = 0;
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
                 MS_ASSIGN_OR_RETURN(auto job, store::enqueue_analysis(tx, image.id, sample_id, c.user_id()));
                 ++queued;
                 results.push_back({{"image", config_to_json(image)}, {"duplicate", false},
                                    {"job", config_to_json(job)}});
                 MS_RETURN_IF_ERROR(log_operation(tx, c, "image.upload", sample.accession,
                                                  image.filename + " (" + image.sha256.substr(0, 12) + ")"));
               }
               return {};
             }));
             if (queued > 0 && ctx.workers) ctx.workers->wake();
             return Reply::json({{"items", results}, {"queued", queued}}, 201);
           });

  api.get(R"(/api/samples/(\d+)/images)", Access::kAnyUser, "Images of a sample",
          [&db](const httplib::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto images, db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<std::vector<store::Image>> {
              MS_RETURN_IF_ERROR(store::get_sample(tx, id));
              return store::list_images(tx, id);
            }));
            Json items = Json::array();
            for (const auto& m : images) items.push_back(config_to_json(m));
            return Reply::json({{"items", items}, {"total", items.size()}});
          });

  api.get(R"(/api/images/(\d+))", Access::kAnyUser, "One image's metadata",
          [&db](const httplib::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            return Reply::json(config_to_json(m));
          });

  api.get(R"(/api/images/(\d+)/file)", Access::kAnyUser, "The original image bytes",
          [&ctx, &db](const httplib::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_image(tx, id);
            }));
            MS_ASSIGN_OR_RETURN(auto bytes, ctx.files->read(m.sha256));
            Reply r = Reply::bytes(std::move(bytes), mime_type(m.format));
            r.headers.emplace("Cache-Control", "private, no-store");  // patient images
            r.headers.emplace("Vary", "Cookie");
            return r;
          });

  api.get(R"(/api/images/(\d+)/thumbnail)", Access::kAnyUser, "A JPEG thumbnail (256 px)",
          [&ctx, &db](const httplib::Request& req, const Caller&) -> Result<Reply> {
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
          "Analysis progress of a sample: jobs by status, cells, reviewed cells, count target",
          [&db](const httplib::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto p, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::sample_progress(tx, id);
            }));
            return Reply::json(config_to_json(p));
          });

  api.get(R"(/api/jobs)", Access::kAnyUser,
          "Analysis jobs, newest first: sample_id, status (queued|running|done|failed), limit; "
          "with queue counts",
          [&db](const httplib::Request& req, const Caller&) -> Result<Reply> {
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

  api.get(R"(/api/jobs/(\d+))", Access::kAnyUser, "One job (status, progress, error)",
          [&db](const httplib::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto j, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_job(tx, id);
            }));
            return Reply::json(config_to_json(j));
          });

  api.post(R"(/api/jobs/(\d+)/retry)", Access::kStaff, "Queue a failed job again",
           [&ctx, &db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto j, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Job> {
               MS_ASSIGN_OR_RETURN(auto job, store::retry_job(tx, id));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "job.retry", std::to_string(id)));
               return job;
             }));
             if (ctx.workers) ctx.workers->wake();
             return Reply::json(config_to_json(j));
           });
}

}  // namespace ms::server
