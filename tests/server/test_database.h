#pragma once
// Databases for tests: a fresh SQLite file in a temporary directory, and, when
// MARROWSCOPE_TEST_PG names a server (scripts/start-test-postgres.sh), a fresh PostgreSQL schema
// of its own (search_path set through the connection URL), dropped afterwards. Tests run the same
// body against each backend with INSTANTIATE_TEST_SUITE_P over test_backends().
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/database.h"

namespace ms::testing {

inline std::vector<std::string> test_backends() {
  std::vector<std::string> b = {"sqlite"};
  const char* pg = std::getenv("MARROWSCOPE_TEST_PG");
  if (pg && *pg) b.push_back("postgresql");
  return b;
}

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// Says, as a skipped test, when the PostgreSQL runs are not configured.
#define MS_POSTGRES_SKIP_NOTICE(Suite)                                                     \
  TEST(Suite, PostgresqlBackend) {                                                         \
    const char* pg = std::getenv("MARROWSCOPE_TEST_PG");                                   \
    if (!pg || !*pg)                                                                       \
      GTEST_SKIP() << "MARROWSCOPE_TEST_PG is not set: the PostgreSQL runs of this suite " \
                      "are skipped; start one with eval \"$(scripts/start-test-postgres.sh)\""; \
    auto db = store::open_database(pg);                                                   \
    ASSERT_TRUE(db) << db.error().message;                                                 \
  }

// A directory removed on destruction.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("marrowscope-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
            "-" + std::to_string(store::now_ms()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

// A database URL for one test: "sqlite:<dir>/lab.db" or the PostgreSQL URL with a fresh schema.
class TestDatabaseUrl {
 public:
  TestDatabaseUrl(const std::string& backend, const TempDir& dir) {
    if (backend == "sqlite") {
      url_ = "sqlite:" + dir.str() + "/lab.db";
      return;
    }
    base_ = std::getenv("MARROWSCOPE_TEST_PG");
    static std::atomic<int> counter{0};
    schema_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
              std::to_string(store::now_ms() % 1000000);
    auto admin = store::open_database(base_);
    if (!admin) throw std::runtime_error("MARROWSCOPE_TEST_PG: " + admin.error().message);
    auto s = (*admin)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      return tx.exec_script("CREATE SCHEMA " + schema_);
    });
    if (!s) throw std::runtime_error("create schema: " + s.error().message);
    url_ = base_ + (base_.find('?') == std::string::npos ? "?" : "&") +
           "options=-csearch_path%3D" + schema_;
  }
  ~TestDatabaseUrl() {
    if (schema_.empty()) return;
    auto admin = store::open_database(base_);
    if (!admin) return;
    (void)(*admin)->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      return tx.exec_script("DROP SCHEMA " + schema_ + " CASCADE");
    });
  }
  const std::string& url() const { return url_; }

 private:
  std::string base_, schema_, url_;
};

}  // namespace ms::testing
