// Load test of GET /api/samples/{id}/differential over real HTTP: a lab server in this process
// (SQLite in a temporary directory unless --db names another database), one bone-marrow sample
// holding --cells cells spread over every PBC class (a quarter of them reviewed), and
// --connections keep-alive clients issuing requests back to back for --seconds. Prints
// requests/s and latency percentiles (ms) as one JSON line.
//   build/bench_report_api --cells 500 --connections 4 --seconds 10
// Each request authenticates its session cookie, reads the sample, groups the cells by class in
// SQL and computes the differential, three rule-set suggestions and the JSON answer.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "core/config.h"
#include "server/lab_server.h"
#include "store/database.h"

namespace {

struct BenchArgs {
  int cells = 500, connections = 4, seconds = 10;
  std::string db;
};

BenchArgs parse_args(int argc, char** argv) {
  BenchArgs a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--cells") a.cells = std::stoi(v);
    else if (k == "--connections") a.connections = std::stoi(v);
    else if (k == "--seconds") a.seconds = std::stoi(v);
    else if (k == "--db") a.db = v;
    else throw std::runtime_error("unknown option " + k + " (--cells --connections --seconds --db)");
  }
  if (a.cells < 1 || a.connections < 1 || a.seconds < 1)
    throw std::runtime_error("--cells, --connections and --seconds must be positive");
  return a;
}

ms::Json expect_json(const httplib::Result& r, int status, const std::string& what) {
  if (!r || r->status != status)
    throw std::runtime_error(what + ": HTTP " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
  return ms::Json::parse(r->body);
}

void insert_cells(const std::string& url, std::int64_t sample_id, int n) {
  static const char* classes[] = {"segmented_neutrophil", "band_neutrophil", "lymphocyte", "monocyte",
                                  "eosinophil", "basophil", "myelocyte", "metamyelocyte",
                                  "promyelocyte", "erythroblast", "platelet"};
  auto db = ms::value_or_throw(ms::store::open_database(url));
  ms::value_or_throw(db->transact(ms::store::TxMode::kWrite, [&](ms::store::Tx& tx) -> ms::Status {
    const auto now = ms::store::now_ms();
    MS_ASSIGN_OR_RETURN(auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, "
                                              "width, height, bytes, created_at) VALUES (?, 'bench', "
                                              "'f.png', 'PNG', 2048, 1536, 1, ?) RETURNING id",
                                              {sample_id, now}));
    MS_ASSIGN_OR_RETURN(auto job, tx.insert("INSERT INTO jobs (image_id, sample_id, status, progress, "
                                            "created_at) VALUES (?, ?, 'done', 1, ?) RETURNING id",
                                            {image, sample_id, now}));
    for (int k = 0; k < n; ++k) {
      const std::string suggested = classes[k % 11];
      const bool reviewed = k % 4 == 0;
      MS_RETURN_IF_ERROR(tx.exec(
          "INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
          "suggested_class, probability, reviewed_class, confirmed, created_at, updated_at) "
          "VALUES (?, ?, ?, ?, 1, 1, 60, 60, 0.9, ?, 0.8, ?, ?, ?, ?)",
          {job, k, image, sample_id, suggested,
           reviewed ? ms::store::Value(classes[(k / 4) % 11]) : ms::store::Value(), reviewed, now, now}));
    }
    return {};
  }));
}

}  // namespace

int main(int argc, char** argv) try {
  const BenchArgs a = parse_args(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("marrowscope-bench-" + std::to_string(::getpid()));
  ms::server::ServerOptions o;
  o.data_dir = dir.string();
  o.port = 0;
  o.db_url = a.db.empty() ? "sqlite:" + (dir / "bench.db").string() : a.db;
  o.admin_password = "bench-password-1";
  o.password_cost = ms::server::PasswordCost::minimum();
  auto server = ms::value_or_throw(ms::server::LabServer::create(o, nullptr));
  ms::value_or_throw(server->start());
  const int port = server->port();

  httplib::Client c("127.0.0.1", port);
  auto login = c.Post("/api/auth/login", ms::Json{{"username", "admin"}, {"password", *o.admin_password}}.dump(),
                      "application/json");
  const ms::Json session = expect_json(login, 200, "login");
  const std::string set_cookie = login->get_header_value("Set-Cookie");
  const httplib::Headers headers{{"Cookie", set_cookie.substr(0, set_cookie.find(';'))},
                                 {"X-CSRF-Token", session["csrf_token"].get<std::string>()}};
  const std::string tag = std::to_string(ms::store::now_ms());
  const auto patient = expect_json(c.Post("/api/patients", headers,
                                          ms::Json{{"identifier", "BENCH-" + tag}, {"name", "Bench"}}.dump(),
                                          "application/json"),
                                   201, "create patient");
  const auto sample = expect_json(
      c.Post(("/api/patients/" + std::to_string(patient["id"].get<int>()) + "/samples").c_str(), headers,
             ms::Json{{"accession", "BENCH-" + tag}, {"specimen", "bone_marrow"}}.dump(), "application/json"),
      201, "create sample");
  const std::int64_t sample_id = sample["id"].get<std::int64_t>();
  insert_cells(o.db_url, sample_id, a.cells);
  const std::string path = "/api/samples/" + std::to_string(sample_id) + "/differential";
  const auto check = expect_json(c.Get(path.c_str(), headers), 200, "differential");
  if (check["cells"].get<int>() != a.cells) throw std::runtime_error("differential lost cells: " + check.dump());

  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<std::vector<double>> latencies(a.connections);
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int w = 0; w < a.connections; ++w)
    threads.emplace_back([&, w] {
      httplib::Client cl("127.0.0.1", port);
      cl.set_keep_alive(true);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto s = std::chrono::steady_clock::now();
        auto r = cl.Get(path.c_str(), headers);
        const auto e = std::chrono::steady_clock::now();
        if (!r || r->status != 200) ++errors;
        latencies[w].push_back(std::chrono::duration<double, std::milli>(e - s).count());
      }
    });
  std::this_thread::sleep_for(std::chrono::seconds(a.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p / 100.0 * all.size()))];
  };
  std::cout << ms::Json{{"route", "GET /api/samples/{id}/differential"},
                        {"database", server->database_description()},
                        {"cells", a.cells},
                        {"connections", a.connections},
                        {"seconds", elapsed},
                        {"requests", all.size()},
                        {"errors", errors.load()},
                        {"requests_per_s", all.size() / elapsed},
                        {"p50_ms", pct(50)},
                        {"p90_ms", pct(90)},
                        {"p99_ms", pct(99)},
                        {"max_ms", all.empty() ? 0.0 : all.back()}}
                   .dump()
            << std::endl;
  server->stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return errors.load() == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "bench_report_api: " << e.what() << std::endl;
  return 1;
}
