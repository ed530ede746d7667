#pragma once
// `marrowscope serve`: the lab server. One object owns the database, the file store, the HTTP
// server (JSON API under /api/, the web app's files at /) and the analysis workers. Tests start
// it on a free port in-process; the CLI starts it and waits.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "server/crypto.h"
#include "store/analysis_runner.h"

namespace ms::server {

struct ServerOptions {
  std::string data_dir = "var";
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (see LabServer::port())
  std::string db_url;               // empty: sqlite:<data_dir>/marrowscope.db
  int workers = 1;                  // analysis worker threads; 0: none (worker processes analyse)
  std::string web_root = "web/dist";
  std::optional<std::string> admin_password;  // first start; generated when absent
  std::size_t max_upload_bytes = 512u << 20;  // one request (413 above)
  std::size_t max_image_bytes = 64u << 20;    // one field image (413 above)
  std::int64_t max_slide_bytes = 64LL << 30;  // one whole-slide file, uploaded in chunks
  PasswordCost password_cost = PasswordCost::interactive();
  std::int64_t session_ttl_ms = 12LL * 3600 * 1000;  // idle time before a session ends
  int max_login_failures = 5;  // per username and client address per window (20 per address)
  std::int64_t login_window_ms = 15LL * 60 * 1000;
  std::int64_t job_lease_ms = 60000;
  std::int64_t job_poll_ms = 1000;
  bool secure_cookie = false;  // add "Secure" to the session cookie and send HSTS (behind HTTPS)
  // The address of a reverse proxy whose X-Forwarded-For names the client (audit, throttling);
  // empty: the peer address is the client. Other peers' X-Forwarded-For is ignored.
  std::string trusted_proxy;
  // Absolute session lifetime: a session ends this long after sign-in however actively it is
  // used (session_ttl_ms is the sliding idle timeout inside it).
  std::int64_t session_max_age_ms = 7LL * 24 * 3600 * 1000;
  // The shipped classifier's training cells, replayed when an admin adapts the classifier to the
  // lab's cells ("class<TAB>path" lines, paths relative to replay_data); empty: no replay.
  std::string replay_list, replay_data;
};

class LabServer {
 public:
  // Opens the database, applies migrations, creates the admin account on first start, recovers
  // jobs left running by a previous process. `runner` may be null: uploads are then queued and
  // wait for a server that has an analysis pipeline.
  static Result<std::unique_ptr<LabServer>> create(ServerOptions options,
                                                   std::shared_ptr<store::AnalysisRunner> runner);
  ~LabServer();

  // Binds the port and starts HTTP and workers in background threads.
  Status start();
  // Blocks until stop() (from another thread or a signal handler's thread).
  void wait();
  // Stops HTTP, lets workers finish the job in hand, joins every thread. Idempotent.
  void stop();

  int port() const;
  // The generated admin password when this start created the account without
  // MARROWSCOPE_ADMIN_PASSWORD (shown once), else empty.
  const std::string& generated_admin_password() const;
  std::string database_description() const;

  struct Impl;

 private:
  explicit LabServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ms::server
