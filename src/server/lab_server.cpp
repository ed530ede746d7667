#include "server/lab_server.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "server/api.h"
#include "server/cell_recognizer.h"
#include "server/http_error.h"
#include "server/job_workers.h"
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
  std::unique_ptr<httplib::Server> http;
  std::unique_ptr<Api> api;
  ServerContext ctx;
  std::thread listener;
  std::mutex mu;
  bool started = false, stopped = false;
  int port = 0;
  std::string generated_password;

  Status bootstrap_admin();
  void serve_static(const httplib::Request& req, httplib::Response& res) const;
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

std::string instance_name() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  return std::string(host) + ":" + std::to_string(::getpid());
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

void LabServer::Impl::serve_static(const httplib::Request& req, httplib::Response& res) const {
  if (req.path.rfind("/api/", 0) == 0 || req.path == "/api") {
    send_error(res, Error{ErrorCode::kNotFound, "no route for " + req.method + " " + req.path});
    return;
  }
  const fs::path root = options.web_root;
  std::error_code ec;
  if (req.path.find("..") != std::string::npos || req.path.find('\0') != std::string::npos) {
    send_error(res, Error{ErrorCode::kNotFound, "no file " + req.path});
    return;
  }
  fs::path file = root / req.path.substr(1);
  if (req.path == "/" || fs::is_directory(file, ec)) file /= "index.html";
  // Client-side routes (/patients/12) have no file: the app's index.html handles them.
  if (!fs::is_regular_file(file, ec) && fs::path(req.path).extension().empty())
    file = root / "index.html";
  if (!fs::is_regular_file(file, ec)) {
    if (file.filename() == "index.html") {
      res.set_content("<!doctype html><meta charset=utf-8><title>Marrowscope</title>"
                      "<p>The Marrowscope server is running. The web app is not built in '" +
                          options.web_root + "' (build it with <code>make web</code>); the API is at "
                          "<a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
                      "text/html; charset=utf-8");
      return;
    }
    send_error(res, Error{ErrorCode::kNotFound, "no file " + req.path});
    return;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  res.set_content(body.str(), content_type_for(file).c_str());
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
  impl->options = options;
  MS_RETURN_IF_ERROR(impl->bootstrap_admin());
  // A single process owns a SQLite file, so whatever it left running died with it. PostgreSQL
  // may be shared with live servers: only jobs whose lease ran out go back.
  const bool single_owner = impl->db->dialect() == store::Dialect::kSqlite;
  MS_ASSIGN_OR_RETURN(auto requeued, store::requeue_running_jobs(*impl->db, single_owner));
  if (requeued > 0) spdlog::info("{} job(s) left running by a previous process are queued again", requeued);
  impl->runner = std::move(runner);
  impl->ctx.options = options;
  impl->ctx.db = impl->db.get();
  impl->ctx.files = &*impl->files;
  if (impl->runner) {
    WorkerOptions w;
    w.workers = std::max(1, options.workers);
    w.lease_ms = options.job_lease_ms;
    w.poll_ms = options.job_poll_ms;
    w.instance = instance_name();
    impl->workers = std::make_unique<JobWorkers>(*impl->db, *impl->files, *impl->runner, w);
    impl->ctx.workers = impl->workers.get();
    impl->ctx.analysis = impl->runner->name();
    // A runner that also classifies single-cell crops serves /api/recognition.
    impl->ctx.recognizer = dynamic_cast<CellRecognizer*>(impl->runner.get());
    MS_RETURN_IF_ERROR(store::record_models(*impl->db, impl->runner->models()));
  } else {
    impl->ctx.analysis = "unavailable: no analysis pipeline in this server; uploads stay queued";
  }
  return std::unique_ptr<LabServer>(new LabServer(std::move(impl)));
}

Status LabServer::start() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.started) return {};
  m.http = std::make_unique<httplib::Server>();
  httplib::Server& http = *m.http;
  http.set_tcp_nodelay(true);
  // cpp-httplib closes a kept-alive connection after 5 requests by default; the web app polls
  // and pages through cells over one connection, so let it keep the connection longer.
  http.set_keep_alive_max_count(100);
  // One pool thread serves one connection for as long as it is kept alive; the default pool
  // (8 threads on this machine) left a 9th browser tab or client waiting for a whole keep-alive
  // period (p99 1.5 s under wrk -c16). Requests are short (SQL + JSON), so threads are cheap.
  http.new_task_queue = [] { return new httplib::ThreadPool(32); };
  http.set_payload_max_length(m.options.max_upload_bytes);
  http.set_read_timeout(60);
  http.set_write_timeout(60);
  const std::size_t max_upload = m.options.max_upload_bytes;
  http.set_error_handler([max_upload](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 404) message = "no route for " + req.method + " " + req.path;
    if (res.status == 413) message = "request body is over the " + std::to_string(max_upload) + " byte limit";
    if (res.status == 400) message = "malformed HTTP request";
    res.set_content(error_json(Error{error_code_for_status(res.status), message}).dump(),
                    "application/json");
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("{} {}: {}", req.method, req.path, what);
    send_error(res, Error{ErrorCode::kInternal, "internal error"});
  });
  http.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
  });
  m.api = std::make_unique<Api>(http, m.ctx);
  register_auth_routes(*m.api);
  register_patient_routes(*m.api);
  register_image_routes(*m.api);
  register_admin_routes(*m.api);
  register_cell_routes(*m.api);
  register_recognition_routes(*m.api);
  register_export_routes(*m.api);
  register_report_routes(*m.api);
  http.Get(".*", [&m](const httplib::Request& req, httplib::Response& res) { m.serve_static(req, res); });

  if (m.options.port == 0) {
    m.port = http.bind_to_any_port(m.options.host);
    if (m.port <= 0) return fail(ErrorCode::kIo, "could not bind any port on " + m.options.host);
  } else {
    if (!http.bind_to_port(m.options.host, m.options.port))
      return fail(ErrorCode::kIo, "--port " + std::to_string(m.options.port), "a free port on " + m.options.host,
                  "one in use or not permitted");
    m.port = m.options.port;
  }
  m.listener = std::thread([&http] { http.listen_after_bind(); });
  if (m.workers) m.workers->start();
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
  if (m.workers) m.workers->stop();
}

int LabServer::port() const { return impl_->port; }
const std::string& LabServer::generated_admin_password() const { return impl_->generated_password; }
std::string LabServer::database_description() const { return impl_->db->describe(); }

}  // namespace ms::server
