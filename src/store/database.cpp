#include "store/database.h"

#include <chrono>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace ms::store {

std::string_view dialect_name(Dialect d) {
  return d == Dialect::kSqlite ? "sqlite" : "postgresql";
}

std::int64_t Value::as_int() const {
  if (auto p = std::get_if<std::int64_t>(&v_)) return *p;
  if (auto p = std::get_if<double>(&v_)) return static_cast<std::int64_t>(std::llround(*p));
  if (auto p = std::get_if<std::string>(&v_)) return std::strtoll(p->c_str(), nullptr, 10);
  return 0;
}

double Value::as_double() const {
  if (auto p = std::get_if<double>(&v_)) return *p;
  if (auto p = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*p);
  if (auto p = std::get_if<std::string>(&v_)) return std::strtod(p->c_str(), nullptr);
  return 0.0;
}

std::string Value::as_text() const {
  if (auto p = std::get_if<std::string>(&v_)) return *p;
  if (auto p = std::get_if<std::int64_t>(&v_)) return std::to_string(*p);
  if (auto p = std::get_if<double>(&v_)) return fmt::format("{}", *p);
  return {};
}

const Value& Row::at(std::string_view column) const {
  for (std::size_t k = 0; k < names_->size(); ++k)
    if ((*names_)[k] == column) return values_[k];
  throw MarrowError(ErrorCode::kInternal,
                    fmt::format("result has no column '{}'", std::string(column)));
}

std::optional<std::string> Row::opt_s(std::string_view column) const {
  const Value& v = at(column);
  if (v.is_null()) return std::nullopt;
  return v.as_text();
}

std::optional<std::int64_t> Row::opt_i(std::string_view column) const {
  const Value& v = at(column);
  if (v.is_null()) return std::nullopt;
  return v.as_int();
}

Result<Rows> OneStatementTx::query(std::string_view sql, const Params& params) {
  if (used_)
    return fail(ErrorCode::kInternal, fmt::format("a second statement in a one-statement read: {}",
                                                  std::string(sql.substr(0, 200))));
  used_ = true;
  return inner_.query(sql, params);
}

Result<std::int64_t> OneStatementTx::exec(std::string_view sql, const Params&) {
  return fail(ErrorCode::kInternal,
              fmt::format("a write in a one-statement read: {}", std::string(sql.substr(0, 200))));
}

Status OneStatementTx::exec_script(std::string_view sql) {
  return fail(ErrorCode::kInternal,
              fmt::format("a script in a one-statement read: {}", std::string(sql.substr(0, 200))));
}

Result<std::optional<Row>> Tx::query_one(std::string_view sql, const Params& params) {
  auto rows = query(sql, params);
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<Row>{};
  return std::optional<Row>(std::move(rows->front()));
}

Result<std::int64_t> Tx::insert(std::string_view sql, const Params& params) {
  auto rows = query(sql, params);
  if (!rows) return tl::unexpected(rows.error());
  MS_CHECK(rows->size() == 1, "INSERT ... RETURNING id returned " + std::to_string(rows->size()) +
                                  " rows for: " + std::string(sql));
  return rows->front().values().front().as_int();
}

std::string number_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::int64_t> update_columns(Tx& tx, std::string_view table, std::int64_t id,
                                    const std::vector<std::pair<std::string, Value>>& columns) {
  std::string sql = "UPDATE " + std::string(table) + " SET ";
  Params params;
  for (const auto& [col, v] : columns) {
    sql += col + " = ?, ";
    params.push_back(v);
  }
  sql += "updated_at = ? WHERE id = ?";
  params.push_back(now_ms());
  params.push_back(id);
  return tx.exec(sql, params);
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Result<std::unique_ptr<Database>> open_database(const std::string& url) {
  auto starts = [&](std::string_view p) { return url.rfind(p, 0) == 0; };
  if (starts("postgresql://") || starts("postgres://")) return open_postgres(url);
  if (starts("sqlite:")) return open_sqlite(url.substr(7));
  auto ends = [&](std::string_view s) {
    return url.size() >= s.size() && url.compare(url.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".db") || ends(".sqlite") || ends(".sqlite3")) return open_sqlite(url);
  return fail(ErrorCode::kInvalidArgument, "--db '" + url + "'",
              "sqlite:PATH or postgresql://USER@HOST:PORT/DB", "neither");
}

}  // namespace ms::store
