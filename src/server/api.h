#pragma once
// Internal to src/server: the JSON API router. Every route is registered through Api, which
// authenticates the caller (session cookie), checks the CSRF header on state-changing methods and
// the caller's role, runs the handler, turns its error into the one JSON error shape
// (http_error.h), and records the route for /api/openapi.json so the document cannot miss one.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http_server.h"
#include "net/message.h"

#include "core/config.h"
#include "server/file_store.h"
#include "server/lab_server.h"
#include "server/route_doc.h"
#include "store/analysis_runner.h"
#include "store/database.h"
#include "store/records.h"

namespace ms::server {

class JobWorkers;
class CellRecognizer;
struct LabTaxonomies;
class ClassifierHost;
class SampleStainCheck;
class CellCrops;
class ActiveClassifierFollower;
class AdaptationWorker;
class SampleAnswers;

// Who may call a route. Staff: admin, doctor, technician (patients, samples, uploads).
enum class Access { kPublic, kAnyUser, kStaff, kDoctor, kAdmin };

struct Caller {
  bool signed_in = false;
  store::User user;
  store::Session session;
  std::string ip;
  std::optional<std::int64_t> user_id() const {
    return signed_in ? std::optional<std::int64_t>(user.id) : std::nullopt;
  }
};

struct Reply {
  int status = 200;
  Json body;
  std::string raw, content_type;  // a non-JSON body (files, CSV, HTML) when content_type is set
  net::Headers headers;
  static Reply json(Json j, int status = 200) {
    Reply r;
    r.status = status;
    r.body = std::move(j);
    return r;
  }
  static Reply bytes(std::string data, std::string type) {
    Reply r;
    r.raw = std::move(data);
    r.content_type = std::move(type);
    return r;
  }
  static Reply no_content() {
    Reply r;
    r.status = 204;
    return r;
  }
  // An error that carries details (row errors of an import, per-file upload errors).
  static Reply error(const Error& e, Json details);
};

struct ServerContext {
  ServerOptions options;
  store::Database* db = nullptr;
  FileStore* files = nullptr;
  JobWorkers* workers = nullptr;  // null without an analysis runner
  std::string analysis;           // why there is no runner (when there is none)
  store::AnalysisRunner* runner = nullptr;  // its name() follows a switch of classifier
  CellRecognizer* recognizer = nullptr;  // classifies single-cell crops; null without a pipeline
  std::shared_ptr<const LabTaxonomies> taxonomies;  // never null once the server is created
  ClassifierHost* classifier_host = nullptr;  // switches classifiers; null without a pipeline
  AdaptationWorker* adaptation = nullptr;     // runs adaptations; null without a pipeline
  ActiveClassifierFollower* classifier_follower = nullptr;  // with classifier_host
  SampleStainCheck* stain_check = nullptr;  // a sample's stain against the classifier's training lab
  // The cells' crops as the classifier saw them, decoded once for every route that shows or
  // measures them (one bounded cache: a field is not decoded twice for two purposes).
  std::shared_ptr<CellCrops> cell_crops;
  // Answers of a sample's hot read routes, kept under the sample's revision (sample_answers.h).
  std::shared_ptr<SampleAnswers> sample_answers;
};

using Handler = std::function<Result<Reply>(const net::Request&, const Caller&)>;

class Api {
 public:
  Api(net::HttpServer& http, ServerContext& ctx) : http_(http), ctx_(ctx) {}
  // Routes that take more than the server's default body (uploads): set before the route is
  // registered. Such a route authenticates the caller before its body is read.
  void set_body_limit(const std::string& method, const std::string& pattern, std::size_t bytes);
  // `pattern` is a regex over the whole decoded path; each (\d+) is a numeric path id ({id},
  // {id2} in OpenAPI). `doc` says what the route takes and answers; a route whose doc names no
  // successful answer is a programming error (thrown at registration).
  void get(const std::string& pattern, Access a, Doc doc, Handler h);
  void post(const std::string& pattern, Access a, Doc doc, Handler h);
  void patch(const std::string& pattern, Access a, Doc doc, Handler h);
  void put(const std::string& pattern, Access a, Doc doc, Handler h);
  void del(const std::string& pattern, Access a, Doc doc, Handler h);
  // OpenAPI 3.1 document of every registered route, generated from their docs and the shared
  // schemas of api_schemas.h.
  Json openapi() const;
  ServerContext& ctx() { return ctx_; }
  store::Database& db() { return *ctx_.db; }

 private:
  struct Route {
    std::string method, pattern;
    Access access;
    Doc doc;
  };
  void add(const std::string& method, const std::string& pattern, Access a, Doc doc, Handler h);
  void dispatch(const net::Request& req, net::Response& res, Access a, const Handler& h);
  Result<Caller> authenticate(const net::Request& req, Access a);

  net::HttpServer& http_;
  ServerContext& ctx_;
  std::vector<Route> routes_;
  std::vector<std::pair<std::string, std::size_t>> body_limits_;  // "METHOD pattern" -> bytes
};

// Writes the one JSON error shape; bytes that are not UTF-8 in the message (echoed input) are
// replaced, so no input can make an error reply fail.
void send_error(net::Response& res, const Error& e, const Json& details = nullptr);

// True when the request's If-None-Match lists `etag` (or is "*"); a weak match is enough for GET.
bool if_none_match(const net::Request& req, const std::string& etag);

// Request helpers. Messages name the input ("request body:$.name", "query parameter 'page'").
Result<Json> json_body(const net::Request& req);
template <typename T>
Result<T> body_as(const net::Request& req) {
  auto j = json_body(req);
  if (!j) return tl::unexpected(j.error());
  return parse_config<T>(*j, "request body");
}
// kUnsupportedFormat naming `what` ("upload", "recognition upload") unless the request is
// multipart/form-data.
Status require_multipart(const net::Request& req, const std::string& what);
// The multipart parts that carry a file (a filename), in request order; none is kInvalidArgument
// naming `what`.
Result<std::vector<const net::MultipartFormData*>> file_parts(const net::Request& req,
                                                                  const std::string& what);

// A file of a multi-file upload that its check refused.
struct FileProblem {
  std::string filename;  // as sent
  Error error;
};
// The answer that refuses a whole upload for its bad files: the first problem's error, its
// message prefixed "N of M files refused, nothing <outcome>; first: " when several files were
// sent, with details.files = [{filename, code, message}] for each bad file.
Reply refuse_files(const std::vector<FileProblem>& problems, std::size_t files,
                   const std::string& outcome);
// Checks every file part with `check` (const MultipartFormData& -> Result<T>) before anything
// happens to any of them: all good fills `checked` in request order and returns nothing; any bad
// file returns refuse_files' answer (every bad file listed, `checked` incomplete).
template <typename T, typename Check>
std::optional<Reply> check_file_parts(const std::vector<const net::MultipartFormData*>& parts,
                                      const std::string& outcome, Check check,
                                      std::vector<T>& checked) {
  std::vector<FileProblem> problems;
  for (const auto* part : parts) {
    Result<T> one = check(*part);
    if (!one) problems.push_back({part->filename, one.error()});
    else if (problems.empty()) checked.push_back(std::move(*one));
  }
  if (problems.empty()) return std::nullopt;
  return refuse_files(problems, parts.size(), outcome);
}
// The k-th numeric id in the path; an id too large to exist is kNotFound.
Result<std::int64_t> path_id(const net::Request& req, int k = 1);
std::string query_text(const net::Request& req, const std::string& name,
                       const std::string& fallback = "");
Result<std::int64_t> query_int(const net::Request& req, const std::string& name,
                               std::int64_t fallback);
Result<std::optional<std::int64_t>> query_opt_int(const net::Request& req,
                                                  const std::string& name);
// Appends to the operation log in the caller's transaction.
Status log_operation(store::Tx& tx, const Caller& c, const std::string& action,
                     const std::string& target, const std::string& details = "");
bool has_role(const Caller& c, Access a);
// "admin, doctor or technician", for messages and the API document.
const char* access_text(Access a);

// Route groups (one file each).
void register_auth_routes(Api& api);
void register_patient_routes(Api& api);
void register_image_routes(Api& api);
void register_admin_routes(Api& api);
void register_cell_routes(Api& api);         // cells, crops, review, audit, undo
void register_recognition_routes(Api& api);  // classify uploaded single-cell crops
void register_export_routes(Api& api);       // crop ZIPs, training-data export
void register_deep_zoom_routes(Api& api);  // DZI descriptor and tiles of any image
void register_report_routes(Api& api);  // differential, sign-off, addenda, report exports
void register_model_routes(Api& api);   // classifier adaptations, activating a model version
void register_slide_routes(Api& api);   // slide uploads in chunks, suggested areas, area analyses

// One chunk of a slide upload: large enough that a 2 GB slide is a few hundred requests, small
// enough that a chunk in flight is bounded memory and a retry is cheap.
inline constexpr std::size_t kSlideChunkBytes = 8u << 20;

// Session cookie name and helpers shared by the auth routes and the router.
inline constexpr const char* kSessionCookie = "ms_session";
inline constexpr const char* kCsrfHeader = "X-CSRF-Token";
std::string session_cookie_value(const net::Request& req);

}  // namespace ms::server
