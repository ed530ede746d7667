// Sign-in, sessions, registration, password change, and user administration.
#include <spdlog/spdlog.h>

#include "server/api.h"
#include "server/crypto.h"
#include "server/field_upload.h"
#include "server/http_error.h"
#include "server/request_bodies.h"
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
           "Sign in; sets the HttpOnly session cookie and returns the CSRF token",
           [&ctx, &db](const httplib::Request& req, const Caller& anon) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<LoginRequest>(req));
             MS_RETURN_IF_ERROR(require_field("username", body.username));
             MS_RETURN_IF_ERROR(require_field("password", body.password));
             const auto now = store::now_ms();
             store::LoginAttempt attempt;
             std::optional<store::User> user;
             // The attempt counts as a failure before the password is checked, so guesses sent
             // at once cannot all be checked before any is counted (store/user_store.h).
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_ASSIGN_OR_RETURN(attempt, store::begin_login_attempt(tx, body.username, anon.ip,
                                                                       now - ctx.options.login_window_ms,
                                                                       ctx.options.max_login_failures));
               MS_ASSIGN_OR_RETURN(user, store::find_user_by_name(tx, body.username));
               return {};
             }));
             if (!attempt.id) {
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return log_operation(tx, anon, "auth.login_throttled", body.username);
               }));
               const auto minutes = ctx.options.login_window_ms / 60000;
               Reply r = Reply::error(
                   Error{ErrorCode::kPermissionDenied,
                         "too many failed sign-ins for '" + body.username + "'; try again in " +
                             std::to_string(std::max<std::int64_t>(1, minutes)) + " minutes"},
                   nullptr);
               r.headers.emplace("Retry-After", std::to_string(ctx.options.login_window_ms / 1000));
               return r;
             }
             // Verify outside any transaction: argon2id takes a while and must not hold locks.
             const bool ok = verify_password(body.password, user ? user->password_hash
                                                                 : decoy_hash(ctx.options.password_cost));
             if (!ok || !user) {
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return log_operation(tx, anon, "auth.login_failed", body.username);
               }));
               return fail(ErrorCode::kUnauthenticated, "wrong username or password");
             }
             if (!user->enabled) {
               // The right password: not a failure, though the account may not sign in yet.
               MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
                 return store::forget_login_attempt(tx, *attempt.id);
               }));
               return fail(ErrorCode::kPermissionDenied,
                           "account '" + user->username + "' is waiting for an administrator to enable it");
             }
             const std::string token = random_hex(32);
             const std::string csrf = random_hex(32);
             Caller who = anon;
             who.signed_in = true;
             who.user = *user;
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_RETURN_IF_ERROR(store::insert_session(tx, user->id, sha256_hex(token), csrf,
                                                        now + ctx.options.session_ttl_ms, anon.ip,
                                                        req.get_header_value("User-Agent")));
               MS_RETURN_IF_ERROR(store::clear_login_failures(tx, user->username));
               MS_RETURN_IF_ERROR(store::record_login(tx, user->id));
               return log_operation(tx, who, "auth.login", user->username);
             }));
             Reply r = Reply::json(session_json(*user, csrf));
             r.headers.emplace("Set-Cookie", cookie(ctx, token, ctx.options.session_ttl_ms / 1000));
             return r;
           });

  api.post(R"(/api/auth/logout)", Access::kAnyUser, "Sign out; revokes this session",
           [&ctx, &db](const httplib::Request&, const Caller& c) -> Result<Reply> {
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_RETURN_IF_ERROR(store::revoke_session(tx, c.session.id));
               return log_operation(tx, c, "auth.logout", c.user.username);
             }));
             return signed_out(ctx);
           });

  api.get(R"(/api/session)", Access::kAnyUser, "The signed-in user and the CSRF token",
          [](const httplib::Request&, const Caller& c) -> Result<Reply> {
            return Reply::json(session_json(c.user, c.session.csrf_token));
          });

  api.post(R"(/api/auth/register)", Access::kPublic,
           "Self-registration: creates a disabled account that an admin enables",
           [&ctx, &db](const httplib::Request& req, const Caller& anon) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<store::NewUser>(req));
             if (body.role == store::Role::kAdmin)
               return fail(ErrorCode::kPermissionDenied,
                           "admin accounts are created by an admin, not by registration");
             body.enabled = false;
             MS_RETURN_IF_ERROR(store::validate_new_user(body));
             MS_ASSIGN_OR_RETURN(auto hash, hash_password(body.password, ctx.options.password_cost));
             MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::User> {
               MS_ASSIGN_OR_RETURN(auto u, store::create_user(tx, body, hash));
               MS_RETURN_IF_ERROR(log_operation(tx, anon, "auth.register", u.username,
                                                "role " + store::role_name(u.role)));
               return u;
             }));
             return Reply::json(config_to_json(user), 201);
           });

  api.post(R"(/api/auth/password)", Access::kAnyUser,
           "Change your password; every session of the account is revoked",
           [&ctx, &db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
             MS_ASSIGN_OR_RETURN(auto body, body_as<PasswordChange>(req));
             MS_RETURN_IF_ERROR(require_field("current_password", body.current_password));
             if (!verify_password(body.current_password, c.user.password_hash))
               return fail(ErrorCode::kPermissionDenied, "current password is wrong");
             store::NewUser probe;
             probe.username = c.user.username;
             probe.password = body.new_password;
             if (auto ok = store::validate_new_user(probe); !ok)
               return fail(ErrorCode::kInvalidArgument, "new_password: " + ok.error().message);
             MS_ASSIGN_OR_RETURN(auto hash, hash_password(body.new_password, ctx.options.password_cost));
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
               MS_RETURN_IF_ERROR(store::set_password_hash(tx, c.user.id, hash));
               MS_RETURN_IF_ERROR(store::revoke_user_sessions(tx, c.user.id));
               return log_operation(tx, c, "auth.password_change", c.user.username);
             }));
             return signed_out(ctx);
           });

  api.get(R"(/api/users)", Access::kAdmin, "List accounts",
          [&db](const httplib::Request&, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto users, db.transact(store::TxMode::kRead, [](store::Tx& tx) {
              return store::list_users(tx);
            }));
            Json items = Json::array();
            for (const auto& u : users) items.push_back(config_to_json(u));
            return Reply::json({{"items", items}, {"total", items.size()}});
          });

  api.post(R"(/api/users)", Access::kAdmin, "Create an account (enabled unless \"enabled\": false)",
           [&ctx, &db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
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

  api.get(R"(/api/users/(\d+))", Access::kAnyUser, "One account (admins: any; others: their own)",
          [&db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_RETURN_IF_ERROR(require_visible(c, id));
            MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_user(tx, id);
            }));
            return Reply::json(config_to_json(user));
          });

  api.patch(R"(/api/users/(\d+))", Access::kAnyUser,
            "Update a profile; role and enabled are admin-only",
            [&db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
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

  api.put(R"(/api/users/(\d+)/avatar)", Access::kAnyUser,
          "Set an avatar image (multipart field 'file' or the image as the body)",
          [&ctx, &db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
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
            ImageLimits limits;
            limits.max_bytes = 8u << 20;
            limits.max_pixels = 40'000'000;
            MS_ASSIGN_OR_RETURN(auto checked, check_field_image(name, bytes, limits));
            MS_ASSIGN_OR_RETURN(auto stored, ctx.files->put(checked.thumbnail_jpeg));
            MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
              MS_RETURN_IF_ERROR(store::set_avatar(tx, id, stored.sha256));
              return log_operation(tx, c, "user.avatar", std::to_string(id));
            }));
            return Reply::json({{"avatar_sha256", stored.sha256}});
          });

  api.get(R"(/api/users/(\d+)/avatar)", Access::kAnyUser, "The avatar as JPEG",
          [&ctx, &db](const httplib::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto user, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_user(tx, id);
            }));
            if (!user.avatar_sha256)
              return fail(ErrorCode::kNotFound, "user " + std::to_string(id) + " has no avatar");
            MS_ASSIGN_OR_RETURN(auto bytes, ctx.files->read(*user.avatar_sha256));
            return Reply::bytes(std::move(bytes), "image/jpeg");
          });
}

}  // namespace ms::server
