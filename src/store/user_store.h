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

Result<std::int64_t> count_login_failures(Tx& tx, const std::string& username, std::int64_t since);
Status record_login_failure(Tx& tx, const std::string& username, const std::string& ip);
Status clear_login_failures(Tx& tx, const std::string& username);

}  // namespace ms::store
