#pragma once
// Runs the real `marrowscope` binary from a test, as a user's shell would.
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

namespace ms::testing {

struct RunResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs `marrowscope <args>`; arguments are single-quoted for the shell.
inline RunResult run_cli(const std::vector<std::string>& args) {
  std::string cmd = "'" MARROWSCOPE_BINARY "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) r.output.append(buf, n);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

}  // namespace ms::testing
