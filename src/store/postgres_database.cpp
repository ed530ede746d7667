// PostgreSQL backend (libpqxx 6.4): pooled connections, one pqxx transaction per
// run_transaction(), parameters sent separately from the SQL text (exec_params), deadlocks and
// serialisation failures retried.
#include <chrono>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "store/database.h"

namespace ms::store {
namespace {

constexpr int kMaxAttempts = 5;
// Type OIDs from pg_type.h.
constexpr unsigned kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kFloat4 = 700, kFloat8 = 701,
                   kNumeric = 1700;

std::string redact(const std::string& url) {
  // postgresql://user:secret@host/db -> postgresql://user:***@host/db
  static const std::regex re(R"(^(\w+://[^:/@]+):[^@]*@)");
  return std::regex_replace(url, re, "$1:***@");
}

class PgTx final : public Tx {
 public:
  explicit PgTx(pqxx::transaction_base& w) : w_(w) {}
  Dialect dialect() const override { return Dialect::kPostgres; }

  Result<Rows> query(std::string_view sql, const Params& params) override {
    auto r = run(sql, params);
    if (!r) return tl::unexpected(r.error());
    const pqxx::result& res = *r;
    Rows rows;
    rows.reserve(res.size());
    auto names = std::make_shared<std::vector<std::string>>();
    const int n = static_cast<int>(res.columns());
    std::vector<unsigned> types;
    for (int k = 0; k < n; ++k) {
      names->push_back(res.column_name(k));
      types.push_back(res.column_type(k));
    }
    for (const auto& row : res) {
      std::vector<Value> values;
      values.reserve(n);
      for (int k = 0; k < n; ++k) {
        const auto& f = row[k];
        if (f.is_null()) {
          values.emplace_back();
        } else if (types[k] == kInt8 || types[k] == kInt4 || types[k] == kInt2) {
          values.emplace_back(static_cast<long long>(std::strtoll(f.c_str(), nullptr, 10)));
        } else if (types[k] == kFloat8 || types[k] == kFloat4 || types[k] == kNumeric) {
          values.emplace_back(std::strtod(f.c_str(), nullptr));
        } else if (types[k] == kBool) {
          values.emplace_back(f.c_str()[0] == 't');
        } else {
          values.emplace_back(std::string(f.c_str(), f.size()));
        }
      }
      rows.emplace_back(names, std::move(values));
    }
    return rows;
  }

  Result<std::int64_t> exec(std::string_view sql, const Params& params) override {
    auto r = run(sql, params);
    if (!r) return tl::unexpected(r.error());
    return static_cast<std::int64_t>(r->affected_rows());
  }

  Status exec_script(std::string_view sql) override {
    try {
      w_.exec(std::string(sql));
      return {};
    } catch (const pqxx::transaction_rollback&) {
      throw;  // retried by run_transaction
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      return tl::unexpected(map_error(e, sql));
    }
  }

  static Error map_error(const pqxx::sql_error& e, std::string_view sql) {
    const std::string state = e.sqlstate();
    std::string msg = e.what();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (state == "23502" || state == "23514" || state.rfind("22", 0) == 0)  // not null, check, data
      return Error{ErrorCode::kInvalidArgument, "database refused the value: " + msg};
    if (state.rfind("23", 0) == 0) return Error{ErrorCode::kConflict, "database constraint: " + msg};
    return Error{ErrorCode::kInternal, fmt::format("postgresql error {} ({}) in: {}", state, msg,
                                                   std::string(sql).substr(0, 200))};
  }

 private:
  Result<pqxx::result> run(std::string_view sql, const Params& params) {
    const std::string text = number_placeholders(sql);
    std::vector<std::string> storage(params.size());
    std::vector<const char*> ptrs(params.size(), nullptr);
    for (std::size_t k = 0; k < params.size(); ++k) {
      if (params[k].is_null()) continue;
      storage[k] = params[k].as_text();
      ptrs[k] = storage[k].c_str();
    }
    try {
      return w_.exec_params(text, pqxx::prepare::make_dynamic_params(ptrs));
    } catch (const pqxx::transaction_rollback&) {
      throw;
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      return tl::unexpected(map_error(e, sql));
    }
  }

  pqxx::transaction_base& w_;
};

constexpr std::size_t kMaxIdleConnections = 48;

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(std::string url) : url_(std::move(url)) {}
  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string describe() const override { return redact(url_); }

  Result<std::unique_ptr<pqxx::connection>> connect() {
    try {
      return std::make_unique<pqxx::connection>(url_);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      return fail(ErrorCode::kIo, "database '" + redact(url_) + "'", "a reachable PostgreSQL server",
                  msg);
    }
  }

  Status run_transaction(TxMode mode, const std::function<Status(Tx&)>& fn) override {
    std::string last;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto conn = acquire();
      if (!conn) return tl::unexpected(conn.error());
      bool keep = true;
      try {
        Status result;
        if (mode == TxMode::kReadOne) {
          // Autocommit: the statement is its own snapshot, without BEGIN and COMMIT.
          pqxx::nontransaction w(**conn);
          PgTx tx(w);
          OneStatementTx one(tx);
          result = fn(one);
        } else if (mode == TxMode::kRead) {
          // REPEATABLE READ: every statement of a read (a report's sample, cells, sign-off and
          // addenda) sees one snapshot, not a mix of states committed in between. Read-only
          // transactions at this level never fail to serialise.
          pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> w(**conn);
          PgTx tx(w);
          result = fn(tx);
          if (result) w.commit();
        } else {
          pqxx::work w(**conn);
          PgTx tx(w);
          result = fn(tx);
          if (result) w.commit();
        }
        release(std::move(*conn));
        return result;
      } catch (const pqxx::transaction_rollback& e) {  // deadlock / serialisation failure
        last = e.what();
      } catch (const pqxx::broken_connection& e) {
        keep = false;
        last = e.what();
      } catch (const pqxx::in_doubt_error& e) {
        return tl::unexpected(Error{ErrorCode::kIo, std::string("commit in doubt: ") + e.what()});
      } catch (const pqxx::sql_error& e) {
        release(std::move(*conn));
        return tl::unexpected(PgTx::map_error(e, e.query()));
      } catch (...) {
        release(std::move(*conn));
        throw;
      }
      if (keep) release(std::move(*conn));
      std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
    }
    return tl::unexpected(Error{ErrorCode::kIo, "database transaction failed after retries: " + last});
  }

 private:
  Result<std::unique_ptr<pqxx::connection>> acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        if (c->is_open()) return c;
      }
    }
    return connect();
  }
  void release(std::unique_ptr<pqxx::connection> c) {
    std::lock_guard<std::mutex> lock(mu_);
    // As many as the server's threads may use at once (32 request handlers, the job workers, the
    // adaptation): a connection closed here is reopened by the next request, and opening one (a
    // new PostgreSQL backend, authentication) costs more than the queries it then serves.
    if (free_.size() < kMaxIdleConnections) free_.push_back(std::move(c));
  }

  std::string url_;
  std::mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> free_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_postgres(const std::string& url) {
  auto db = std::make_unique<PostgresDatabase>(url);
  auto probe = db->connect();
  if (!probe) return tl::unexpected(probe.error());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace ms::store
