// A lab server for outside load generators (bench/wrk_server.sh): starts a real server (SQLite in a
// fresh data directory, or the PostgreSQL database named) on a free port, fills one marrow sample with F fields x N analysed cells
// through the synthetic runner (as bench_server_cell_list does), signs in as admin, prints what a
// client needs, and serves until SIGINT or SIGTERM:
//   port=<port>
//   sample=<sample id>
//   cells=<cells in the sample>
//   cookie=ms_session=<token>
//   csrf=<token>
//   ready
//
//   build/bench_server_seeded [fields=10] [cells_per_field=50] [postgresql://... (default SQLite)]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server_bench_client.h"

int main(int argc, char** argv) {
  const int fields = argc > 1 ? std::atoi(argv[1]) : 10;
  const int per_field = argc > 2 ? std::atoi(argv[2]) : 50;
  const std::string db = argc > 3 ? argv[3] : "";
  if (fields < 1 || fields > 1000 || per_field < 1 || per_field > 1000) {
    std::fprintf(stderr, "usage: bench_server_seeded [fields 1..1000] [cells_per_field 1..1000] [postgresql://...]\n");
    return 2;
  }
  // Block the stop signals before any server thread starts (threads inherit the mask), then wait
  // for one on this thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  try {
    ms::bench::BenchServer s(std::make_shared<ms::bench::SyntheticRunner>(per_field), 1, db);
    httplib::Client c("127.0.0.1", s.port());
    const auto sample = s.make_sample(c, "BENCH-WRK");
    const auto progress = s.seed_fields(c, sample, fields);
    std::printf("port=%d\nsample=%lld\ncells=%lld\ncookie=%s\ncsrf=%s\nready\n", s.port(),
                static_cast<long long>(sample), static_cast<long long>(progress["cells"].get<long long>()),
                s.cookie.c_str(), s.csrf.c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_server_seeded: %s\n", e.what());
    return 1;
  }
  return 0;
}
