#pragma once
// Shared by the server benchmarks: an in-process lab server on a free port with a fresh SQLite
// database in a temporary directory, signed in over HTTP like a browser.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/crypto.h"
#include "server/lab_server.h"

namespace ms::bench {

struct BenchServer {
  std::filesystem::path dir;
  std::unique_ptr<server::LabServer> server;
  std::string cookie, csrf;

  // Starts the server with `runner`; throws on failure (a benchmark cannot go on).
  BenchServer(std::shared_ptr<store::AnalysisRunner> runner, int workers) {
    dir = std::filesystem::temp_directory_path() / ("marrowscope-bench-" + server::random_hex(6));
    server::ServerOptions o;
    o.data_dir = dir.string();
    o.port = 0;
    o.workers = workers;
    o.admin_password = "bench-password-1";
    o.password_cost = server::PasswordCost::minimum();
    o.job_poll_ms = 50;
    server = value_or_throw(server::LabServer::create(o, std::move(runner)));
    value_or_throw(server->start());
    httplib::Client c("127.0.0.1", server->port());
    auto r = c.Post("/api/auth/login", R"({"username":"admin","password":"bench-password-1"})", "application/json");
    if (!r || r->status != 200) throw std::runtime_error("bench: sign-in failed");
    const std::string set = r->get_header_value("Set-Cookie");
    cookie = set.substr(0, set.find(';'));
    csrf = nlohmann::json::parse(r->body)["csrf_token"].get<std::string>();
  }
  ~BenchServer() {
    server->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  httplib::Headers headers() const { return {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}; }
  int port() const { return server->port(); }

  // A patient with one bone-marrow sample; returns the sample id.
  std::int64_t make_sample(httplib::Client& c, const std::string& accession) const {
    auto p = c.Post("/api/patients", headers(),
                    nlohmann::json{{"identifier", "MRN-" + accession}, {"name", "Bench " + accession}}.dump(),
                    "application/json");
    if (!p || p->status != 201) throw std::runtime_error("bench: patient not created");
    const auto pid = nlohmann::json::parse(p->body)["id"].get<std::int64_t>();
    auto s = c.Post(("/api/patients/" + std::to_string(pid) + "/samples").c_str(), headers(),
                    nlohmann::json{{"accession", accession}, {"specimen", "bone_marrow"}}.dump(), "application/json");
    if (!s || s->status != 201) throw std::runtime_error("bench: sample not created");
    return nlohmann::json::parse(s->body)["id"].get<std::int64_t>();
  }
  // Polls progress until no job is queued or running; returns the last progress object.
  nlohmann::json wait_for_jobs(httplib::Client& c, std::int64_t sample) const {
    for (;;) {
      auto r = c.Get(("/api/samples/" + std::to_string(sample) + "/progress").c_str(), headers());
      if (r && r->status == 200) {
        auto p = nlohmann::json::parse(r->body);
        if (p["queued"] == 0 && p["running"] == 0) return p;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

}  // namespace ms::bench
