#include "store/user_store.h"

#include <algorithm>
#include <cctype>

namespace ms::store {
namespace {

constexpr const char* kUserColumns =
    "id, username, password_hash, role, enabled, display_name, email, phone, department, gender, "
    "avatar_sha256, created_at, updated_at, last_login_at";

Status check_length(const std::string& field, const std::string& value, std::size_t max) {
  if (value.size() > max)
    return fail(ErrorCode::kInvalidArgument, field, "at most " + std::to_string(max) + " bytes",
                std::to_string(value.size()) + " bytes");
  return {};
}

Status check_profile(const std::string& display_name, const std::string& email,
                     const std::string& phone, const std::string& department,
                     const std::string& gender) {
  MS_RETURN_IF_ERROR(check_length("display_name", display_name, 200));
  MS_RETURN_IF_ERROR(check_length("email", email, 254));
  MS_RETURN_IF_ERROR(check_length("phone", phone, 40));
  MS_RETURN_IF_ERROR(check_length("department", department, 200));
  MS_RETURN_IF_ERROR(check_length("gender", gender, 40));
  if (!email.empty() && (email.find('@') == std::string::npos || email.find(' ') != std::string::npos))
    return fail(ErrorCode::kInvalidArgument, "email", "an address like name@lab.org",
                "\"" + email + "\"");
  return {};
}

}  // namespace

Status validate_new_user(const NewUser& u) {
  if (u.username.size() < 3 || u.username.size() > 64)
    return fail(ErrorCode::kInvalidArgument, "username", "3 to 64 characters",
                std::to_string(u.username.size()) + " characters");
  for (char c : u.username)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return fail(ErrorCode::kInvalidArgument, "username", "letters, digits, '.', '_' or '-'",
                  "\"" + u.username + "\"");
  if (u.password.size() < 8 || u.password.size() > 1024)
    return fail(ErrorCode::kInvalidArgument, "password", "8 to 1024 characters",
                std::to_string(u.password.size()) + " characters");
  return check_profile(u.display_name, u.email, u.phone, u.department, u.gender);
}

Status validate_user_update(const UserUpdate& u) {
  return check_profile(u.display_name.value_or(""), u.email.value_or(""), u.phone.value_or(""),
                       u.department.value_or(""), u.gender.value_or(""));
}

Result<User> create_user(Tx& tx, const NewUser& u, const std::string& password_hash) {
  MS_ASSIGN_OR_RETURN(auto existing, find_user_by_name(tx, u.username));
  if (existing)
    return fail(ErrorCode::kConflict, "username '" + u.username + "' is already taken");
  const auto now = now_ms();
  MS_ASSIGN_OR_RETURN(
      auto id, tx.insert("INSERT INTO users (username, password_hash, role, enabled, display_name, "
                         "email, phone, department, gender, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                         {u.username, password_hash, role_name(u.role), u.enabled,
                          u.display_name, u.email, u.phone, u.department, u.gender, now, now}));
  return get_user(tx, id);
}

Result<User> get_user(Tx& tx, std::int64_t id) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string("SELECT ") + kUserColumns +
                                                 " FROM users WHERE id = ?",
                                             {id}));
  if (!row) return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " does not exist");
  return from_row<User>(*row);
}

Result<std::optional<User>> find_user_by_name(Tx& tx, const std::string& username) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(std::string("SELECT ") + kUserColumns +
                                                 " FROM users WHERE username = ?",
                                             {username}));
  if (!row) return std::optional<User>{};
  return std::optional<User>(from_row<User>(*row));
}

Result<std::vector<User>> list_users(Tx& tx) {
  MS_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kUserColumns +
                                          " FROM users ORDER BY username"));
  std::vector<User> out;
  for (const auto& r : rows) out.push_back(from_row<User>(r));
  return out;
}

Result<std::int64_t> count_users(Tx& tx) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT COUNT(*) AS n FROM users"));
  return row->i("n");
}

Result<User> update_user(Tx& tx, std::int64_t id, const UserUpdate& u) {
  MS_RETURN_IF_ERROR(validate_user_update(u));
  std::vector<std::pair<std::string, Value>> cols;
  if (u.display_name) cols.emplace_back("display_name", *u.display_name);
  if (u.email) cols.emplace_back("email", *u.email);
  if (u.phone) cols.emplace_back("phone", *u.phone);
  if (u.department) cols.emplace_back("department", *u.department);
  if (u.gender) cols.emplace_back("gender", *u.gender);
  if (u.role) cols.emplace_back("role", role_name(*u.role));
  if (u.enabled) cols.emplace_back("enabled", *u.enabled);
  MS_ASSIGN_OR_RETURN(auto changed, update_columns(tx, "users", id, cols));
  if (changed == 0) return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " does not exist");
  if (u.enabled && !*u.enabled) MS_RETURN_IF_ERROR(revoke_user_sessions(tx, id));
  return get_user(tx, id);
}

Status set_password_hash(Tx& tx, std::int64_t id, const std::string& hash) {
  MS_ASSIGN_OR_RETURN(auto changed, update_columns(tx, "users", id, {{"password_hash", hash}}));
  if (changed == 0) return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " does not exist");
  return {};
}

Status set_avatar(Tx& tx, std::int64_t id, const std::optional<std::string>& sha256) {
  MS_ASSIGN_OR_RETURN(auto changed,
                      update_columns(tx, "users", id, {{"avatar_sha256", Value(sha256)}}));
  if (changed == 0) return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " does not exist");
  return {};
}

Status record_login(Tx& tx, std::int64_t user_id) {
  MS_RETURN_IF_ERROR(
      tx.exec("UPDATE users SET last_login_at = ? WHERE id = ?", {now_ms(), user_id}));
  return {};
}

Status insert_session(Tx& tx, std::int64_t user_id, const std::string& token_hash,
                      const std::string& csrf_token, std::int64_t expires_at,
                      const std::string& ip, const std::string& user_agent,
                      std::optional<std::int64_t> ends_at) {
  const auto now = now_ms();
  const std::int64_t end = ends_at.value_or(now + kDefaultSessionMaxAgeMs);
  MS_RETURN_IF_ERROR(tx.exec(
      "INSERT INTO sessions (user_id, token_hash, csrf_token, created_at, expires_at, "
      "last_seen_at, ip, user_agent, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {user_id, token_hash, csrf_token, now, std::min(expires_at, end), now, ip,
       user_agent.substr(0, 300), end}));
  return {};
}

Result<std::optional<SessionUser>> find_session(Tx& tx, const std::string& token_hash,
                                                std::int64_t now) {
  // One statement (every signed-in request runs it; it may run as a TxMode::kReadOne read).
  static const std::string sql = [] {
    std::string user_columns = std::string("u.") + kUserColumns;
    for (std::size_t p = user_columns.find(", "); p != std::string::npos; p = user_columns.find(", ", p + 4))
      user_columns.replace(p, 2, ", u.");
    return "SELECT s.id AS session_id, s.user_id AS session_user_id, s.csrf_token, s.created_at AS "
           "session_created_at, s.expires_at, s.last_seen_at, " + user_columns +
           " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.revoked_at IS "
           "NULL AND s.expires_at > ? AND (s.ends_at IS NULL OR s.ends_at > ?)";
  }();
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(sql, {token_hash, now, now}));
  if (!row) return std::optional<SessionUser>{};
  SessionUser su;
  su.session.id = row->i("session_id");
  su.session.user_id = row->i("session_user_id");
  su.session.csrf_token = row->s("csrf_token");
  su.session.created_at = row->i("session_created_at");
  su.session.expires_at = row->i("expires_at");
  su.session.last_seen_at = row->i("last_seen_at");
  su.user = from_row<User>(*row);
  if (!su.user.enabled) return std::optional<SessionUser>{};
  return std::optional<SessionUser>(std::move(su));
}

Status touch_session(Tx& tx, std::int64_t session_id, std::int64_t now, std::int64_t expires_at) {
  MS_RETURN_IF_ERROR(tx.exec("UPDATE sessions SET last_seen_at = ?, expires_at = CASE WHEN ends_at IS NOT NULL "
                             "AND ends_at < ? THEN ends_at ELSE ? END WHERE id = ?",
                             {now, expires_at, expires_at, session_id}));
  return {};
}

Status revoke_session(Tx& tx, std::int64_t session_id) {
  MS_RETURN_IF_ERROR(tx.exec(
      "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", {now_ms(), session_id}));
  return {};
}

Status revoke_user_sessions(Tx& tx, std::int64_t user_id) {
  MS_RETURN_IF_ERROR(tx.exec(
      "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
      {now_ms(), user_id}));
  return {};
}

Result<std::int64_t> purge_ended_sessions(Tx& tx, std::int64_t now) {
  MS_ASSIGN_OR_RETURN(auto n, tx.exec("DELETE FROM sessions WHERE expires_at < ?", {now}));
  return static_cast<std::int64_t>(n);
}

std::int64_t LoginAttempt::tries_left_after_failure(const LoginLimits& l) const {
  return std::max<std::int64_t>(
      0, std::min(l.per_account - failures - 1, l.per_address - address_failures - 1));
}

namespace {

// Rows of login_failures by kind: failed sign-ins, wrong current passwords of a password change,
// registrations (every one counts against its address).
constexpr const char* kLoginKind = "login";
constexpr const char* kPasswordKind = "password";
constexpr const char* kRegisterKind = "register";

// Advisory-lock key spaces (PostgreSQL): 726173 migrations (schema.cpp), 726174 a username,
// 726175 a client address. Address before name, always, so two attempts never wait on each other
// in opposite orders.
Status lock_keys(Tx& tx, const std::string* address, const std::string* name) {
  if (tx.dialect() != Dialect::kPostgres) return {};
  if (address) MS_RETURN_IF_ERROR(tx.query("SELECT pg_advisory_xact_lock(726175, hashtext(?))", {*address}));
  if (name) MS_RETURN_IF_ERROR(tx.query("SELECT pg_advisory_xact_lock(726174, hashtext(?))", {*name}));
  return {};
}

// Rows older than a day throttle nothing (the longest window is an hour). The (at) index makes
// this a range delete of the few rows that aged out since the last attempt.
Status purge_old_attempts(Tx& tx) {
  MS_RETURN_IF_ERROR(tx.exec("DELETE FROM login_failures WHERE at < ?", {now_ms() - 86400000LL}));
  return {};
}

Result<std::int64_t> count_rows(Tx& tx, const std::string& sql, const Params& params) {
  MS_ASSIGN_OR_RETURN(auto row, tx.query_one(sql, params));
  return row->i("n");
}

Result<std::int64_t> record_attempt(Tx& tx, const std::string& name, const std::string& ip, const char* kind) {
  return tx.insert("INSERT INTO login_failures (username, ip, at, kind) VALUES (?, ?, ?, ?) RETURNING id",
                   {name, ip, now_ms(), std::string(kind)});
}

// Stored and counted under the same (bounded) text, however long the one sent.
std::string bounded_name(const std::string& username) { return username.substr(0, 200); }
std::string bounded_address(const std::string& ip) { return ip.substr(0, 100); }

}  // namespace

Result<LoginAttempt> begin_login_attempt(Tx& tx, const std::string& username, const std::string& ip,
                                         const LoginLimits& limits) {
  const std::string name = bounded_name(username), addr = bounded_address(ip);
  MS_RETURN_IF_ERROR(lock_keys(tx, &addr, &name));
  MS_RETURN_IF_ERROR(purge_old_attempts(tx));
  LoginAttempt out;
  MS_ASSIGN_OR_RETURN(out.address_failures,
                      count_rows(tx, "SELECT COUNT(*) AS n FROM login_failures WHERE ip = ? AND kind = ? AND at > ?",
                                 {addr, std::string(kLoginKind), limits.since}));
  MS_ASSIGN_OR_RETURN(out.failures,
                      count_rows(tx, "SELECT COUNT(*) AS n FROM login_failures WHERE username = ? AND ip = ? "
                                     "AND kind = ? AND at > ?",
                                 {name, addr, std::string(kLoginKind), limits.since}));
  if (out.address_failures >= limits.per_address) {
    out.refused = LoginAttempt::Refused::kAddress;
    return out;
  }
  if (out.failures >= limits.per_account) {
    out.refused = LoginAttempt::Refused::kAccount;
    return out;
  }
  MS_ASSIGN_OR_RETURN(out.id, record_attempt(tx, name, addr, kLoginKind));
  return out;
}

Status forget_login_attempt(Tx& tx, std::int64_t attempt_id) {
  MS_RETURN_IF_ERROR(tx.exec("DELETE FROM login_failures WHERE id = ?", {attempt_id}));
  return {};
}

Status clear_login_failures(Tx& tx, const std::string& username, const std::string& ip) {
  MS_RETURN_IF_ERROR(tx.exec("DELETE FROM login_failures WHERE username = ? AND ip = ? AND kind = ?",
                             {bounded_name(username), bounded_address(ip), std::string(kLoginKind)}));
  return {};
}

Result<std::int64_t> unlock_account(Tx& tx, const std::string& username) {
  const std::string name = bounded_name(username);
  MS_RETURN_IF_ERROR(lock_keys(tx, nullptr, &name));
  return tx.exec("DELETE FROM login_failures WHERE username = ? AND kind IN (?, ?)",
                 {name, std::string(kLoginKind), std::string(kPasswordKind)});
}

Result<LoginAttempt> begin_password_check(Tx& tx, const std::string& username, const std::string& ip,
                                          std::int64_t since, std::int64_t max_failures) {
  const std::string name = bounded_name(username), addr = bounded_address(ip);
  MS_RETURN_IF_ERROR(lock_keys(tx, nullptr, &name));
  MS_RETURN_IF_ERROR(purge_old_attempts(tx));
  LoginAttempt out;
  MS_ASSIGN_OR_RETURN(out.failures,
                      count_rows(tx, "SELECT COUNT(*) AS n FROM login_failures WHERE username = ? AND kind = ? AND at > ?",
                                 {name, std::string(kPasswordKind), since}));
  if (out.failures >= max_failures) {
    out.refused = LoginAttempt::Refused::kAccount;
    return out;
  }
  MS_ASSIGN_OR_RETURN(out.id, record_attempt(tx, name, addr, kPasswordKind));
  return out;
}

Status clear_password_failures(Tx& tx, const std::string& username) {
  MS_RETURN_IF_ERROR(tx.exec("DELETE FROM login_failures WHERE username = ? AND kind = ?",
                             {bounded_name(username), std::string(kPasswordKind)}));
  return {};
}

Result<LoginAttempt> begin_registration(Tx& tx, const std::string& username, const std::string& ip,
                                        std::int64_t since, std::int64_t max_per_address) {
  const std::string name = bounded_name(username), addr = bounded_address(ip);
  MS_RETURN_IF_ERROR(lock_keys(tx, &addr, nullptr));
  MS_RETURN_IF_ERROR(purge_old_attempts(tx));
  LoginAttempt out;
  MS_ASSIGN_OR_RETURN(out.address_failures,
                      count_rows(tx, "SELECT COUNT(*) AS n FROM login_failures WHERE ip = ? AND kind = ? AND at > ?",
                                 {addr, std::string(kRegisterKind), since}));
  if (out.address_failures >= max_per_address) {
    out.refused = LoginAttempt::Refused::kAddress;
    return out;
  }
  MS_ASSIGN_OR_RETURN(out.id, record_attempt(tx, name, addr, kRegisterKind));
  return out;
}

}  // namespace ms::store
