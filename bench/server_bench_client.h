#pragma once
// Shared by the server benchmarks: an in-process lab server on a free port with a fresh SQLite
// database in a temporary directory, signed in over HTTP like a browser, and a synthetic analysis
// runner that fills a sample with cells without a model.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "core/image.h"
#include "server/crypto.h"
#include "server/lab_server.h"

namespace ms::bench {

// `cells` cells per field in a 20-wide grid of 40 px boxes, five classes of the report taxonomy in
// turn, probabilities spread over [0.3, 1) so the review orders and flags have work to do. No
// model: benchmarks that use it measure HTTP, sessions, SQL and JSON.
class SyntheticRunner : public store::AnalysisRunner {
 public:
  explicit SyntheticRunner(int cells) : cells_(cells) {}
  std::string name() const override { return "synthetic (benchmark)"; }
  Result<store::AnalysisOutput> analyse(const store::AnalysisInput&,
                                        const std::function<void(double)>&) override {
    const char* classes[] = {"segmented_neutrophil", "lymphocyte", "monocyte", "eosinophil", "myelocyte"};
    store::AnalysisOutput out;
    out.detector_version = "synthetic";
    out.classifier_version = "synthetic";
    for (int k = 0; k < cells_; ++k) {
      store::AnalysedCell c;
      c.box = Box{float(10 * (k % 20)), float(10 * (k / 20)), float(10 * (k % 20) + 40), float(10 * (k / 20) + 40)};
      c.det_score = 0.9f;
      c.cell_class = classes[k % 5];
      c.probability = 0.3f + 0.7f * float((k * 37) % 100) / 100.f;
      c.top_k = {{c.cell_class, c.probability}, {classes[(k + 1) % 5], 1.f - c.probability}};
      c.entropy = 1.f - c.probability;
      c.flagged = c.probability < 0.6f;
      out.cells.push_back(c);
    }
    return out;
  }

 private:
  int cells_;
};

struct BenchServer {
  std::filesystem::path dir;
  std::unique_ptr<server::LabServer> server;
  std::string cookie, csrf;

  // Starts the server with `runner` on `db_url` (empty: SQLite in the temporary directory);
  // throws on failure (a benchmark cannot go on).
  BenchServer(std::shared_ptr<store::AnalysisRunner> runner, int workers, const std::string& db_url = "") {
    dir = std::filesystem::temp_directory_path() / ("marrowscope-bench-" + server::random_hex(6));
    server::ServerOptions o;
    o.data_dir = dir.string();
    o.db_url = db_url;
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
  // Uploads `fields` distinct 64 x 64 PNG fields to the sample and waits until they are analysed;
  // returns the final progress object. Throws when the upload is refused.
  nlohmann::json seed_fields(httplib::Client& c, std::int64_t sample, int fields) const {
    httplib::MultipartFormDataItems items;
    for (int k = 0; k < fields; ++k) {
      cv::Mat img(64, 64, CV_8UC3, cv::Scalar(k * 20 % 256, 100 + k / 13, 200));
      auto png = value_or_throw(encode_image(img, ".png"));
      items.push_back({"files", std::string(png.begin(), png.end()), "f" + std::to_string(k) + ".png", "image/png"});
    }
    auto up = c.Post(("/api/samples/" + std::to_string(sample) + "/images").c_str(), headers(), items);
    if (!up || up->status != 201) throw std::runtime_error("bench: upload failed");
    return wait_for_jobs(c, sample);
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
