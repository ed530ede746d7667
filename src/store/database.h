#pragma once
// The lab's records: one small interface over SQLite (one file, WAL) and PostgreSQL (several
// servers and workers sharing one store). Every statement is parameterised; SQL is written once
// with `?` placeholders and the PostgreSQL backend rewrites them to $1..$n. All work runs inside
// Database::transact(), which commits when the callback returns a value and rolls back when it
// returns an error or throws, so a caller cannot leave half a change behind.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.h"

// Early return of an error value: `MS_ASSIGN_OR_RETURN(auto rows, tx.query(...));` and
// `MS_RETURN_IF_ERROR(tx.exec(...));` (works for Result<T> and Status alike).
#ifndef MS_ASSIGN_OR_RETURN
#define MS_CONCAT_INNER_(a, b) a##b
#define MS_CONCAT_(a, b) MS_CONCAT_INNER_(a, b)
#define MS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp) return ::tl::unexpected(std::move(tmp.error())); \
  lhs = std::move(*tmp)
#define MS_ASSIGN_OR_RETURN(lhs, expr) \
  MS_ASSIGN_OR_RETURN_IMPL_(MS_CONCAT_(ms_result_, __LINE__), lhs, expr)
#define MS_RETURN_IF_ERROR(expr)                                    \
  do {                                                              \
    auto ms_status_ = (expr);                                       \
    if (!ms_status_) return ::tl::unexpected(std::move(ms_status_.error())); \
  } while (0)
#endif

namespace ms::store {

enum class Dialect { kSqlite, kPostgres };
std::string_view dialect_name(Dialect d);

// One bound parameter or one result column. NULL, 64-bit integer, double or text.
class Value {
 public:
  using Storage = std::variant<std::monostate, std::int64_t, double, std::string>;
  Value() = default;
  Value(std::nullptr_t) {}
  Value(int v) : v_(std::int64_t{v}) {}
  Value(long v) : v_(std::int64_t{v}) {}
  Value(long long v) : v_(static_cast<std::int64_t>(v)) {}
  Value(unsigned v) : v_(std::int64_t{v}) {}
  Value(bool v) : v_(std::int64_t{v ? 1 : 0}) {}
  Value(double v) : v_(v) {}
  Value(float v) : v_(double{v}) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  template <typename T>
  Value(const std::optional<T>& v) {
    if (v) *this = Value(*v);
  }

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  const Storage& storage() const { return v_; }
  // Conversions used when reading rows; a NULL reads as 0 / "" (check is_null() first).
  std::int64_t as_int() const;
  double as_double() const;
  std::string as_text() const;

 private:
  Storage v_;
};

// One result row; columns are looked up by name (a missing name is a bug and throws).
class Row {
 public:
  Row(std::shared_ptr<const std::vector<std::string>> names, std::vector<Value> values)
      : names_(std::move(names)), values_(std::move(values)) {}
  const Value& at(std::string_view column) const;
  std::int64_t i(std::string_view column) const { return at(column).as_int(); }
  double d(std::string_view column) const { return at(column).as_double(); }
  std::string s(std::string_view column) const { return at(column).as_text(); }
  bool b(std::string_view column) const { return at(column).as_int() != 0; }
  bool is_null(std::string_view column) const { return at(column).is_null(); }
  std::optional<std::string> opt_s(std::string_view column) const;
  std::optional<std::int64_t> opt_i(std::string_view column) const;
  const std::vector<std::string>& names() const { return *names_; }
  const std::vector<Value>& values() const { return values_; }

 private:
  std::shared_ptr<const std::vector<std::string>> names_;
  std::vector<Value> values_;
};
using Rows = std::vector<Row>;
using Params = std::vector<Value>;

// A transaction in progress. Errors from the database come back as Result: a UNIQUE / foreign key
// violation is kConflict (the message names the constraint), anything else kInternal.
class Tx {
 public:
  virtual ~Tx() = default;
  virtual Dialect dialect() const = 0;
  virtual Result<Rows> query(std::string_view sql, const Params& params = {}) = 0;
  // Runs a statement; returns the number of rows it changed.
  virtual Result<std::int64_t> exec(std::string_view sql, const Params& params = {}) = 0;
  // Several statements without parameters (migrations only).
  virtual Status exec_script(std::string_view sql) = 0;

  // The first row, or nullopt when there is none.
  Result<std::optional<Row>> query_one(std::string_view sql, const Params& params = {});
  // INSERT ... RETURNING id (both SQLite >= 3.35 and PostgreSQL).
  Result<std::int64_t> insert(std::string_view sql, const Params& params = {});
};

enum class TxMode {
  kRead,   // SQLite: BEGIN (deferred); PostgreSQL: REPEATABLE READ, READ ONLY (one snapshot)
  kWrite,  // SQLite: BEGIN IMMEDIATE (takes the write lock up front: no upgrade deadlock)
  // One read statement, no transaction around it (a statement is its own snapshot): saves the
  // BEGIN and COMMIT round trips of the hottest reads (the session check, a sample's revision).
  // A second statement is refused (kInternal): two statements would see two states.
  kReadOne,
};

// The Tx a kReadOne callback gets: forwards one query and refuses any statement after it, and
// every write.
class OneStatementTx final : public Tx {
 public:
  explicit OneStatementTx(Tx& inner) : inner_(inner) {}
  Dialect dialect() const override { return inner_.dialect(); }
  Result<Rows> query(std::string_view sql, const Params& params = {}) override;
  Result<std::int64_t> exec(std::string_view sql, const Params& params = {}) override;
  Status exec_script(std::string_view sql) override;

 private:
  Tx& inner_;
  bool used_ = false;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Dialect dialect() const = 0;
  // Where the data lives, with any password removed (for logs).
  virtual std::string describe() const = 0;

  // Runs fn in one transaction: commit when it returns success, roll back on an error or an
  // exception (rethrown). Lock timeouts and serialisation failures are retried a few times, so fn
  // must not have side effects outside the database.
  virtual Status run_transaction(TxMode mode, const std::function<Status(Tx&)>& fn) = 0;

  template <typename F>
  auto transact(TxMode mode, F&& fn) -> std::invoke_result_t<F, Tx&> {
    using R = std::invoke_result_t<F, Tx&>;
    if constexpr (std::is_same_v<R, Status>) {
      return run_transaction(mode, std::forward<F>(fn));
    } else {
      std::optional<R> out;
      Status s = run_transaction(mode, [&](Tx& tx) -> Status {
        out.emplace(fn(tx));
        if (!*out) return tl::unexpected(out->error());
        return {};
      });
      if (!s) return tl::unexpected(s.error());
      return std::move(*out);
    }
  }
};

// "sqlite:PATH" (or a bare path ending in .db / .sqlite), "postgresql://..." / "postgres://...".
Result<std::unique_ptr<Database>> open_database(const std::string& url);
Result<std::unique_ptr<Database>> open_sqlite(const std::string& path);
Result<std::unique_ptr<Database>> open_postgres(const std::string& url);

// UPDATE table SET col = ?, ..., updated_at = now WHERE id = ?; table and column names come from
// code, never from input. Returns rows changed (0: no such id). Nothing to set still touches
// updated_at, so "exists" can be told from "changed".
Result<std::int64_t> update_columns(Tx& tx, std::string_view table, std::int64_t id,
                                    const std::vector<std::pair<std::string, Value>>& columns);

// Rewrites `?` placeholders (outside quotes) to $1, $2, ... for PostgreSQL.
std::string number_placeholders(std::string_view sql);
// Milliseconds since the Unix epoch (UTC); the one time unit the schema stores.
std::int64_t now_ms();

}  // namespace ms::store
