#pragma once
// Accounts, sessions and failed-login records. Functions take an open transaction so callers can
// combine them with the operation log in one all-or-nothing change. Password hashing lives in the
// server (libsodium); this layer stores only hashes.
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

// Request body of POST /api/users and /api/auth/register.
struct NewUser {
  std::string username, password;
  Role role = Role::kViewer;
  bool enabled = false;
  std::string display_name, email, phone, department, gender;
  template <class V>
  void visit(V& v) {
    v("username", username); v("password", password); v("role", role); v("enabled", enabled);
    v("display_name", display_name); v("email", email); v("phone", phone);
    v("department", department); v("gender", gender);
  }
};

// PATCH /api/users/{id}: only the fields present change. role and enabled are admin-only.
struct UserUpdate {
  std::optional<std::string> display_name, email, phone, department, gender;
  std::optional<Role> role;
  std::optional<bool> enabled;
  template <class V>
  void visit(V& v) {
    v("display_name", display_name); v("email", email); v("phone", phone);
    v("department", department); v("gender", gender); v("role", role); v("enabled", enabled);
  }
};

// Checks username shape and profile lengths; the message names the field.
Status validate_new_user(const NewUser& u);
Status validate_user_update(const UserUpdate& u);

Result<User> create_user(Tx& tx, const NewUser& u, const std::string& password_hash);
Result<User> get_user(Tx& tx, std::int64_t id);  // kNotFound names the id
Result<std::optional<User>> find_user_by_name(Tx& tx, const std::string& username);
Result<std::vector<User>> list_users(Tx& tx);
Result<std::int64_t> count_users(Tx& tx);
Result<User> update_user(Tx& tx, std::int64_t id, const UserUpdate& u);
Status set_password_hash(Tx& tx, std::int64_t id, const std::string& hash);
Status set_avatar(Tx& tx, std::int64_t id, const std::optional<std::string>& sha256);
Status record_login(Tx& tx, std::int64_t user_id);

Status insert_session(Tx& tx, std::int64_t user_id, const std::string& token_hash,
                      const std::string& csrf_token, std::int64_t expires_at,
                      const std::string& ip, const std::string& user_agent);
struct SessionUser {
  Session session;
  User user;
};
// A live session (not revoked, not expired, user enabled) by its token hash.
Result<std::optional<SessionUser>> find_session(Tx& tx, const std::string& token_hash,
                                                std::int64_t now);
Status touch_session(Tx& tx, std::int64_t session_id, std::int64_t now, std::int64_t expires_at);
Status revoke_session(Tx& tx, std::int64_t session_id);
// Every live session of the user (password change, disabling an account).
Status revoke_user_sessions(Tx& tx, std::int64_t user_id);

// Login throttling. A sign-in attempt is counted before its password is checked: the username's
// failures since `since` (Unix ms) are counted and, below `max_failures`, this attempt is recorded
// as one more, in one step that concurrent attempts for the same username cannot interleave
// (SQLite: the write transaction; PostgreSQL: a transaction-level advisory lock on the name).
// Guesses sent at once therefore cannot all be checked before any is counted. A right password
// then clears the failures (clear_login_failures) or, for an account that may not sign in yet,
// takes back only this attempt (forget_login_attempt).
struct LoginAttempt {
  std::int64_t failures = 0;        // before this attempt
  std::optional<std::int64_t> id;   // the row recorded for this attempt; none when throttled
};
Result<LoginAttempt> begin_login_attempt(Tx& tx, const std::string& username, const std::string& ip,
                                         std::int64_t since, std::int64_t max_failures);
Status forget_login_attempt(Tx& tx, std::int64_t attempt_id);
Status clear_login_failures(Tx& tx, const std::string& username);

}  // namespace ms::store
