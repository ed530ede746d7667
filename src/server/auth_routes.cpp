// Sign-in, sessions, registration, password change, and user administration.
#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

#include "core/error_reason.h"
#include "core/json_schema.h"
#include "server/api.h"
#include "server/crypto.h"
#include "server/field_upload.h"
#include "server/http_error.h"
#include "server/request_bodies.h"
#include "store/operation_log.h"
#include "store/user_store.h"

namespace ms::server {
namespace {

std::string cookie(const ServerContext& ctx, const std::string& value, std::int64_t max_age_s) {
  return std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(max_age_s) + (ctx.options.secure_cookie ? "; Secure" : "");
}

// The session cookie is cleared; the client signs in again.
Reply signed_out(const ServerContext& ctx) {
  Reply r = Reply::json({{"signed_out", true}});
  r.headers.emplace("Set-Cookie", cookie(ctx, "", 0));
  return r;
}

// A hash to verify against when the username does not exist, so that the answer takes as long
// as for a real account and does not reveal which usernames exist.
const std::string& decoy_hash(const PasswordCost& cost) {
  static const std::string h = hash_password("decoy password", cost).value_or("");
  return h;
}

Json session_json(const store::User& u, const std::string& csrf) {
  return {{"user", config_to_json(u)}, {"csrf_token", csrf}};
}

Status require_field(const std::string& name, const std::string& value) {
  if (value.empty()) return fail(ErrorCode::kInvalidArgument, "request body:$." + name, "a value", "nothing");
  return {};
}

// Sign-in throttling (store/user_store.h): 5 failures of one username from one address
// (ServerOptions::max_login_failures), 20 of any usernames from one address, in the window.
constexpr std::int64_t kMaxAddressFailures = 20;
// Self-registration: each costs a password hash, and nothing legitimate registers often.
constexpr std::int64_t kMaxRegistrationsPerAddress = 5;
constexpr std::int64_t kRegistrationWindowMs = 3600LL * 1000;
// An avatar is shown as a 256-pixel thumbnail: a 4 MP photo is plenty.
constexpr std::int64_t kMaxAvatarPixels = 4'000'000;

std::int64_t whole_minutes(std::int64_t ms) { return std::max<std::int64_t>(1, (ms + 59999) / 60000); }

// 403 with Retry-After (seconds) and the wait in the details, for every throttle.
Reply throttled(Error e, std::int64_t window_ms) {
  Reply r = Reply::error(e, {{"retry_after_s", window_ms / 1000}});
  r.headers.emplace("Retry-After", std::to_string(window_ms / 1000));
  return r;
}

// Admins see every account; others only their own. Anything else is "not found".
Status require_visible(const Caller& c, std::int64_t id) {
  if (c.user.role != store::Role::kAdmin && c.user.id != id)
    return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " does not exist");
  return {};
}

}  // namespace

void register_auth_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.post(R"(/api/auth/login)", Access::kPublic,
           Doc("Sign in")
               .describe("Sets the HttpOnly session cookie `ms_session` and answers the CSRF token. "
                         "Failures are throttled per username and client address (5 in 15 minutes) "
                         "and per address (20)")
               .json_body(requiring(read_schema<LoginRequest>(), {"username", "password"}), {{"username", "jsmith"}, {"password", "correct horse battery"}})
               .answers(200, ref("Session"), "signed in")
               .header("Set-Cookie", "ms_session=<token>; Path=/; HttpOnly; SameSite=Strict; Max-Age=<s>")
               .error(401, "wrong username or password (details.tries_left, details.lock_minutes)")
               .error(403, "an account an admin has not enabled yet; too many failed sign-ins "
                           "(Retry-After, details.retry_after_s)"),
           [&ctx, &db](const net::Request& req, const Caller& anon) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<LoginRequest>(req));
             MS_RETURN_IF_ERROR(require_field("username", body.username));
             MS_RETURN_IF_ERROR(require_field("password", body.password));
             const auto now = store::now_ms();
             const store::LoginLimits limits{now - ctx.options.login_window_ms, ctx.options.max_login_failures,
                                             kMaxAddressFailures};
             const auto minutes = whole_minutes(ctx.options.login_window_ms);
             store::LoginAttempt attempt;
             std::optional<store::User> user;
             // The attempt counts as a failure before the password is checked, so guesses sent
             // at once cannot all be checked before any is counted (store/user_store.h).
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_ASSIGN_OR_RETURN(attempt, store::begin_login_attempt(tx, body.username, anon.ip, limits));
               if (attempt.id) {
                 MS_ASSIGN_OR_RETURN(user, store::find_user_by_name(tx, body.username));
               }
               return {};
             }));
             if (!attempt.id) {
               const bool address = attempt.refused == store::LoginAttempt::Refused::kAddress;
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return log_operation(tx, anon, "auth.login_throttled", body.username,
                                      address ? "address" : "account from this address");
               }));
               const std::string m = std::to_string(minutes);
               return throttled(address ? reason_error(ErrorCode::kPermissionDenied, Reason::kThrottledAddress,
                                                       {{"minutes", m}})
                                        : reason_error(ErrorCode::kPermissionDenied, Reason::kThrottledAccount,
                                                       {{"name", body.username}, {"minutes", m}}),
                                ctx.options.login_window_ms);
             }
             // Verify outside any transaction: argon2id takes a while and must not hold locks.
             const bool ok = verify_password(body.password, user ? user->password_hash
                                                                 : decoy_hash(ctx.options.password_cost));
             if (!ok || !user) {
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return log_operation(tx, anon, "auth.login_failed", body.username);
               }));
               // The same answer for unknown usernames: the count is per name and address either way.
               const auto left = attempt.tries_left_after_failure(limits);
               const std::string m = std::to_string(minutes);
               const Error e =
                   left > 1    ? reason_error(ErrorCode::kUnauthenticated, Reason::kTriesLeft,
                                              {{"n", std::to_string(left)}, {"minutes", m}})
                   : left == 1 ? reason_error(ErrorCode::kUnauthenticated, Reason::kLastTry, {{"minutes", m}})
                               : reason_error(ErrorCode::kUnauthenticated, Reason::kLockedNow, {{"minutes", m}});
               return Reply::error(e, {{"tries_left", left}, {"lock_minutes", minutes}});
             }
             if (!user->enabled) {
               // The right password: not a failure, though the account may not sign in yet.
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return store::forget_login_attempt(tx, *attempt.id);
               }));
               return fail(ErrorCode::kPermissionDenied, Reason::kAwaitingApproval, {{"name", user->username}});
             }
             const std::string token = random_hex(32);
             const std::string csrf = random_hex(32);
             Caller who = anon;
             who.signed_in = true;
             who.user = *user;
             // The idle end slides with use (Api::authenticate); the absolute end never moves.
             const std::int64_t ends_at = now + ctx.options.session_max_age_ms;
             const std::int64_t idle_end = std::min(now + ctx.options.session_ttl_ms, ends_at);
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_RETURN_IF_ERROR(store::insert_session(tx, user->id, sha256_hex(token), csrf, idle_end, anon.ip,
                                                        req.get_header_value("User-Agent"), ends_at));
               MS_RETURN_IF_ERROR(store::clear_login_failures(tx, user->username, anon.ip));
               MS_RETURN_IF_ERROR(store::purge_ended_sessions(tx, now));
               MS_RETURN_IF_ERROR(store::record_login(tx, user->id));
               return log_operation(tx, who, "auth.login", user->username);
             }));
             Reply r = Reply::json(session_json(*user, csrf));
             r.headers.emplace("Set-Cookie", cookie(ctx, token, (idle_end - now) / 1000));
             return r;
           });

  api.post(R"(/api/auth/logout)", Access::kAnyUser, Doc("Sign out; revokes this session")
               .answers(200, object_of({{"signed_out", {{"const", true}}}}), "the session cookie is cleared")
               .header("Set-Cookie", "ms_session=; Max-Age=0"),
           [&ctx, &db](const net::Request&, const Caller& c) -> Result<Reply> {
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_RETURN_IF_ERROR(store::revoke_session(tx, c.session.id));
               return log_operation(tx, c, "auth.logout", c.user.username);
             }));
             return signed_out(ctx);
           });

  api.get(R"(/api/session)", Access::kAnyUser, Doc("The signed-in user and the CSRF token").answers(200, ref("Session"), "the session"),
          [](const net::Request&, const Caller& c) -> Result<Reply> {
            return Reply::json(session_json(c.user, c.session.csrf_token));
          });

  api.post(R"(/api/auth/register)", Access::kPublic,
           Doc("Self-registration: a disabled account that an admin enables")
               .describe("At most 5 per client address per hour. The 201 answer is the same "
                         "whether or not the username was free (it does not say which names exist)")
               .json_body(requiring(read_schema<store::NewUser>(), {"username", "password"}),
                          {{"username", "jsmith"}, {"password", "a long passphrase"}, {"role", "technician"},
                           {"display_name", "Jane Smith"}})
               .answers(201,
                        object_of({{"username", string_schema()},
                                   {"role", written_schema<store::Role>()},
                                   {"enabled", {{"const", false}}},
                                   {"status", string_schema({"pending"})},
                                   {"message", string_schema()}}),
                        "registration received")
               .error(403, "role admin; too many registrations from this address (Retry-After)"),
           [&ctx, &db](const net::Request& req, const Caller& anon) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<store::NewUser>(req));
             if (body.role == store::Role::kAdmin)
               return fail(ErrorCode::kPermissionDenied,
                           "admin accounts are created by an admin, not by registration");
             body.enabled = false;
             MS_RETURN_IF_ERROR(store::validate_new_user(body));
             // Counted before the (costly) password hash.
             store::LoginAttempt attempt;
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_ASSIGN_OR_RETURN(attempt, store::begin_registration(tx, body.username, anon.ip,
                                                                      store::now_ms() - kRegistrationWindowMs,
                                                                      kMaxRegistrationsPerAddress));
               if (!attempt.id) return log_operation(tx, anon, "auth.register_throttled", body.username);
               return {};
             }));
             if (!attempt.id)
               return throttled(Error{ErrorCode::kPermissionDenied,
                                      "too many registrations from this address; try again in " +
                                          std::to_string(whole_minutes(kRegistrationWindowMs)) + " minutes"},
                                kRegistrationWindowMs);
             // Hashed for a taken name too, so that the answer takes as long either way.
             MS_ASSIGN_OR_RETURN(auto hash, hash_password(body.password, ctx.options.password_cost));
             auto created = db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_ASSIGN_OR_RETURN(auto existing, store::find_user_by_name(tx, body.username));
               if (existing) return log_operation(tx, anon, "auth.register_taken", body.username);
               MS_ASSIGN_OR_RETURN(auto u, store::create_user(tx, body, hash));
               return log_operation(tx, anon, "auth.register", u.username, "role " + store::role_name(u.role));
             });
             // A concurrent registration of the same name (kConflict) answers like a taken one.
             if (!created && created.error().code != ErrorCode::kConflict) return tl::unexpected(created.error());
             return Reply::json({{"username", body.username},
                                 {"role", store::role_name(body.role)},
                                 {"enabled", false},
                                 {"status", "pending"},
                                 {"message", "registration received; an administrator enables new accounts"}},
                                201);
           });

  api.post(R"(/api/auth/password)", Access::kAnyUser,
           Doc("Change your password; every session of the account is revoked")
               .describe("Wrong current passwords are throttled per account (5 in 15 minutes)")
               .json_body(requiring(read_schema<PasswordChange>(), {"current_password", "new_password"}),
                          {{"current_password", "old passphrase"}, {"new_password", "a new long passphrase"}})
               .answers(200, object_of({{"signed_out", {{"const", true}}}}), "changed; sign in again")
               .header("Set-Cookie", "ms_session=; Max-Age=0")
               .error(403, "wrong current password (details.tries_left); throttled (Retry-After)"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<PasswordChange>(req));
             MS_RETURN_IF_ERROR(require_field("current_password", body.current_password));
             store::NewUser probe;
             probe.username = c.user.username;
             probe.password = body.new_password;
             if (auto ok = store::validate_new_user(probe); !ok)
               return fail(ErrorCode::kInvalidArgument, "new_password: " + ok.error().message);
             const auto now = store::now_ms();
             const store::LoginLimits limits{now - ctx.options.login_window_ms, ctx.options.max_login_failures,
                                             std::numeric_limits<std::int64_t>::max()};
             const auto minutes = whole_minutes(ctx.options.login_window_ms);
             // Counted before the check, as sign-ins are: a stolen session cannot try passwords
             // in parallel until one fits.
             store::LoginAttempt attempt;
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_ASSIGN_OR_RETURN(attempt, store::begin_password_check(tx, c.user.username, c.ip, limits.since,
                                                                        limits.per_account));
               if (!attempt.id) return log_operation(tx, c, "auth.password_throttled", c.user.username);
               return {};
             }));
             if (!attempt.id)
               return throttled(Error{ErrorCode::kPermissionDenied,
                                      "too many wrong current passwords for '" + c.user.username +
                                          "'; try again in " + std::to_string(minutes) + " minutes"},
                                ctx.options.login_window_ms);
             if (!verify_password(body.current_password, c.user.password_hash)) {
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return log_operation(tx, c, "auth.password_wrong", c.user.username);
               }));
               const auto left = attempt.tries_left_after_failure(limits);
               return Reply::error(
                   Error{ErrorCode::kPermissionDenied,
                         "current password is wrong; " +
                             (left > 0 ? std::to_string(left) + (left == 1 ? " try" : " tries") +
                                             " left before password changes are locked for "
                                       : std::string("password changes are now locked for ")) +
                             std::to_string(minutes) + " minutes"},
                   {{"tries_left", left}, {"lock_minutes", minutes}});
             }
             MS_ASSIGN_OR_RETURN(auto hash, hash_password(body.new_password, ctx.options.password_cost));
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_RETURN_IF_ERROR(store::set_password_hash(tx, c.user.id, hash));
               MS_RETURN_IF_ERROR(store::revoke_user_sessions(tx, c.user.id));
               MS_RETURN_IF_ERROR(store::clear_password_failures(tx, c.user.username));
               return log_operation(tx, c, "auth.password_change", c.user.username);
             }));
             return signed_out(ctx);
           });

  api.get(R"(/api/users)", Access::kAdmin, Doc("List accounts")
              .answers(200, object_of({{"items", array_of(ref("User"))}, {"total", integer_schema(0)}}), "every account"),
          [&db](const net::Request&, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto users, db.transact(store::TxMode::kRead, [](store::Tx& tx) {
              return store::list_users(tx);
            }));
            Json items = Json::array();
            for (const auto& u : users) items.push_back(config_to_json(u));
            return Reply::json({{"items", items}, {"total", items.size()}});
          });

  api.post(R"(/api/users)", Access::kAdmin, Doc("Create an account (enabled unless \"enabled\": false)")
               .json_body(requiring(read_schema<store::NewUser>(), {"username", "password"}),
                          {{"username", "jsmith"}, {"password", "a long passphrase"}, {"role", "doctor"}})
               .answers(201, ref("User"), "created")
               .error(409, "the username is taken"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto j, json_body(req));
             if (!j.contains("enabled")) j["enabled"] = true;
             MS_ASSIGN_OR_RETURN(auto body, parse_config<store::NewUser>(j, "request body"));
             MS_RETURN_IF_ERROR(store::validate_new_user(body));
             MS_ASSIGN_OR_RETURN(auto hash, hash_password(body.password, ctx.options.password_cost));
             MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::User> {
               MS_ASSIGN_OR_RETURN(auto u, store::create_user(tx, body, hash));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "user.create", u.username,
                                                "role " + store::role_name(u.role)));
               return u;
             }));
             return Reply::json(config_to_json(user), 201);
           });

  api.get(R"(/api/users/(\d+))", Access::kAnyUser, Doc("One account (admins: any; others: their own)").answers(200, ref("User"), "the account"),
          [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_RETURN_IF_ERROR(require_visible(c, id));
            MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_user(tx, id);
            }));
            return Reply::json(config_to_json(user));
          });

  api.patch(R"(/api/users/(\d+))", Access::kAnyUser,
            Doc("Update a profile; role and enabled are admin-only")
                .json_body(read_schema<store::UserUpdate>(), {{"display_name", "Dr. Jane Smith"}})
                .answers(200, ref("User"), "the account after the change")
                .error(409, "an admin demoting or disabling their own account"),
            [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
              MS_ASSIGN_OR_RETURN(auto id, path_id(req));
              MS_RETURN_IF_ERROR(require_visible(c, id));
              MS_ASSIGN_OR_RETURN(auto body, body_as<store::UserUpdate>(req));
              const bool admin = c.user.role == store::Role::kAdmin;
              if (!admin && (body.role || body.enabled))
                return fail(ErrorCode::kPermissionDenied, "only an admin changes roles or enables accounts");
              if (admin && id == c.user.id &&
                  ((body.role && *body.role != store::Role::kAdmin) || (body.enabled && !*body.enabled)))
                return fail(ErrorCode::kConflict, "an admin cannot demote or disable their own account");
              MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::User> {
                MS_ASSIGN_OR_RETURN(auto before, store::get_user(tx, id));
                MS_ASSIGN_OR_RETURN(auto u, store::update_user(tx, id, body));
                std::string details;
                if (before.role != u.role)
                  details += "role " + store::role_name(before.role) + " -> " + store::role_name(u.role) + "; ";
                if (before.enabled != u.enabled) details += u.enabled ? "enabled; " : "disabled; ";
                MS_RETURN_IF_ERROR(log_operation(tx, c, "user.update", u.username, details));
                return u;
              }));
              return Reply::json(config_to_json(user));
            });

  api.post(R"(/api/users/(\d+)/unlock)", Access::kAdmin,
           Doc("Lift an account's sign-in lock-out")
               .describe("Forgets every counted failed sign-in and wrong current password of the account, "
                         "from every address, so its owner can sign in at once. Audited (operation log "
                         "user.unlock and an audit event). No body, or {}")
               .answers(200, object_of({{"user", ref("User")}, {"cleared", with_description(integer_schema(0),
                                                                     "failed attempts forgotten")}}),
                        "the account and how many failures were cleared")
               .error(400, "a request body other than none or {}"),
           [&db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             if (!req.body.empty()) {
               MS_ASSIGN_OR_RETURN(auto j, json_body(req));
               if (!j.is_object() || !j.empty())
                 return fail(ErrorCode::kInvalidArgument, "request body", "none or {}", j.dump().substr(0, 80));
             }
             MS_ASSIGN_OR_RETURN(auto out, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<Json> {
               MS_ASSIGN_OR_RETURN(auto user, store::get_user(tx, id));
               MS_ASSIGN_OR_RETURN(auto cleared, store::unlock_account(tx, user.username));
               MS_RETURN_IF_ERROR(store::append_audit(tx, {c.user_id(), "user", id, "unlock", std::nullopt,
                                                           std::to_string(cleared) + " failures cleared", c.ip}));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "user.unlock", user.username,
                                                std::to_string(cleared) + " failed attempt(s) cleared"));
               return Json{{"user", config_to_json(user)}, {"cleared", cleared}};
             }));
             return Reply::json(out);
           });

  api.put(R"(/api/users/(\d+)/avatar)", Access::kAnyUser,
          Doc("Set an avatar image")
              .body("multipart/form-data",
                    object_of({{"file", {{"type", "string"}, {"format", "binary"}}}}),
                    "the image (JPEG, PNG, BMP or TIFF; at most 8 MiB and 4 megapixels) as the multipart "
                    "field `file`, or as the body itself")
              .or_body("image/*", {{"type", "string"}, {"format", "binary"}})
              .answers(200, object_of({{"avatar_sha256", string_schema()}}), "stored as a 256 px JPEG")
              .error(422, "an image that does not decode"),
          [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_RETURN_IF_ERROR(require_visible(c, id));
            std::string name = "avatar";
            std::string_view bytes = req.body;
            if (req.is_multipart_form_data()) {
              if (!req.has_file("file"))
                return fail(ErrorCode::kInvalidArgument, "multipart body", "a field 'file'", "none");
              const auto& f = req.files.find("file")->second;
              name = f.filename;
              bytes = f.content;
            }
            // Refused from the header above 4 MP; decoded and reduced to the thumbnail in one
            // step (the decoded image is dropped before anything is stored).
            ImageLimits limits;
            limits.max_bytes = 8u << 20;
            limits.max_pixels = kMaxAvatarPixels;
            MS_ASSIGN_OR_RETURN(auto checked, check_field_image(name, bytes, limits));
            MS_ASSIGN_OR_RETURN(auto stored, ctx.files->put(checked.thumbnail_jpeg));
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
              MS_RETURN_IF_ERROR(store::set_avatar(tx, id, stored.sha256));
              return log_operation(tx, c, "user.avatar", std::to_string(id));
            }));
            return Reply::json({{"avatar_sha256", stored.sha256}});
          });

  api.get(R"(/api/users/(\d+)/avatar)", Access::kAnyUser, Doc("The avatar as JPEG").file(200, "image/jpeg", "the avatar").error(404, "the account has no avatar"),
          [&ctx, &db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_user(tx, id);
            }));
            if (!user.avatar_sha256)
              return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " has no avatar");
            MS_ASSIGN_OR_RETURN(auto bytes, ctx.files->read(*user.avatar_sha256));
            Reply r = Reply::bytes(std::move(bytes), "image/jpeg");
            r.headers.emplace("Cache-Control", "private, no-store");
            r.headers.emplace("Vary", "Cookie");
            return r;
          });
}

}  // namespace ms::server
