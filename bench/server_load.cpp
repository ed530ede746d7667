// Load on the lab server with more clients than handler threads, in two phases:
//  1. mixed: C keep-alive clients for S seconds, 70% reads (review queue page, differential,
//     patient list) and 30% writes (reclassify, confirm, create a patient) on a sample with
//     analysed cells: requests/s, p50/p99 per kind, errors (no answer) and 5xx;
//  2. stalled: T clients that send half a request and stall (reconnecting when the server drops
//     them) while N normal clients read: the normal clients' p50/p99.
// A benchmark, not a test: it prints numbers for docs/RESULTS.md and exits 1 only when a request
// failed or answered 5xx.
//
//   build/bench_server_load [--db postgresql://...] [--clients 64] [--seconds 60]
//                           [--stalled 40] [--normal 8] [--stall-seconds 20] [--fields 10] [--cells 50]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../tests/server/raw_http_client.h"
#include "server_bench_client.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  std::mutex mu;
  std::map<std::string, std::vector<double>> ms;  // latency per kind
  std::atomic<long> errors{0}, server_errors{0}, client_errors{0};
  void add(const std::string& kind, double v) {
    std::lock_guard<std::mutex> lock(mu);
    ms[kind].push_back(v);
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

long rss_mib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE) / (1 << 20);
}

void print_stats(const char* phase, Stats& st, double seconds) {
  std::size_t total = 0;
  std::vector<double> all;
  for (auto& [kind, v] : st.ms) {
    total += v.size();
    all.insert(all.end(), v.begin(), v.end());
    std::printf("  %-28s %8zu req  p50 %7.2f ms  p99 %7.2f ms\n", kind.c_str(), v.size(), percentile(v, 0.5), percentile(v, 0.99));
  }
  std::printf("%s: %.0f requests/s over %.0f s, p50 %.2f ms, p99 %.2f ms, errors %ld, 5xx %ld, 4xx %ld\n", phase,
              static_cast<double>(total) / seconds, seconds, percentile(all, 0.5), percentile(all, 0.99), st.errors.load(),
              st.server_errors.load(), st.client_errors.load());
}

}  // namespace

int main(int argc, char** argv) {
  std::string db;
  int clients = 64, seconds = 60, stalled = 40, normal = 8, stall_seconds = 20, fields = 10, cells = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--db") db = v;
    else if (k == "--clients") clients = std::stoi(v);
    else if (k == "--seconds") seconds = std::stoi(v);
    else if (k == "--stalled") stalled = std::stoi(v);
    else if (k == "--normal") normal = std::stoi(v);
    else if (k == "--stall-seconds") stall_seconds = std::stoi(v);
    else if (k == "--fields") fields = std::stoi(v);
    else if (k == "--cells") cells = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    ms::bench::BenchServer s(std::make_shared<ms::bench::SyntheticRunner>(cells), 1, db);
    httplib::Client c("127.0.0.1", s.port());
    const auto sample = s.make_sample(c, "LOAD-1");
    s.seed_fields(c, sample, fields);
    const std::string sid = std::to_string(sample);
    std::vector<std::int64_t> cell_ids;
    auto list = c.Get(("/api/samples/" + sid + "/cells?limit=5000").c_str(), s.headers());
    if (!list || list->status != 200) throw std::runtime_error("bench: the cell list failed");
    const auto listed = nlohmann::json::parse(list->body);
    for (const auto& item : listed["items"]) cell_ids.push_back(item["id"].get<std::int64_t>());
    if (cell_ids.empty())
      throw std::runtime_error("bench: the sample has no cells (" + list->body.substr(0, 200) + ")");
    std::printf("machine: %u cores, %s; database %s; %zu cells in the sample; server RSS after seeding %ld MiB\n",
                std::thread::hardware_concurrency(), cpu_model().c_str(), db.empty() ? "SQLite" : "PostgreSQL",
                cell_ids.size(), rss_mib());

    // Phase 1: mixed reads and writes.
    Stats mixed;
    std::atomic<long> created{0};
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        httplib::Client cl("127.0.0.1", s.port());
        cl.set_keep_alive(true);
        cl.set_read_timeout(30);
        std::mt19937 rng(static_cast<unsigned>(t * 7919 + 1));
        const char* classes[] = {"lymphocyte", "monocyte", "eosinophil", "segmented_neutrophil", "myelocyte"};
        while (Clock::now() < until) {
          const int pick = static_cast<int>(rng() % 100);
          const auto cell = cell_ids[rng() % cell_ids.size()];
          const auto start = Clock::now();
          std::string kind;
          auto send = [&]() -> httplib::Result {
            if (pick < 30) {
              kind = "GET cells?order=attention";
              return cl.Get(("/api/samples/" + sid + "/cells?order=attention&limit=100").c_str(), s.headers());
            }
            if (pick < 50) {
              kind = "GET differential";
              return cl.Get(("/api/samples/" + sid + "/differential").c_str(), s.headers());
            }
            if (pick < 70) {
              kind = "GET patients";
              return cl.Get("/api/patients?page_size=50", s.headers());
            }
            if (pick < 80) {
              kind = "PATCH cell class";
              return cl.Patch(("/api/cells/" + std::to_string(cell)).c_str(), s.headers(),
                              nlohmann::json{{"class", classes[rng() % 5]}}.dump(), "application/json");
            }
            if (pick < 90) {
              kind = "PATCH cell confirmed";
              return cl.Patch(("/api/cells/" + std::to_string(cell)).c_str(), s.headers(), R"({"confirmed":true})",
                              "application/json");
            }
            kind = "POST patients";
            const long n = created++;
            return cl.Post("/api/patients", s.headers(),
                           nlohmann::json{{"identifier", "LOAD-" + std::to_string(t) + "-" + std::to_string(n)},
                                          {"name", "Load " + std::to_string(n)}}
                               .dump(),
                           "application/json");
          };
          auto r = send();
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
          if (!r) {
            ++mixed.errors;
            continue;
          }
          if (r->status >= 500) ++mixed.server_errors;
          else if (r->status >= 400) ++mixed.client_errors;
          mixed.add(kind, ms);
        }
      });
    }
    for (auto& th : threads) th.join();
    threads.clear();
    print_stats(("mixed, " + std::to_string(clients) + " clients").c_str(), mixed, seconds);
    std::printf("server RSS after the mixed phase: %ld MiB\n", rss_mib());

    // Phase 2: stalled clients beside normal ones.
    Stats calm;
    std::atomic<bool> stop{false};
    std::atomic<long> reconnects{0};
    std::thread staller([&] {
      std::vector<std::unique_ptr<ms::testing::RawClient>> held;
      while (!stop) {
        held.erase(std::remove_if(held.begin(), held.end(), [](auto& h) { return h->closed_within(0); }), held.end());
        while (static_cast<int>(held.size()) < stalled) {
          held.push_back(std::make_unique<ms::testing::RawClient>(s.port()));
          held.back()->send(held.size() % 2 ? "GET /api/health HTTP/1.1\r\nHo" : "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
          ++reconnects;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto calm_until = Clock::now() + std::chrono::seconds(stall_seconds);
    for (int t = 0; t < normal; ++t) {
      threads.emplace_back([&, t] {
        httplib::Client cl("127.0.0.1", s.port());
        cl.set_keep_alive(true);
        cl.set_read_timeout(30);
        while (Clock::now() < calm_until) {
          const auto start = Clock::now();
          auto r = t % 2 ? cl.Get(("/api/samples/" + sid + "/cells?order=attention&limit=100").c_str(), s.headers())
                         : cl.Get("/api/health");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
          if (!r) {
            ++calm.errors;
            continue;
          }
          if (r->status >= 500) ++calm.server_errors;
          else if (r->status >= 400) ++calm.client_errors;
          calm.add(t % 2 ? "GET cells?order=attention" : "GET health", ms);
        }
      });
    }
    for (auto& th : threads) th.join();
    stop = true;
    staller.join();
    print_stats(("normal clients beside " + std::to_string(stalled) + " stalled").c_str(), calm, stall_seconds);
    std::printf("stalled connections opened: %ld (the server drops a stalled head after its 10 s deadline)\n",
                reconnects.load());
    const bool ok = mixed.errors == 0 && mixed.server_errors == 0 && calm.errors == 0 && calm.server_errors == 0;
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_server_load: %s\n", e.what());
    return 1;
  }
}
