// Requests/s and latency of the review queue's cell list: GET /api/samples/{id}/cells in the
// "needs attention" order, a page of 100 cells, over keep-alive HTTP from C concurrent clients,
// against a real server and SQLite database holding a marrow sample of F fields x N cells.
// The cells come from a synthetic runner (no model), so this measures the server and database.
//   build/bench_server_cell_list [clients=4] [seconds=10] [fields=10] [cells_per_field=50]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "server_bench_client.h"

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 4;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  const int fields = argc > 3 ? std::atoi(argv[3]) : 10;
  const int per_field = argc > 4 ? std::atoi(argv[4]) : 50;
  ms::bench::BenchServer s(std::make_shared<ms::bench::SyntheticRunner>(per_field), 1);
  httplib::Client c("127.0.0.1", s.port());
  const auto sample = s.make_sample(c, "BENCH-LIST");
  const auto progress = s.seed_fields(c, sample, fields);
  const std::string path = "/api/samples/" + std::to_string(sample) + "/cells?order=attention&limit=100";

  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client cl("127.0.0.1", s.port());
      cl.set_keep_alive(true);
      while (!stop) {
        const auto a = std::chrono::steady_clock::now();
        auto r = cl.Get(path.c_str(), s.headers());
        const auto b = std::chrono::steady_clock::now();
        if (!r || r->status != 200) ++errors;
        latencies[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::milli>(b - a).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, size_t(q * all.size()))]; };
  std::printf("cell list: sample of %lld cells, page of 100, order=attention, %d clients, %.1f s\n",
              static_cast<long long>(progress["cells"].get<long long>()), clients, elapsed);
  std::printf("requests %zu, errors %ld, requests/s %.0f, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", all.size(),
              errors.load(), all.size() / elapsed, pct(0.5), pct(0.99), all.empty() ? 0.0 : all.back());
  return errors == 0 ? 0 : 1;
}
