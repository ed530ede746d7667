// `marrowscope serve`: the lab server (JSON API under /api/, the web app at /).
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/analysis_models.h"
#include "cli/app.h"
#include "core/error.h"
#include "server/lab_server.h"
#include "server/pipeline_runner.h"

namespace ms::cli {

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Run the lab server: accounts, patients, uploads, analysis jobs");
  auto opts = std::make_shared<server::ServerOptions>();
  auto upload_mb = std::make_shared<std::size_t>(512);
  auto models = std::make_shared<AnalysisModelFlags>();
  auto no_analysis = std::make_shared<bool>(false);
  cmd->add_option("--data-dir", opts->data_dir, "Database (SQLite) and image files")->capture_default_str();
  cmd->add_option("--host", opts->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->port, "TCP port (0: any free port)")->capture_default_str();
  cmd->add_option("--db", opts->db_url,
                  "sqlite:PATH or postgresql://USER@HOST:PORT/DB (default sqlite:<data-dir>/marrowscope.db)");
  cmd->add_option("--workers", opts->workers,
                  "Analysis worker threads (0: none; `marrowscope worker` processes analyse the queue)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  cmd->add_option("--web-root", opts->web_root, "Built web app to serve at /")->capture_default_str();
  cmd->add_option("--max-upload-mb", *upload_mb, "Largest request body in MiB")->capture_default_str()->check(CLI::Range(1, 65536));
  add_analysis_model_options(cmd, *models);
  cmd->add_flag("--secure-cookie", opts->secure_cookie,
                "Mark the session cookie Secure and send Strict-Transport-Security (serve behind HTTPS)");
  cmd->add_option("--trusted-proxy", opts->trusted_proxy,
                  "Address of the TLS-terminating reverse proxy: its X-Forwarded-For names the client; implies --secure-cookie");
  cmd->add_option("--replay-list", opts->replay_list,
                  "The classifier's training cells (class<TAB>path lines, e.g. models/classifier/split/train.txt), "
                  "replayed when an admin adapts it to the lab's cells");
  cmd->add_option("--replay-data", opts->replay_data, "Folder the --replay-list paths start at (e.g. ../shared/data/pbc)");
  cmd->add_flag("--no-analysis", *no_analysis,
                "Run without the analysis pipeline (no models loaded, no recognition): uploads stay "
                "queued for a server or worker that has it");
  cmd->callback([opts, upload_mb, models, no_analysis] {
    server::ServerOptions o = *opts;
    if (!o.trusted_proxy.empty()) o.secure_cookie = true;
    o.max_upload_bytes = *upload_mb << 20;
    if (o.replay_list.empty() != o.replay_data.empty())
      throw MarrowError(ErrorCode::kInvalidArgument, "--replay-list and --replay-data go together");
    if (char* pw = std::getenv("MARROWSCOPE_ADMIN_PASSWORD"); pw && *pw) {
      o.admin_password = std::string(pw);
      // The password must not stay readable in this process's environment (/proc/PID/environ
      // shows the original bytes, so they are overwritten, not only unset).
      std::memset(pw, 0, std::strlen(pw));
      unsetenv("MARROWSCOPE_ADMIN_PASSWORD");
    }
    sigset_t stop_signals = block_stop_signals();
    // One pipeline shared by every worker thread (and by recognition, also with --workers 0).
    std::shared_ptr<server::PipelineRunner> runner;
    if (!*no_analysis) {
      runner = load_analysis_runner(*models, "start with --no-analysis to queue uploads without analysing them");
      std::cout << "marrowscope serve: " << runner->name() << ", " << o.workers << " worker thread(s)"
                << (o.workers == 0 ? " (queued jobs wait for `marrowscope worker` processes)" : "")
                << std::endl;
    }
    auto server = value_or_throw(server::LabServer::create(o, runner));
    value_or_throw(server->start());
    if (!server->generated_admin_password().empty())
      std::cout << "Created account 'admin' with password: " << server->generated_admin_password()
                << "\n(shown once; set MARROWSCOPE_ADMIN_PASSWORD to choose it)\n";
    std::cout << "marrowscope serve: http://" << o.host << ":" << server->port() << "/ (database "
              << server->database_description() << ")" << std::endl;
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::cout << "marrowscope serve: stopping (signal " << sig << ")" << std::endl;
    server->stop();
  });
}

}  // namespace ms::cli
