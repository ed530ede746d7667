// SQLite backend: one file in WAL mode (readers never block the writer), foreign keys on, a busy
// timeout so concurrent writers wait instead of failing. Connections are pooled; each is used by
// one thread at a time, and keeps its prepared statements.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "store/database.h"

namespace ms::store {
namespace {

constexpr int kBusyTimeoutMs = 10000;
constexpr int kMaxAttempts = 5;

struct SqliteConn {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements;
  ~SqliteConn() {
    for (auto& [sql, st] : statements) sqlite3_finalize(st);
    if (db) sqlite3_close_v2(db);
  }
};

Error sqlite_error(sqlite3* db, int rc, std::string_view sql) {
  const int ext = db ? sqlite3_extended_errcode(db) : rc;
  const std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    if (ext == SQLITE_CONSTRAINT_NOTNULL || ext == SQLITE_CONSTRAINT_CHECK)
      return Error{ErrorCode::kInvalidArgument, "database refused the value: " + msg};
    return Error{ErrorCode::kConflict, "database constraint: " + msg};
  }
  return Error{ErrorCode::kInternal,
               fmt::format("sqlite error {} ({}) in: {}", rc, msg, std::string(sql).substr(0, 200))};
}

bool is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(SqliteConn& c) : c_(c) {}
  Dialect dialect() const override { return Dialect::kSqlite; }
  bool busy() const { return busy_; }

  Result<Rows> query(std::string_view sql, const Params& params) override {
    auto st = prepare(sql, params);
    if (!st) return tl::unexpected(st.error());
    sqlite3_stmt* s = *st;
    Rows rows;
    std::shared_ptr<std::vector<std::string>> names;
    for (;;) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return finish_error(s, rc, sql);
      const int n = sqlite3_column_count(s);
      if (!names) {
        names = std::make_shared<std::vector<std::string>>();
        for (int k = 0; k < n; ++k) names->push_back(sqlite3_column_name(s, k));
      }
      std::vector<Value> values;
      values.reserve(n);
      for (int k = 0; k < n; ++k) {
        switch (sqlite3_column_type(s, k)) {
          case SQLITE_INTEGER: values.emplace_back(static_cast<long long>(sqlite3_column_int64(s, k))); break;
          case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(s, k)); break;
          case SQLITE_NULL: values.emplace_back(); break;
          default: {
            const auto* p = static_cast<const char*>(sqlite3_column_blob(s, k));
            values.emplace_back(std::string(p ? p : "", sqlite3_column_bytes(s, k)));
          }
        }
      }
      rows.emplace_back(names, std::move(values));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rows;
  }

  Result<std::int64_t> exec(std::string_view sql, const Params& params) override {
    auto st = prepare(sql, params);
    if (!st) return tl::unexpected(st.error());
    sqlite3_stmt* s = *st;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return finish_error(s, rc, sql);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return static_cast<std::int64_t>(sqlite3_changes(c_.db));
  }

  Status exec_script(std::string_view sql) override {
    char* err = nullptr;
    const std::string text(sql);
    const int rc = sqlite3_exec(c_.db, text.c_str(), nullptr, nullptr, &err);
    if (err) sqlite3_free(err);
    if (rc != SQLITE_OK) {
      if (is_busy(rc)) busy_ = true;
      return tl::unexpected(sqlite_error(c_.db, rc, sql));
    }
    return {};
  }

 private:
  Result<sqlite3_stmt*> prepare(std::string_view sql, const Params& params) {
    std::string key(sql);
    sqlite3_stmt* s = nullptr;
    auto it = c_.statements.find(key);
    if (it != c_.statements.end()) {
      s = it->second;
    } else {
      const int rc = sqlite3_prepare_v3(c_.db, key.data(), static_cast<int>(key.size()),
                                        SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) {
        if (is_busy(rc)) busy_ = true;
        return tl::unexpected(sqlite_error(c_.db, rc, sql));
      }
      c_.statements.emplace(std::move(key), s);
    }
    const int expected = sqlite3_bind_parameter_count(s);
    MS_CHECK(expected == static_cast<int>(params.size()),
             fmt::format("statement takes {} parameters, {} given: {}", expected, params.size(),
                         std::string(sql)));
    for (int k = 0; k < expected; ++k) {
      const auto& v = params[k].storage();
      int rc = SQLITE_OK;
      if (auto p = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(s, k + 1, *p);
      } else if (auto p = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(s, k + 1, *p);
      } else if (auto p = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(s, k + 1, p->data(), p->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(s, k + 1);
      }
      if (rc != SQLITE_OK) return tl::unexpected(sqlite_error(c_.db, rc, sql));
    }
    return s;
  }

  tl::unexpected<Error> finish_error(sqlite3_stmt* s, int rc, std::string_view sql) {
    if (is_busy(rc)) busy_ = true;
    Error e = sqlite_error(c_.db, rc, sql);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return tl::unexpected(std::move(e));
  }

  SqliteConn& c_;
  bool busy_ = false;
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::string path) : path_(std::move(path)) {}
  ~SqliteDatabase() override = default;

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string describe() const override { return "sqlite:" + path_; }

  Result<std::unique_ptr<SqliteConn>> connect() {
    auto c = std::make_unique<SqliteConn>();
    const int rc = sqlite3_open_v2(path_.c_str(), &c->db,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK)
      return fail(ErrorCode::kIo, "database '" + path_ + "'", "a writable SQLite file",
                  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(c->db, kBusyTimeoutMs);
    sqlite3_extended_result_codes(c->db, 1);
    // WAL: readers and one writer run concurrently. FULL sync: a commit (a sign-off, an upload's
    // rows) is on disk when it returns, across an OS crash or power loss too (NORMAL could lose
    // the last commits then); the lab's write volume is small.
    char* err = nullptr;
    const int prc = sqlite3_exec(c->db,
                                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                 "PRAGMA foreign_keys=ON;",
                                 nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    if (err) sqlite3_free(err);
    if (prc != SQLITE_OK)
      return fail(ErrorCode::kIo, "database '" + path_ + "'", "a SQLite database", msg);
    return c;
  }

  Status run_transaction(TxMode mode, const std::function<Status(Tx&)>& fn) override {
    Error last{ErrorCode::kInternal, "no attempt"};
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto conn = acquire();
      if (!conn) return tl::unexpected(conn.error());
      SqliteConn& c = **conn;
      SqliteTx tx(c);
      bool retry = false;
      Status result;
      if (mode == TxMode::kReadOne) {
        // Autocommit: the statement is its own snapshot, without BEGIN and COMMIT.
        OneStatementTx one(tx);
        try {
          result = fn(one);
        } catch (...) {
          release(std::move(*conn));
          throw;
        }
        retry = !result && tx.busy();
      } else {
        auto begun = tx.exec_script(mode == TxMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
        if (!begun) {
          retry = tx.busy();
          result = tl::unexpected(begun.error());
        } else {
          try {
            result = fn(tx);
          } catch (...) {
            (void)tx.exec_script("ROLLBACK");
            release(std::move(*conn));
            throw;
          }
          if (result) {
            auto committed = tx.exec_script("COMMIT");
            if (!committed) {
              (void)tx.exec_script("ROLLBACK");
              result = tl::unexpected(committed.error());
            }
          } else {
            (void)tx.exec_script("ROLLBACK");
          }
          retry = !result && tx.busy();
        }
      }
      release(std::move(*conn));
      if (!retry) return result;
      last = result.error();
      std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
    }
    return tl::unexpected(Error{ErrorCode::kIo, "database busy after retries: " + last.message});
  }

 private:
  Result<std::unique_ptr<SqliteConn>> acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        return c;
      }
    }
    return connect();
  }
  void release(std::unique_ptr<SqliteConn> c) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < 16) free_.push_back(std::move(c));
  }

  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SqliteConn>> free_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_sqlite(const std::string& path) {
  if (path.empty() || path == ":memory:")
    return fail(ErrorCode::kInvalidArgument, "sqlite path", "a file path (WAL needs a file)",
                path.empty() ? "nothing" : path);
  // A new database file is created 0600 (it holds patient records); SQLite gives its -wal and
  // -shm files the database file's mode.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  auto db = std::make_unique<SqliteDatabase>(path);
  auto probe = db->connect();  // fail early on an unwritable path
  if (!probe) return tl::unexpected(probe.error());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace ms::store
