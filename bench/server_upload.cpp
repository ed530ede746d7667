// Upload-to-analysed throughput with the shipped models: F real txl-pbc validation fields are
// uploaded in one multipart request to a real server (SQLite, W workers sharing one pipeline),
// and the clock stops when the last analysis job is done. Reports fields/s and cells/hour.
//   build/bench_server_upload [fields=20] [workers=1] [data=../shared/data/txl-pbc/images/val]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/image.h"
#include "core/paths.h"
#include "models/runtime.h"
#include "server/pipeline_runner.h"
#include "server_bench_client.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const int fields = argc > 1 ? std::atoi(argv[1]) : 20;
  const int workers = argc > 2 ? std::atoi(argv[2]) : 1;
  const std::string data = argc > 3 ? argv[3] : "../shared/data/txl-pbc/images/val";
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data, ec)) paths.push_back(e.path().string());
  if (ec || paths.empty()) {
    std::fprintf(stderr, "no fields under %s\n", data.c_str());
    return 1;
  }
  std::sort(paths.begin(), paths.end());
  paths.resize(std::min<size_t>(paths.size(), static_cast<size_t>(fields)));
  const int threads = ms::init_torch_runtime();
  auto runner = ms::value_or_throw(
      ms::server::PipelineRunner::load(ms::default_model_dir("detector"), ms::default_model_dir("classifier")));
  ms::bench::BenchServer s(runner, workers);
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(600);
  const auto sample = s.make_sample(c, "BENCH-UPLOAD");
  httplib::MultipartFormDataItems items;
  for (const auto& p : paths) {
    auto bytes = ms::value_or_throw(ms::read_file_bytes(p));
    items.push_back({"files", std::string(bytes.begin(), bytes.end()), fs::path(p).filename().string(), "image/png"});
  }
  const auto start = std::chrono::steady_clock::now();
  auto up = c.Post(("/api/samples/" + std::to_string(sample) + "/images").c_str(), s.headers(), items);
  if (!up || up->status != 201) {
    std::fprintf(stderr, "upload failed: %s\n", up ? up->body.c_str() : "no response");
    return 1;
  }
  const auto uploaded = std::chrono::steady_clock::now();
  const auto p = s.wait_for_jobs(c, sample);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double upload_s = std::chrono::duration<double>(uploaded - start).count();
  const long long cells = p["cells"].get<long long>();
  std::printf("%s\n", runner->name().c_str());
  std::printf("fields %zu (done %lld, failed %lld), cells %lld, workers %d, torch threads %d\n", paths.size(),
              p["done"].get<long long>(), p["failed"].get<long long>(), cells, workers, threads);
  std::printf("upload request %.2f s, upload-to-analysed %.2f s: %.2f fields/s, %.0f cells/hour\n", upload_s, total,
              paths.size() / total, cells / total * 3600.0);
  return p["failed"].get<long long>() == 0 ? 0 : 1;
}
