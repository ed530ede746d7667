// `marrowscope info`: what this build links and how many threads it will use.
#include <iostream>

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include "cli/app.h"
#include "models/runtime.h"

namespace ms::cli {
void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show build, thread and BLAS configuration");
  cmd->callback([] {
    const int threads = init_torch_runtime();
    std::cout << "marrowscope 0.1.0\n"
              << "threads: " << threads << " (MARROWSCOPE_THREADS overrides)\n"
              << at::get_parallel_info();
  });
}
}  // namespace ms::cli
