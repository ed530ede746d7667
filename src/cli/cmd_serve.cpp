// `marrowscope serve`: the lab server (JSON API under /api/, the web app at /).
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/app.h"
#include "core/error.h"
#include "server/lab_server.h"

namespace ms::cli {

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Run the lab server: accounts, patients, uploads, analysis jobs");
  auto opts = std::make_shared<server::ServerOptions>();
  auto upload_mb = std::make_shared<std::size_t>(512);
  cmd->add_option("--data-dir", opts->data_dir, "Database (SQLite) and image files")->capture_default_str();
  cmd->add_option("--host", opts->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->port, "TCP port (0: any free port)")->capture_default_str();
  cmd->add_option("--db", opts->db_url,
                  "sqlite:PATH or postgresql://USER@HOST:PORT/DB (default sqlite:<data-dir>/marrowscope.db)");
  cmd->add_option("--workers", opts->workers, "Analysis worker threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--web-root", opts->web_root, "Built web app to serve at /")->capture_default_str();
  cmd->add_option("--max-upload-mb", *upload_mb, "Largest request body in MiB")->capture_default_str()->check(CLI::Range(1, 65536));
  cmd->callback([opts, upload_mb] {
    server::ServerOptions o = *opts;
    o.max_upload_bytes = *upload_mb << 20;
    if (const char* pw = std::getenv("MARROWSCOPE_ADMIN_PASSWORD"); pw && *pw) o.admin_password = pw;
    // Block the stop signals before any thread starts, so that every thread inherits the mask
    // and this thread alone receives them through sigwait().
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // The analysis pipeline is not part of this build yet: uploads are stored and their jobs
    // wait in the queue for a server that has it.
    auto server = value_or_throw(server::LabServer::create(o, nullptr));
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
