#include "server/lab_server.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/html_escape.h"
#include "net/http_server.h"
#include "server/active_classifier.h"
#include "server/adaptation_worker.h"
#include "server/api.h"
#include "server/cell_recognizer.h"
#include "server/domain_stain.h"
#include "pipeline/pipeline_options.h"
#include "server/lab_taxonomies.h"
#include "server/sample_answers.h"
#include "server/http_error.h"
#include "server/job_workers.h"
#include "store/adaptation_store.h"
#include "store/job_queue.h"
#include "store/model_versions.h"
#include "store/operation_log.h"
#include "store/schema.h"
#include "store/user_store.h"

namespace ms::server {
namespace fs = std::filesystem;

struct LabServer::Impl {
  ServerOptions options;
  std::unique_ptr<store::Database> db;
  std::optional<FileStore> files;
  std::shared_ptr<store::AnalysisRunner> runner;
  std::unique_ptr<JobWorkers> workers;
  std::unique_ptr<ActiveClassifierFollower> follower;
  std::unique_ptr<AdaptationWorker> adaptation;
  std::unique_ptr<SampleStainCheck> stain_check;
  std::unique_ptr<net::HttpServer> http;
  fs::path web_root;  // canonical; empty when the web app is not built
  std::unique_ptr<Api> api;
  ServerContext ctx;
  std::thread listener;
  std::mutex mu;
  bool started = false, stopped = false;
  int port = 0;
  std::string generated_password;

  Status bootstrap_admin();
  // An admin's activated adapted classifier outlives restarts: load it instead of the start-up
  // one. A folder that is gone is logged and the start-up classifier is used (and marked active).
  void serve_static(const net::Request& req, net::Response& res) const;
};

namespace {

std::string content_type_for(const fs::path& p) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".ico", "image/x-icon"},
      {".woff2", "font/woff2"}, {".woff", "font/woff"}, {".ttf", "font/ttf"},
      {".map", "application/json"}, {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"}, {".webp", "image/webp"}};
  auto it = types.find(p.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

}  // namespace

Status LabServer::Impl::bootstrap_admin() {
  MS_ASSIGN_OR_RETURN(auto n, db->transact(store::TxMode::kRead, [](store::Tx& tx) {
    return store::count_users(tx);
  }));
  if (n > 0) return {};
  store::NewUser admin;
  admin.username = "admin";
  admin.role = store::Role::kAdmin;
  admin.enabled = true;
  admin.display_name = "Administrator";
  if (options.admin_password) {
    admin.password = *options.admin_password;
    if (auto ok = store::validate_new_user(admin); !ok)
      return fail(ErrorCode::kInvalidArgument, "MARROWSCOPE_ADMIN_PASSWORD: " + ok.error().message);
  } else {
    admin.password = random_password(16);
  }
  MS_ASSIGN_OR_RETURN(auto hash, hash_password(admin.password, options.password_cost));
  auto created = db->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    MS_ASSIGN_OR_RETURN(auto u, store::create_user(tx, admin, hash));
    store::LogInput e;
    e.user_id = u.id;
    e.username = u.username;
    e.action = "user.create";
    e.target = u.username;
    e.details = "first start";
    return store::append_log(tx, e);
  });
  // Another server sharing the database may have created it first.
  if (!created && created.error().code != ErrorCode::kConflict) return created;
  if (created && !options.admin_password) generated_password = admin.password;
  return {};
}

void LabServer::Impl::serve_static(const net::Request& req, net::Response& res) const {
  if (req.path.rfind("/api/", 0) == 0 || req.path == "/api") {
    send_error(res, Error{ErrorCode::kNotFound, "no route for " + req.method + " " + req.path});
    return;
  }
  // One canonical file under the web root, or nothing: the decoded path is made relative and
  // normalised lexically (so "//etc/passwd" and "/%2Fetc" stay under the root, and a leading
  // ".." is refused), hidden names are refused, and the resolved file (symlinks followed) must
  // still lie under the canonical root.
  auto not_found = [&] { send_error(res, Error{ErrorCode::kNotFound, "no file " + req.path}); };
  const fs::path rel = fs::path(req.path).relative_path().lexically_normal();
  for (const auto& part : rel) {
    const std::string name = part.string();
    if (name == ".." || (!name.empty() && name.front() == '.' && name != ".")) return not_found();
  }
  if (rel.is_absolute() || req.path.find('\\') != std::string::npos) return not_found();
  auto resolve = [&](const fs::path& candidate) -> std::optional<fs::path> {
    if (web_root.empty()) return std::nullopt;
    std::error_code ec;
    fs::path file = fs::weakly_canonical(web_root / candidate, ec);
    if (ec) return std::nullopt;
    if (fs::is_directory(file, ec)) file /= "index.html";
    file = fs::canonical(file, ec);
    if (ec || !fs::is_regular_file(file, ec)) return std::nullopt;
    auto r = web_root.begin();
    for (auto f = file.begin(); r != web_root.end(); ++r, ++f)
      if (f == file.end() || *f != *r) return std::nullopt;
    return file;
  };
  std::optional<fs::path> file = resolve(rel.empty() || rel == "." ? fs::path("index.html") : rel);
  // Client-side routes (/patients/12) have no file: the app's index.html handles them.
  if (!file && rel.extension().empty()) file = resolve("index.html");
  if (!file) {
    if (rel.extension().empty()) {
      res.set_content("<!doctype html><meta charset=utf-8><title>Marrowscope</title>"
                      "<p>The Marrowscope server is running. The web app is not built in '" +
                          html_escape(options.web_root) + "' (build it with <code>make web</code>); the API is at "
                          "<a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
                      "text/html; charset=utf-8");
      return;
    }
    return not_found();
  }
  std::ifstream in(*file, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  res.set_content(body.str(), content_type_for(*file));
  const bool hashed_asset = req.path.rfind("/assets/", 0) == 0;
  res.set_header("Cache-Control", hashed_asset ? "public, max-age=31536000, immutable" : "no-cache");
}

LabServer::LabServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LabServer::~LabServer() { stop(); }

Result<std::unique_ptr<LabServer>> LabServer::create(ServerOptions options,
                                                     std::shared_ptr<store::AnalysisRunner> runner) {
  auto impl = std::make_unique<Impl>();
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec)
    return fail(ErrorCode::kIo, "--data-dir '" + options.data_dir + "'", "a writable directory", ec.message());
  if (options.db_url.empty()) options.db_url = "sqlite:" + (fs::path(options.data_dir) / "marrowscope.db").string();
  MS_ASSIGN_OR_RETURN(impl->db, store::open_database(options.db_url));
  MS_RETURN_IF_ERROR(store::migrate(*impl->db));
  MS_ASSIGN_OR_RETURN(auto files, FileStore::open(options.data_dir));
  impl->files.emplace(std::move(files));
  // Files no row refers to (a crash mid-upload, deleted patients): servers with workers sweep
  // when the workers start; a server without them sweeps here.
  const bool analyses = runner && options.workers > 0;
  if (!analyses) sweep_files(*impl->db, *impl->files, nullptr);
  impl->options = options;
  MS_RETURN_IF_ERROR(impl->bootstrap_admin());
  // A single process owns a SQLite file, so whatever it left running died with it. PostgreSQL
  // may be shared with live servers: only jobs whose lease ran out go back.
  const bool single_owner = impl->db->dialect() == store::Dialect::kSqlite;
  MS_ASSIGN_OR_RETURN(auto requeued, store::requeue_running_jobs(*impl->db, single_owner));
  if (requeued > 0) spdlog::info("{} job(s) left running by a previous process are queued again", requeued);
  // A classifier class that a taxonomy lacks could never be counted or signed: refuse to start,
  // before any worker takes a job.
  std::optional<std::vector<std::string>> classifier_classes;
  if (auto* recognizer = dynamic_cast<CellRecognizer*>(runner.get())) classifier_classes = recognizer->classes();
  MS_ASSIGN_OR_RETURN(impl->ctx.taxonomies, load_lab_taxonomies(std::move(classifier_classes)));
  impl->runner = std::move(runner);
  impl->ctx.options = options;
  impl->ctx.db = impl->db.get();
  impl->ctx.files = &*impl->files;
  if (impl->runner) {
    impl->ctx.analysis = impl->runner->name();
    impl->ctx.runner = impl->runner.get();
    // A runner that also classifies single-cell crops serves /api/recognition (with or without
    // analysis threads: recognition answers the request that asks).
    impl->ctx.recognizer = dynamic_cast<CellRecognizer*>(impl->runner.get());
    if (auto* host = dynamic_cast<ClassifierHost*>(impl->runner.get())) {
      // The version an admin activated (kept across restarts), before the models are recorded:
      // recording marks the models in use as the active ones.
      impl->follower = std::make_unique<ActiveClassifierFollower>(*impl->db, options.data_dir, *host);
      MS_RETURN_IF_ERROR(impl->follower->sync());
      AdaptationSettings a;
      a.data_dir = options.data_dir;
      a.replay_list = options.replay_list;
      a.replay_data = options.replay_data;
      a.instance = process_instance_name();
      impl->adaptation = std::make_unique<AdaptationWorker>(*impl->db, *impl->files, *host, a, impl->follower.get());
      impl->ctx.classifier_host = host;
      impl->ctx.classifier_follower = impl->follower.get();
      impl->ctx.adaptation = impl->adaptation.get();
      // Like analysis jobs: a single owner requeues every running adaptation, a shared PostgreSQL
      // only those whose server stopped reporting progress.
      MS_ASSIGN_OR_RETURN(auto again, store::requeue_adaptations(*impl->db, single_owner, 10LL * 60 * 1000));
      if (again > 0) spdlog::info("{} adaptation(s) left running by a previous process are queued again", again);
    }
    MS_RETURN_IF_ERROR(store::record_models(*impl->db, impl->runner->models()));
  }
  // 32 MiB: a review queue page of 100 cells is about 70 KB, so several hundred pages.
  impl->ctx.sample_answers = std::make_shared<SampleAnswers>(std::size_t{32} << 20);
  // A sample's stain is measured on the review screens' crops (the shared cache), once per cell count.
  impl->ctx.cell_crops = std::make_shared<CellCrops>(*impl->files, PipelineOptions{}.crop_margin);
  impl->stain_check = std::make_unique<SampleStainCheck>(*impl->db, impl->ctx.cell_crops,
                                                         classifier_stain_reference(impl->ctx.classifier_host));
  impl->ctx.stain_check = impl->stain_check.get();
  if (analyses) {
    WorkerOptions w;
    w.workers = options.workers;
    w.lease_ms = options.job_lease_ms;
    w.poll_ms = options.job_poll_ms;
    w.instance = process_instance_name();
    impl->workers = std::make_unique<JobWorkers>(*impl->db, *impl->files, *impl->runner, w);
    impl->ctx.workers = impl->workers.get();
  } else if (impl->runner) {
    if (impl->db->dialect() == store::Dialect::kSqlite)
      spdlog::warn("--workers 0 with SQLite: nothing analyses the uploads (`marrowscope worker` needs "
                   "PostgreSQL); they stay queued until a serve with --workers 1 or more starts");
    impl->ctx.analysis = "no analysis threads in this server (serve --workers 0): `marrowscope worker` "
                         "processes analyse the queued jobs; models loaded for recognition: " +
                         impl->runner->name();
  } else {
    impl->ctx.analysis = "unavailable: no analysis pipeline in this server; uploads stay queued";
  }
  return std::unique_ptr<LabServer>(new LabServer(std::move(impl)));
}

Status LabServer::start() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.started) return {};
  net::ServerLimits limits;
  // Handler threads: a request holds one only while its handler runs (SQL + JSON); reading
  // heads and bodies and writing replies happen on the event loop, so idle or slow clients
  // hold none.
  limits.threads = 32;
  limits.max_inflight_body_bytes = std::max<std::size_t>(1ull << 30, m.options.max_upload_bytes);
  limits.trusted_proxy = m.options.trusted_proxy;
  m.http = std::make_unique<net::HttpServer>(limits);
  net::HttpServer& http = *m.http;
  http.set_error_renderer([](int status, const std::string& message, net::Response& res) {
    res.status = status;
    Json body = error_json(Error{error_code_for_status(status), message});
    // Statuses the application's error codes do not cover get a code of their own.
    const auto& codes = transport_error_codes();
    if (auto it = codes.find(status); it != codes.end()) body["error"]["code"] = it->second;
    res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
  });
  const bool secure = m.options.secure_cookie;
  http.set_finisher([secure](const net::Request& req, net::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cross-Origin-Resource-Policy", "same-origin");
    res.set_header("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (secure) res.set_header("Strict-Transport-Security", "max-age=31536000");
    const bool api = req.path.rfind("/api/", 0) == 0;
    // API answers (reports, exports, images) are never a page that runs code; the web app
    // loads only its own files. The API reference page (/api/docs) is the one API answer that
    // runs scripts: only the web root's, calling only this server. Patient data is not kept in
    // caches unless a route says so.
    res.set_header("Content-Security-Policy",
                   req.path == "/api/docs"
                       ? "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                         "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                         "form-action 'none'"
                   : api ? "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
                         : "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                           "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'");
    if (api && res.get_header_value("Cache-Control").empty()) res.set_header("Cache-Control", "no-store");
  });
  m.api = std::make_unique<Api>(http, m.ctx);
  // Routes whose bodies are larger than the default JSON limit.
  m.api->set_body_limit("POST", R"(/api/samples/(\d+)/images)", m.options.max_upload_bytes);
  m.api->set_body_limit("POST", R"(/api/recognition)", std::min<std::size_t>(m.options.max_upload_bytes, 64u << 20));
  m.api->set_body_limit("PUT", R"(/api/users/(\d+)/avatar)", std::min<std::size_t>(m.options.max_upload_bytes, 16u << 20));
  m.api->set_body_limit("POST", R"(/api/patients/import)", std::min<std::size_t>(m.options.max_upload_bytes, 32u << 20));
  m.api->set_body_limit("PUT", R"(/api/slide-uploads/(\d+))", kSlideChunkBytes);
  register_auth_routes(*m.api);
  register_patient_routes(*m.api);
  register_image_routes(*m.api);
  register_deep_zoom_routes(*m.api);
  register_admin_routes(*m.api);
  register_cell_routes(*m.api);
  register_recognition_routes(*m.api);
  register_export_routes(*m.api);
  register_report_routes(*m.api);
  register_model_routes(*m.api);
  register_slide_routes(*m.api);
  std::error_code ec;
  m.web_root = fs::canonical(m.options.web_root, ec);
  if (ec) m.web_root.clear();
  http.set_fallback([&m](const net::Request& req, net::Response& res) { m.serve_static(req, res); });

  if (!http.bind(m.options.host, m.options.port))
    return fail(ErrorCode::kIo, "--port " + std::to_string(m.options.port), "a free port on " + m.options.host,
                "one in use or not permitted");
  m.port = http.port();
  m.listener = std::thread([&http] { http.run(); });
  if (m.workers) m.workers->start();
  if (m.adaptation) m.adaptation->start();
  m.started = true;
  return {};
}

void LabServer::wait() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->listener.joinable()) return;
    t = std::move(impl_->listener);
  }
  t.join();
}

void LabServer::stop() {
  Impl& m = *impl_;
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (!m.started || m.stopped) return;
    m.stopped = true;
    if (m.http) m.http->stop();
    t = std::move(m.listener);
  }
  if (t.joinable()) t.join();
  if (m.adaptation) m.adaptation->stop();
  if (m.workers) m.workers->stop();
}

int LabServer::port() const { return impl_->port; }
const std::string& LabServer::generated_admin_password() const { return impl_->generated_password; }
std::string LabServer::database_description() const { return impl_->db->describe(); }

}  // namespace ms::server
