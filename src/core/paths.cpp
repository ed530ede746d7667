#include "core/paths.h"

#include <cstdlib>
#include <filesystem>

namespace ms {
namespace fs = std::filesystem;

std::string install_root() {
  if (const char* home = std::getenv("MARROWSCOPE_HOME"); home && *home) return home;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      if (fs::is_directory(dir / "models", ec) || fs::is_directory(dir / "configs", ec))
        return dir.string();
      if (dir == dir.root_path()) break;
    }
  }
  return fs::current_path(ec).string();
}

std::string default_model_dir(const std::string& name) {
  if (const char* m = std::getenv("MARROWSCOPE_MODELS"); m && *m) return (fs::path(m) / name).string();
  return (fs::path(install_root()) / "models" / name).string();
}

std::string config_path(const std::string& relative) {
  return (fs::path(install_root()) / "configs" / relative).string();
}

}  // namespace ms
