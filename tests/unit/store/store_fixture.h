#pragma once
// One migrated database per test, for each backend in test_backends().
#include <gtest/gtest.h>

#include "server/test_database.h"
#include "store/database.h"
#include "store/schema.h"

namespace ms::store {

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    url_ = std::make_unique<ms::testing::TestDatabaseUrl>(GetParam(), dir_);
    auto db = open_database(url_->url());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    auto m = migrate(*db_);
    ASSERT_TRUE(m) << m.error().message;
  }
  void TearDown() override {
    db_.reset();
    url_.reset();
  }
  // Runs fn in a write transaction and fails the test on an error.
  template <typename F>
  auto write(F&& fn) {
    auto r = db_->transact(TxMode::kWrite, std::forward<F>(fn));
    EXPECT_TRUE(r) << r.error().message;
    return r;
  }
  ms::testing::TempDir dir_;
  std::unique_ptr<ms::testing::TestDatabaseUrl> url_;
  std::unique_ptr<Database> db_;
};

}  // namespace ms::store
