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

#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "server_bench_client.h"

namespace {

class SyntheticRunner : public ms::store::AnalysisRunner {
 public:
  explicit SyntheticRunner(int cells) : cells_(cells) {}
  std::string name() const override { return "synthetic (benchmark)"; }
  ms::Result<ms::store::AnalysisOutput> analyse(const ms::store::AnalysisInput&,
                                                const std::function<void(double)>&) override {
    const char* classes[] = {"segmented_neutrophil", "lymphocyte", "monocyte", "eosinophil", "myelocyte"};
    ms::store::AnalysisOutput out;
    out.detector_version = "synthetic";
    out.classifier_version = "synthetic";
    for (int k = 0; k < cells_; ++k) {
      ms::store::AnalysedCell c;
      c.box = ms::Box{float(10 * (k % 20)), float(10 * (k / 20)), float(10 * (k % 20) + 40), float(10 * (k / 20) + 40)};
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

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 4;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  const int fields = argc > 3 ? std::atoi(argv[3]) : 10;
  const int per_field = argc > 4 ? std::atoi(argv[4]) : 50;
  ms::bench::BenchServer s(std::make_shared<SyntheticRunner>(per_field), 1);
  httplib::Client c("127.0.0.1", s.port());
  const auto sample = s.make_sample(c, "BENCH-LIST");
  httplib::MultipartFormDataItems items;
  for (int k = 0; k < fields; ++k) {
    cv::Mat img(64, 64, CV_8UC3, cv::Scalar(k * 20 % 256, 100, 200));
    auto png = ms::encode_image(img, ".png");
    items.push_back({"files", std::string(png->begin(), png->end()), "f" + std::to_string(k) + ".png", "image/png"});
  }
  auto up = c.Post(("/api/samples/" + std::to_string(sample) + "/images").c_str(), s.headers(), items);
  if (!up || up->status != 201) {
    std::fprintf(stderr, "upload failed\n");
    return 1;
  }
  const auto progress = s.wait_for_jobs(c, sample);
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
