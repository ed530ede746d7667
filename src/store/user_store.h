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

// A session's absolute lifetime when the caller names none: however actively it is used, a
// session ends this long after sign-in (the idle timeout slides; this does not).
inline constexpr std::int64_t kDefaultSessionMaxAgeMs = 7LL * 24 * 3600 * 1000;

// `ends_at` (Unix ms): the absolute end; default: kDefaultSessionMaxAgeMs from now. `expires_at`
// (the idle end) is capped at it.
Status insert_session(Tx& tx, std::int64_t user_id, const std::string& token_hash,
                      const std::string& csrf_token, std::int64_t expires_at,
                      const std::string& ip, const std::string& user_agent,
                      std::optional<std::int64_t> ends_at = std::nullopt);
struct SessionUser {
  Session session;
  User user;
};
// A live session (not revoked, not expired, before its absolute end, user enabled) by its token
// hash.
Result<std::optional<SessionUser>> find_session(Tx& tx, const std::string& token_hash,
                                                std::int64_t now);
// Slides the idle end to `expires_at`, never past the session's absolute end.
Status touch_session(Tx& tx, std::int64_t session_id, std::int64_t now, std::int64_t expires_at);
Status revoke_session(Tx& tx, std::int64_t session_id);
// Every live session of the user (password change, disabling an account).
Status revoke_user_sessions(Tx& tx, std::int64_t user_id);
// Deletes sessions that ended before `now` (expired, or revoked and since expired); returns how
// many. Uses the sessions (expires_at) index, so it is cheap enough to run at every sign-in.
Result<std::int64_t> purge_ended_sessions(Tx& tx, std::int64_t now);

// Throttling of password guesses. An attempt is counted before its password is checked: the
// failures in the window are counted and, below the limits, this attempt is recorded as one
// more, in one step that concurrent attempts cannot interleave (SQLite: the write transaction;
// PostgreSQL: transaction-level advisory locks on the client address, then on the name). Guesses
// sent at once therefore cannot all be checked before any is counted. A right password then
// clears the failures (clear_login_failures) or, for an account that may not sign in yet, takes
// back only this attempt (forget_login_attempt).
//
// Sign-in failures count per (username, client address) and per client address: a stranger who
// guesses at "admin" locks "admin" out for their own address only, while the real admin signs in
// from theirs; an address that guessed too often at any names is refused for every name.
struct LoginLimits {
  std::int64_t since = 0;             // Unix ms: failures at or before this no longer count
  std::int64_t per_account = 5;       // failures of one username from one address
  std::int64_t per_address = 20;      // failures of any usernames from one address
};
struct LoginAttempt {
  enum class Refused { kNo, kAccount, kAddress };
  std::int64_t failures = 0;          // this username from this address, before this attempt
  std::int64_t address_failures = 0;  // any username from this address, before this attempt
  Refused refused = Refused::kNo;
  std::optional<std::int64_t> id;     // the row recorded for this attempt; none when refused
  // Wrong guesses still allowed after this attempt fails, before one of the limits refuses.
  std::int64_t tries_left_after_failure(const LoginLimits& l) const;
};
Result<LoginAttempt> begin_login_attempt(Tx& tx, const std::string& username, const std::string& ip,
                                         const LoginLimits& limits);
Status forget_login_attempt(Tx& tx, std::int64_t attempt_id);
// A successful sign-in of `username` from `ip`: its failures from that address are forgotten.
Status clear_login_failures(Tx& tx, const std::string& username, const std::string& ip);

// An admin lifts a lock-out: every counted sign-in and password-check failure of `username`,
// from every address, is forgotten. Returns how many were. (Address-wide throttling of a
// guessing client stays: it is about the client, not the account.)
Result<std::int64_t> unlock_account(Tx& tx, const std::string& username);

// The current-password check of a password change: failures count per account (any address),
// so a stolen session cannot try passwords until it finds the real one. Same recording rules;
// refused (kAccount) at `max_failures` in the window since `since`.
Result<LoginAttempt> begin_password_check(Tx& tx, const std::string& username, const std::string& ip,
                                          std::int64_t since, std::int64_t max_failures);
Status clear_password_failures(Tx& tx, const std::string& username);

// Self-registration: at most `max_per_address` attempts from one address since `since` (each
// costs a password hash). The attempt is recorded unless refused (kAddress); it is never taken
// back.
Result<LoginAttempt> begin_registration(Tx& tx, const std::string& username, const std::string& ip,
                                        std::int64_t since, std::int64_t max_per_address);

}  // namespace ms::store
