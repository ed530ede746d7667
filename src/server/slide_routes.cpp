// Whole slides: a resumable upload in chunks (a slide of several gigabytes is streamed to disk
// chunk by chunk, never held in memory), the slide's suggested counting areas (a low-resolution
// survey, core/slide_survey.h), and area analyses (durable jobs, each reading its area tile by
// tile through the field pipeline; the cells keep slide coordinates).
//
// Upload protocol: POST /api/samples/{id}/slide-uploads {filename, bytes} opens an upload; each
// PUT /api/slide-uploads/{id}?offset=N appends one chunk that must start at the bytes received so
// far (a retried or duplicated chunk is refused with the offset to continue from, so a client
// that lost track resumes correctly); POST .../finish checks the file is a slide OpenSlide reads
// and stores it. The part file lives in the data directory's scratch folder; an upload untouched
// for a day is swept with it.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error_reason.h"
#include "core/image.h"
#include "core/json_schema.h"
#include "core/slide_reader.h"
#include "core/slide_survey.h"
#include "server/api.h"
#include "server/job_workers.h"
#include "server/request_bodies.h"
#include "store/image_store.h"
#include "store/job_queue.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {

constexpr std::int64_t kChunkBytes = std::int64_t(kSlideChunkBytes);
// Uploads one person may have open at once (each holds a part file on disk).
constexpr std::int64_t kOpenUploadsPerUser = 4;
// Disk a new upload must leave free beyond its own size.
constexpr std::int64_t kDiskReserveBytes = 1LL << 30;
// An area's pixels: an area is one job, read and analysed in 2048-px chunks; 100 megapixels take
// about a minute on two cores.
constexpr std::int64_t kMaxAreaPixels = 100LL * 1000 * 1000;
constexpr int kThumbnailSide = 256;
constexpr std::size_t kSurveysKept = 16;

std::string part_path(const FileStore& files, std::int64_t id, const std::string& filename) {
  return files.scratch() + "/slide-upload-" + std::to_string(id) + "." + slide_extension(filename);
}

// Bytes an unprivileged writer may still put on the file system holding `dir`; -1 when unknown.
std::int64_t free_disk_bytes(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return -1;
  return std::int64_t(fs.f_bavail) * std::int64_t(fs.f_frsize);
}

Json upload_json(const store::SlideUpload& u) {
  Json j = config_to_json(u);
  j["chunk_bytes"] = kChunkBytes;
  return j;
}

constexpr const char* kUploadSelect =
    "SELECT id, sample_id, filename, bytes, received, created_by, created_at, updated_at FROM slide_uploads";

// The upload, for its uploader or an admin; anyone else is told it does not exist.
Result<store::SlideUpload> get_upload(store::Tx& tx, std::int64_t id, const Caller& c, bool lock) {
  std::string sql = std::string(kUploadSelect) + " WHERE id = ?";
  if (lock && tx.dialect() == store::Dialect::kPostgres) sql += " FOR UPDATE";
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(sql, {id}));
  if (!row) return fail(ErrorCode::kNotFound, "slide upload " + std::to_string(id) + " does not exist");
  auto u = store::from_row<store::SlideUpload>(*row);
  if (c.user.role != store::Role::kAdmin && u.created_by != c.user_id())
    return fail(ErrorCode::kNotFound, "slide upload " + std::to_string(id) + " does not exist");
  return u;
}

std::int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_size);
}

// Writes `bytes` at `offset` of the part file and syncs it; a part longer than `offset` (a chunk
// written before a crash that its row never recorded) is cut back first.
Status write_chunk(const std::string& path, std::int64_t offset, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::kIo, "slide upload part", "a writable file", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::ftruncate(fd, offset) != 0) return fail(ErrorCode::kIo, "slide upload part", "a file cut to its received bytes", std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, offset + std::int64_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::kIo, "slide upload part", "written bytes", std::strerror(errno));
    done += std::size_t(n);
  }
  if (::fsync(fd) != 0) return fail(ErrorCode::kIo, "slide upload part", "synced bytes", std::strerror(errno));
  return {};
}

// Bounded memo of surveys by file hash: a survey reads the whole slide at low resolution (a
// second or two) and a stored file never changes.
class SurveyMemo {
 public:
  std::shared_ptr<const SlideSurvey> get(const std::string& sha) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = at_.find(sha);
    return it == at_.end() ? nullptr : it->second;
  }
  void put(const std::string& sha, std::shared_ptr<const SlideSurvey> s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (at_.count(sha)) return;
    order_.push_back(sha);
    at_.emplace(sha, std::move(s));
    if (order_.size() > kSurveysKept) {
      at_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  std::mutex mu_;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::shared_ptr<const SlideSurvey>> at_;
};

Json survey_json(const SlideSurvey& s) {
  Json areas = Json::array();
  for (const auto& a : s.areas) areas.push_back({{"x", a.x}, {"y", a.y}, {"w", a.w}, {"h", a.h}, {"score", a.score}});
  return {{"width", s.width}, {"height", s.height}, {"cols", s.cols}, {"rows", s.rows},
          {"cell_w", s.square_w}, {"cell_h", s.square_h}, {"scores", s.scores}, {"areas", areas}};
}

Json area_schema() {
  Json s = read_schema<AreaRequest>();
  s["required"] = {"x", "y", "w", "h"};
  for (const char* k : {"x", "y"}) s["properties"][k] = with_description(integer_schema(0), "level-0 slide pixels");
  for (const char* k : {"w", "h"}) s["properties"][k] = with_description(integer_schema(1), "level-0 slide pixels");
  return s;
}

Result<store::Image> slide_image(store::Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, id));
  if (image.kind != store::ImageKind::kSlide) return fail(ErrorCode::kConflict, Reason::kAreasNeedASlide);
  return image;
}

}  // namespace

void register_slide_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();
  auto surveys = std::make_shared<SurveyMemo>();

  api.post(R"(/api/samples/(\d+)/slide-uploads)", Access::kStaff,
           Doc("Start a slide upload")
               .describe("Opens a chunked, resumable upload of one whole-slide file (Aperio .svs, Hamamatsu "
                         ".ndpi, Leica .scn, Ventana .bif, Philips or generic tiled pyramidal .tif/.tiff). "
                         "Send its bytes with PUT /api/slide-uploads/{id}?offset=N, then finish it")
               .json_body(requiring(read_schema<SlideUploadStart>(), {"filename", "bytes"}),
                          {{"filename", "BM-0001.svs"}, {"bytes", 2147483648LL}})
               .answers(201, ref("SlideUpload"), "the upload, nothing received yet")
               .error(409, "the sample is signed, or this account has too many uploads open")
               .error(413, "the file is larger than the server takes, or the disk has no room for it"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto sample_id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto body, body_as<SlideUploadStart>(req));
             if (!body.filename || body.filename->empty() || body.filename->size() > 255)
               return fail(ErrorCode::kInvalidArgument, "request body:$.filename", "a file name of 1 to 255 bytes",
                           body.filename ? std::to_string(body.filename->size()) + " bytes" : "nothing");
             if (!body.bytes || *body.bytes <= 0)
               return fail(ErrorCode::kInvalidArgument, "request body:$.bytes", "the file's size in bytes (> 0)",
                           body.bytes ? std::to_string(*body.bytes) : "nothing");
             if (slide_extension(*body.filename).empty())
               return fail(ErrorCode::kUnsupportedFormat, Reason::kNotASlide, {{"filename", *body.filename}});
             if (*body.bytes > ctx.options.max_slide_bytes)
               return fail(ErrorCode::kTooLarge, "slide " + *body.filename,
                           fmt::format("at most {} GiB", ctx.options.max_slide_bytes >> 30),
                           fmt::format("{:.1f} GiB", double(*body.bytes) / double(1LL << 30)));
             if (const std::int64_t free_bytes = free_disk_bytes(ctx.files->scratch()); free_bytes >= 0) {
               if (free_bytes < *body.bytes + kDiskReserveBytes)
                 return fail(ErrorCode::kTooLarge, "slide " + *body.filename,
                             fmt::format("room on the server's disk ({:.1f} GiB free, {:.1f} GiB kept in reserve)",
                                         double(free_bytes) / double(1LL << 30), double(kDiskReserveBytes) / double(1LL << 30)),
                             fmt::format("{:.1f} GiB", double(*body.bytes) / double(1LL << 30)));
             }
             MS_ASSIGN_OR_RETURN(auto upload, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::SlideUpload> {
               MS_ASSIGN_OR_RETURN(auto sample, store::lock_sample(tx, sample_id));
               MS_RETURN_IF_ERROR(store::require_unsigned(sample));
               MS_ASSIGN_OR_RETURN(auto open, tx.query_one("SELECT COUNT(*) AS n FROM slide_uploads WHERE created_by = ?",
                                                           {store::Value(c.user_id())}));
               if (open->i("n") >= kOpenUploadsPerUser)
                 return fail(ErrorCode::kConflict,
                             fmt::format("you have {} slide uploads open (at most {}); finish or cancel one first",
                                         open->i("n"), kOpenUploadsPerUser));
               const auto now = store::now_ms();
               MS_ASSIGN_OR_RETURN(auto id, tx.insert("INSERT INTO slide_uploads (sample_id, filename, bytes, received, "
                                                      "created_by, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?) "
                                                      "RETURNING id",
                                                      {sample_id, *body.filename, *body.bytes,
                                                       store::Value(c.user_id()), now, now}));
               return get_upload(tx, id, c, false);
             }));
             const std::string part = part_path(*ctx.files, upload.id, upload.filename);
             const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
             if (fd < 0) {
               const std::string why = std::strerror(errno);
               (void)db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
                 MS_RETURN_IF_ERROR(tx.exec("DELETE FROM slide_uploads WHERE id = ?", {upload.id}));
                 return {};
               });
               return fail(ErrorCode::kIo, "slide upload part '" + part + "'", "a new file", why);
             }
             ::close(fd);
             return Reply::json(upload_json(upload), 201);
           });

  api.get(R"(/api/slide-uploads/(\d+))", Access::kStaff,
          Doc("A slide upload's progress")
              .describe("How many bytes arrived: a client that lost track (a closed tab, a dropped "
                        "connection) continues from `received`")
              .answers(200, ref("SlideUpload"), "the upload"),
          [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto u, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return get_upload(tx, id, c, false);
            }));
            return Reply::json(upload_json(u));
          });

  api.put(R"(/api/slide-uploads/(\d+))", Access::kStaff,
          Doc("Send the next chunk of a slide")
              .describe("The body is the file's bytes from `offset` on (at most `chunk_bytes`). `offset` must "
                        "equal the bytes received so far; otherwise nothing is written and the answer (409, "
                        "reason upload_offset_mismatch) says where to continue")
              .query("offset", integer_schema(0), "where this chunk starts in the file", true)
              .body("application/octet-stream", {{"type", "string"}, {"format", "binary"}}, "the chunk's bytes")
              .answers(200, ref("SlideUpload"), "the upload with the chunk received")
              .error(409, "the chunk does not start where the upload stands"),
          [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            if (query_text(req, "offset").empty())
              return fail(ErrorCode::kInvalidArgument, "query parameter 'offset'", "the chunk's start in bytes", "nothing");
            MS_ASSIGN_OR_RETURN(auto offset, query_int(req, "offset", -1));
            const std::string_view bytes = req.body;
            if (bytes.empty())
              return fail(ErrorCode::kInvalidArgument, "slide chunk", "1 or more bytes", "an empty body");
            if (std::int64_t(bytes.size()) > kChunkBytes)
              return fail(ErrorCode::kTooLarge, "slide chunk", fmt::format("at most {} bytes", kChunkBytes),
                          std::to_string(bytes.size()));
            // Several uploads may share the disk: each chunk checks the room left, so a full disk is
            // a clear refusal the client can resume after, not a failed write.
            if (const std::int64_t free_bytes = free_disk_bytes(ctx.files->scratch());
                free_bytes >= 0 && free_bytes < std::int64_t(bytes.size()) + kDiskReserveBytes / 4)
              return fail(ErrorCode::kConflict,
                          fmt::format("the server's disk is nearly full ({:.0f} MiB free); the upload keeps what it "
                                      "has: resume it once an administrator has made room",
                                      double(free_bytes) / double(1 << 20)));
            // Under the row's lock (SQLite: the write transaction): two copies of a chunk cannot both
            // be written, and the part file always holds exactly the bytes the row records.
            MS_ASSIGN_OR_RETURN(auto u, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::SlideUpload> {
              MS_ASSIGN_OR_RETURN(auto cur, get_upload(tx, id, c, true));
              if (offset != cur.received)
                return fail(ErrorCode::kConflict, Reason::kUploadOffsetMismatch, {{"received", std::to_string(cur.received)}});
              if (offset + std::int64_t(bytes.size()) > cur.bytes)
                return fail(ErrorCode::kInvalidArgument, "slide chunk",
                            fmt::format("at most the {} bytes the upload still expects", cur.bytes - cur.received),
                            std::to_string(bytes.size()));
              const std::string part = part_path(*ctx.files, cur.id, cur.filename);
              if (file_size(part) < cur.received)
                return fail(ErrorCode::kConflict, fmt::format("slide upload {}: its part file is gone (swept after a day "
                                                              "without chunks); cancel it and upload the slide again",
                                                              cur.id));
              MS_RETURN_IF_ERROR(write_chunk(part, offset, bytes));
              MS_RETURN_IF_ERROR(tx.exec("UPDATE slide_uploads SET received = ?, updated_at = ? WHERE id = ?",
                                         {offset + std::int64_t(bytes.size()), store::now_ms(), cur.id}));
              return get_upload(tx, id, c, false);
            }));
            return Reply::json(upload_json(u));
          });

  api.del(R"(/api/slide-uploads/(\d+))", Access::kStaff,
          Doc("Cancel a slide upload").no_content("cancelled; its bytes are removed"),
          [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto u, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::SlideUpload> {
              MS_ASSIGN_OR_RETURN(auto cur, get_upload(tx, id, c, true));
              MS_RETURN_IF_ERROR(tx.exec("DELETE FROM slide_uploads WHERE id = ?", {cur.id}));
              return cur;
            }));
            ::unlink(part_path(*ctx.files, u.id, u.filename).c_str());
            return Reply::no_content();
          });

  api.post(R"(/api/slide-uploads/(\d+)/finish)", Access::kStaff,
           Doc("Finish a slide upload")
               .describe("Checks that every byte arrived and that OpenSlide reads the file, stores it (by its "
                         "SHA-256, like every image) and adds it to the sample as an image of kind `slide`. "
                         "Nothing is analysed yet: choose areas (POST /api/images/{id}/areas)")
               .answers(201, ref("Image"), "the slide, added to the sample")
               .answers(200, ref("Image"), "the sample already held these bytes; the upload is closed")
               .error(409, "bytes are missing, or the sample was signed")
               .error(415, "the file is not a slide OpenSlide reads"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto u, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
               return get_upload(tx, id, c, false);
             }));
             if (u.received != u.bytes)
               return fail(ErrorCode::kConflict, Reason::kUploadIncomplete,
                           {{"received", std::to_string(u.received)}, {"bytes", std::to_string(u.bytes)}});
             const std::string part = part_path(*ctx.files, u.id, u.filename);
             auto drop_upload = [&] {
               (void)db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
                 MS_RETURN_IF_ERROR(tx.exec("DELETE FROM slide_uploads WHERE id = ?", {u.id}));
                 return {};
               });
               ::unlink(part.c_str());
             };
             if (file_size(part) != u.bytes)
               return fail(ErrorCode::kConflict, fmt::format("slide upload {}: its part file is gone or being finished "
                                                             "by another request", u.id));
             // What the slide is: opened once, never decoded whole.
             std::int64_t width = 0, height = 0;
             double mpp = 0;
             std::string vendor, thumb_jpeg;
             {
               auto slide = SlideReader::open(part);
               if (!slide) {
                 drop_upload();
                 if (slide.error().code == ErrorCode::kUnsupportedFormat)
                   return fail(ErrorCode::kUnsupportedFormat, Reason::kNotASlide, {{"filename", u.filename}});
                 return fail(ErrorCode::kCorruptInput, "slide " + u.filename + ": " + slide.error().message);
               }
               width = (*slide)->width();
               height = (*slide)->height();
               mpp = (*slide)->mpp();
               vendor = (*slide)->vendor();
               const double k = double(kThumbnailSide) / double(std::max(width, height));
               const int tw = std::max(1, int(std::lround(double(width) * k)));
               const int th = std::max(1, int(std::lround(double(height) * k)));
               auto small = (*slide)->read_scaled(0, 0, width, height, tw, th);
               if (small) {
                 auto jpeg = encode_image(*small, ".jpg", 85);
                 if (jpeg) thumb_jpeg.assign(jpeg->begin(), jpeg->end());
               }
             }
             std::vector<std::string> created;
             std::optional<FileStore::Stored> thumb;
             if (!thumb_jpeg.empty()) {
               MS_ASSIGN_OR_RETURN(auto t, ctx.files->put(thumb_jpeg));
               if (!t.existed) created.push_back(t.sha256);
               thumb = t;
             }
             auto stored = ctx.files->adopt(part);
             if (!stored) {
               if (!created.empty()) (void)remove_unreferenced(db, *ctx.files, created);
               return tl::unexpected(stored.error());
             }
             if (!stored->existed) created.push_back(stored->sha256);
             bool duplicate = false;
             auto written = db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Image> {
               duplicate = false;
               MS_ASSIGN_OR_RETURN(auto sample, store::lock_sample(tx, u.sample_id));
               MS_RETURN_IF_ERROR(store::require_unsigned(sample));
               // The sweep lock (shared), then the files must still be there: a file named by a
               // committed row is never missing.
               std::vector<std::pair<std::string, std::string_view>> held;
               if (thumb) held.emplace_back(thumb->sha256, thumb_jpeg);
               MS_RETURN_IF_ERROR(hold_stored_files(tx, *ctx.files, held));
               if (!ctx.files->contains(stored->sha256))
                 return fail(ErrorCode::kConflict, "slide " + u.filename + " was removed from the store while it was "
                                                   "being added; upload it again");
               MS_RETURN_IF_ERROR(tx.exec("DELETE FROM slide_uploads WHERE id = ?", {u.id}));
               MS_ASSIGN_OR_RETURN(auto existing, store::find_image_by_hash(tx, u.sample_id, stored->sha256));
               if (existing) {
                 duplicate = true;
                 return *existing;
               }
               store::NewImage m;
               m.sample_id = u.sample_id;
               m.sha256 = stored->sha256;
               m.filename = u.filename;
               m.format = vendor.empty() ? "slide" : vendor;
               m.width = width;
               m.height = height;
               m.bytes = u.bytes;
               if (thumb) m.thumbnail_sha256 = thumb->sha256;
               m.uploaded_by = c.user_id();
               m.kind = store::ImageKind::kSlide;
               if (mpp > 0) m.mpp = mpp;
               MS_ASSIGN_OR_RETURN(auto inserted, store::insert_image(tx, m));
               if (!inserted) return fail(ErrorCode::kConflict, "slide " + u.filename + " was added twice at once; reload");
               MS_RETURN_IF_ERROR(log_operation(tx, c, "slide.upload", sample.accession,
                                                fmt::format("{} ({}, {} x {} px, {})", inserted->filename,
                                                            inserted->sha256.substr(0, 12), width, height, m.format)));
               return *inserted;
             });
             if (!written) {
               (void)remove_unreferenced(db, *ctx.files, created);
               return tl::unexpected(written.error());
             }
             if (duplicate && !created.empty()) (void)remove_unreferenced(db, *ctx.files, created);
             return Reply::json(config_to_json(*written), duplicate ? 200 : 201);
           });

  api.get(R"(/api/images/(\d+)/suggested-areas)", Access::kAnyUser,
          Doc("Suggested counting areas of a slide")
              .describe("A low-resolution pass over the whole slide scores a grid of squares by how countable "
                        "they look (cells side by side in a monolayer, with white cells; not the glass, the "
                        "feathered edge or the thick part) and proposes the best areas. A heuristic for the "
                        "reviewer to accept or change")
              .answers(200, ref("SuggestedAreas"), "the heat map and the proposed areas")
              .error(409, "the image is a field, not a slide"),
          [&ctx, &db, surveys](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto image, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return slide_image(tx, id);
            }));
            auto known = surveys->get(image.sha256);
            if (!known) {
              MS_ASSIGN_OR_RETURN(auto path, ctx.files->slide_path(image.sha256, image.filename));
              MS_ASSIGN_OR_RETURN(auto slide, SlideReader::open(path));
              auto made = survey_slide(*slide);
              if (!made) return tl::unexpected(made.error());
              known = std::make_shared<const SlideSurvey>(std::move(*made));
              surveys->put(image.sha256, known);
            }
            return Reply::json(survey_json(*known));
          });

  api.post(R"(/api/images/(\d+)/areas)", Access::kStaff,
           Doc("Analyse an area of a slide")
               .describe("Queues one analysis job for the rectangle (level-0 slide pixels): it is read and "
                         "analysed tile by tile, and its cells keep slide coordinates. Follow it with "
                         "GET /api/jobs/{id} (progress, eta_s)")
               .json_body(area_schema(), {{"x", 1024}, {"y", 2048}, {"w", 4096}, {"h", 4096}})
               .answers(201, ref("Job"), "the area's job, queued")
               .error(409, "the image is a field, the sample is signed, or the area overlaps one queued or analysed")
               .error(413, "the area is larger than one job takes"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto body, body_as<AreaRequest>(req));
             const std::pair<const char*, const std::optional<std::int64_t>*> coords[] = {
                 {"x", &body.x}, {"y", &body.y}, {"w", &body.w}, {"h", &body.h}};
             for (const auto& [name, v] : coords)
               if (!*v) return fail(ErrorCode::kInvalidArgument, std::string("request body:$.") + name,
                                    "an integer (level-0 slide pixels)", "nothing");
             MS_ASSIGN_OR_RETURN(auto job, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Job> {
               MS_ASSIGN_OR_RETURN(auto image, slide_image(tx, id));
               const std::int64_t x = *body.x, y = *body.y, w = *body.w, h = *body.h;
               if (x < 0 || y < 0 || w < 1 || h < 1 || x > image.width - w || y > image.height - h)
                 return fail(ErrorCode::kInvalidArgument, Reason::kAreaOutsideSlide,
                             {{"width", std::to_string(image.width)}, {"height", std::to_string(image.height)}});
               if (w > kMaxAreaPixels / h)
                 return fail(ErrorCode::kTooLarge, Reason::kAreaTooLarge,
                             {{"max", std::to_string(kMaxAreaPixels / 1000000)}});
               MS_ASSIGN_OR_RETURN(auto sample, store::lock_sample(tx, image.sample_id));
               MS_RETURN_IF_ERROR(store::require_unsigned(sample));
               // Each cell belongs to the one area its centre lies in; overlapping areas would count
               // the cells of their overlap twice. Failed and cancelled areas stored no cell.
               MS_ASSIGN_OR_RETURN(auto overlap, tx.query_one(
                   "SELECT id FROM jobs WHERE image_id = ? AND region_w IS NOT NULL AND status IN "
                   "('queued', 'running', 'done') AND region_x < ? AND ? < region_x + region_w AND "
                   "region_y < ? AND ? < region_y + region_h ORDER BY id LIMIT 1",
                   {image.id, x + w, x, y + h, y}));
               if (overlap)
                 return fail(ErrorCode::kConflict, Reason::kAreaOverlaps, {{"job", std::to_string(overlap->i("id"))}});
               MS_ASSIGN_OR_RETURN(auto queued, store::enqueue_area_analysis(tx, image.id, image.sample_id, c.user_id(),
                                                                             x, y, w, h));
               MS_RETURN_IF_ERROR(store::check_queue_quota(tx, c.user_id()));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "slide.area", sample.accession,
                                                fmt::format("image {} ({}): {},{} {}x{} px, job {}", image.id,
                                                            image.filename, x, y, w, h, queued.id)));
               return queued;
             }));
             if (ctx.workers) ctx.workers->wake();
             return Reply::json(config_to_json(job), 201);
           });
}

}  // namespace ms::server
