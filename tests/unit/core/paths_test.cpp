#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/paths.h"

namespace ms {
namespace {

namespace fs = std::filesystem;

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  explicit ScopedEnv(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) saved_ = v, had_ = true;
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, saved_.c_str(), 1) : ::unsetenv(name_); }
  void set(const std::string& v) const { ::setenv(name_, v.c_str(), 1); }
  void unset() const { ::unsetenv(name_); }

 private:
  const char* name_;
  std::string saved_;
  bool had_ = false;
};

TEST(Paths, BuildTreeBinaryFindsTheRepositoryRoot) {
  ScopedEnv home("MARROWSCOPE_HOME"), models("MARROWSCOPE_MODELS");
  home.unset();
  models.unset();
  // The test binary lives in a build folder below the repository root, which holds configs/.
  if (!fs::is_directory(fs::path(MARROWSCOPE_SOURCE_DIR) / "configs") &&
      !fs::is_directory(fs::path(MARROWSCOPE_SOURCE_DIR) / "models"))
    GTEST_SKIP() << "no configs/ or models/ in the source tree";
  EXPECT_EQ(fs::canonical(install_root()), fs::canonical(MARROWSCOPE_SOURCE_DIR));
  EXPECT_EQ(fs::path(default_model_dir("detector")), fs::path(install_root()) / "models" / "detector");
  EXPECT_EQ(fs::path(config_path("detector/baseline.json")),
            fs::path(install_root()) / "configs" / "detector" / "baseline.json");
}

TEST(Paths, EnvironmentOverrides) {
  ScopedEnv home("MARROWSCOPE_HOME"), models("MARROWSCOPE_MODELS");
  home.set("/opt/marrowscope");
  models.unset();
  EXPECT_EQ(install_root(), "/opt/marrowscope");
  EXPECT_EQ(default_model_dir("classifier"), "/opt/marrowscope/models/classifier");
  EXPECT_EQ(config_path("classifier/vit.json"), "/opt/marrowscope/configs/classifier/vit.json");
  models.set("/srv/models");
  EXPECT_EQ(default_model_dir("classifier"), "/srv/models/classifier");
  home.set("");  // empty counts as unset
  EXPECT_NE(install_root(), "");
}

}  // namespace
}  // namespace ms
