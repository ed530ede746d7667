#include "server/api.h"

#include <regex>

#include <spdlog/spdlog.h>

#include "core/error_reason.h"
#include "server/crypto.h"
#include "server/field_upload.h"
#include "server/http_error.h"
#include "store/operation_log.h"
#include "store/user_store.h"

namespace ms::server {

Reply Reply::error(const Error& e, Json details) {
  Reply r;
  r.status = http_status(e.code);
  r.body = error_json(e, details);
  return r;
}

void send_error(net::Response& res, const Error& e, const Json& details) {
  res.status = http_status(e.code);
  res.set_content(error_json(e, details).dump(-1, ' ', false, Json::error_handler_t::replace),
                  "application/json");
}

std::string session_cookie_value(const net::Request& req) {
  const std::string cookies = req.get_header_value("Cookie");
  const std::string key = std::string(kSessionCookie) + "=";
  std::size_t pos = 0;
  while (pos < cookies.size()) {
    while (pos < cookies.size() && (cookies[pos] == ' ' || cookies[pos] == ';')) ++pos;
    const std::size_t end = cookies.find(';', pos);
    const std::string part = cookies.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (part.rfind(key, 0) == 0) return part.substr(key.size());
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return {};
}

bool has_role(const Caller& c, Access a) {
  using store::Role;
  if (a == Access::kPublic) return true;
  if (!c.signed_in) return false;
  const Role r = c.user.role;
  switch (a) {
    case Access::kPublic:
    case Access::kAnyUser: return true;
    case Access::kStaff: return r == Role::kAdmin || r == Role::kDoctor || r == Role::kTechnician;
    case Access::kDoctor: return r == Role::kAdmin || r == Role::kDoctor;
    case Access::kAdmin: return r == Role::kAdmin;
  }
  return false;
}

const char* access_text(Access a) {
  switch (a) {
    case Access::kPublic: return "public";
    case Access::kAnyUser: return "any signed-in user";
    case Access::kStaff: return "admin, doctor or technician";
    case Access::kDoctor: return "admin or doctor";
    case Access::kAdmin: return "admin";
  }
  return "";
}

namespace {
bool changes_state(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}
}  // namespace

Result<Caller> Api::authenticate(const net::Request& req, Access a) {
  Caller c;
  c.ip = req.remote_addr;
  const std::string token = session_cookie_value(req);
  if (!token.empty()) {
    const std::string hash = sha256_hex(token);
    const auto now = store::now_ms();
    auto found = db().transact(store::TxMode::kReadOne, [&](store::Tx& tx) {
      return store::find_session(tx, hash, now);
    });
    if (!found) return tl::unexpected(found.error());
    if (*found) {
      c.signed_in = true;
      c.user = (*found)->user;
      c.session = (*found)->session;
      // Sliding expiry, written at most once a minute per session.
      if (now - c.session.last_seen_at > 60000) {
        auto touched = db().transact(store::TxMode::kWrite, [&](store::Tx& tx) {
          return store::touch_session(tx, c.session.id, now, now + ctx_.options.session_ttl_ms);
        });
        if (!touched) spdlog::warn("session touch: {}", touched.error().message);
      }
    }
  }
  if (a == Access::kPublic) return c;
  if (!c.signed_in)
    return fail(ErrorCode::kUnauthenticated, Reason::kSignInFirst);
  if (changes_state(req.method)) {
    const std::string sent = req.get_header_value(kCsrfHeader);
    if (sent.empty() || !equal_constant_time(sent, c.session.csrf_token))
      return fail(ErrorCode::kPermissionDenied,
                  std::string("missing or wrong ") + kCsrfHeader +
                      " header (get the token from POST /api/auth/login or GET /api/session)");
  }
  if (!has_role(c, a))
    return fail(ErrorCode::kPermissionDenied, Reason::kRoleNotAllowed,
                {{"role", store::role_name(c.user.role)}, {"needs", access_text(a)}});
  return c;
}

void Api::dispatch(const net::Request& req, net::Response& res, Access a, const Handler& h) {
  try {
    auto caller = authenticate(req, a);
    Result<Reply> reply = caller ? h(req, *caller) : tl::unexpected(caller.error());
    if (!reply) {
      const Error& e = reply.error();
      if (http_status(e.code) >= 500) {
        const std::string ref = random_hex(4);
        spdlog::error("{} {} failed [{}]: {}", req.method, req.path, ref, e.message);
        send_error(res, Error{e.code, "internal error (logged as " + ref + ")"});
      } else {
        send_error(res, e);
      }
      return;
    }
    res.status = reply->status;
    for (const auto& [k, v] : reply->headers) res.set_header(k, v);
    if (reply->status == 204 || reply->status == 304) return;  // answers without a body
    if (!reply->content_type.empty())
      res.set_content(std::move(reply->raw), reply->content_type);
    else
      res.set_content(reply->body.dump(-1, ' ', false, Json::error_handler_t::replace),
                      "application/json");
  } catch (const std::exception& e) {
    const std::string ref = random_hex(4);
    spdlog::error("{} {} threw [{}]: {}", req.method, req.path, ref, e.what());
    send_error(res, Error{ErrorCode::kInternal, "internal error (logged as " + ref + ")"});
  }
}

void Api::set_body_limit(const std::string& method, const std::string& pattern, std::size_t bytes) {
  body_limits_.emplace_back(method + " " + pattern, bytes);
}

void Api::add(const std::string& method, const std::string& pattern, Access a, Doc doc, Handler h) {
  if (method != "GET" && method != "POST" && method != "PATCH" && method != "PUT" && method != "DELETE")
    throw MarrowError(ErrorCode::kInternal, "unknown HTTP method " + method);
  if (doc.success().empty())
    throw MarrowError(ErrorCode::kInternal, method + " " + pattern + ": its Doc names no successful answer");
  routes_.push_back({method, pattern, a, std::move(doc)});
  auto fn = [this, a, h = std::move(h)](const net::Request& req, net::Response& res) {
    dispatch(req, res, a, h);
  };
  std::size_t limit = 0;
  for (const auto& [key, bytes] : body_limits_)
    if (key == method + " " + pattern) limit = bytes;
  net::PreBodyCheck check;
  if (limit > 0 && a != Access::kPublic) {
    check = [this, a](const net::Request& req, net::Response& res) {
      try {
        auto caller = authenticate(req, a);
        if (caller) return true;
        send_error(res, caller.error());
      } catch (const std::exception& e) {
        spdlog::error("{} {}: authentication threw: {}", req.method, req.path, e.what());
        send_error(res, Error{ErrorCode::kInternal, "internal error"});
      }
      return false;
    };
  }
  http_.route(method, pattern, std::move(fn), limit, std::move(check));
}

void Api::get(const std::string& p, Access a, Doc d, Handler h) { add("GET", p, a, std::move(d), std::move(h)); }
void Api::post(const std::string& p, Access a, Doc d, Handler h) { add("POST", p, a, std::move(d), std::move(h)); }
void Api::patch(const std::string& p, Access a, Doc d, Handler h) { add("PATCH", p, a, std::move(d), std::move(h)); }
void Api::put(const std::string& p, Access a, Doc d, Handler h) { add("PUT", p, a, std::move(d), std::move(h)); }
void Api::del(const std::string& p, Access a, Doc d, Handler h) { add("DELETE", p, a, std::move(d), std::move(h)); }

Result<Json> json_body(const net::Request& req) {
  // The media type must be exactly application/json (parameters such as charset aside): a
  // type that merely contains it, such as "text/plain; x=application/json", is one a page of
  // another site may send without a CORS preflight, and so is no Content-Type at all.
  const std::string type = req.get_header_value("Content-Type");
  std::string media = type.substr(0, type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.erase(0, 1);
  for (auto& ch : media) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (media != "application/json")
    return fail(ErrorCode::kUnsupportedFormat, "request body", "Content-Type application/json",
                type.empty() ? std::string("no Content-Type") : "\"" + type + "\"");
  if (req.body.empty()) return fail(ErrorCode::kInvalidArgument, "request body", "a JSON object", "nothing");
  auto j = parse_json(req.body, "request body");
  if (!j) return fail(ErrorCode::kInvalidArgument, j.error().message);
  if (!j->is_object())
    return fail(ErrorCode::kInvalidArgument, "request body", "a JSON object", json_type_name(*j));
  return j;
}

Status require_multipart(const net::Request& req, const std::string& what) {
  if (req.is_multipart_form_data()) return {};
  return fail(ErrorCode::kUnsupportedFormat, what, "Content-Type multipart/form-data",
              "\"" + req.get_header_value("Content-Type") + "\"");
}

Reply refuse_files(const std::vector<FileProblem>& problems, std::size_t files,
                   const std::string& outcome) {
  MS_CHECK(!problems.empty(), "refuse_files needs a problem");
  Json listed = Json::array();
  for (const auto& p : problems)
    listed.push_back({{"filename", clean_filename(p.filename)},
                      {"code", std::string(error_code_name(p.error.code))},
                      {"message", p.error.message}});
  Error e = problems.front().error;
  if (files > 1)
    e.message = std::to_string(problems.size()) + " of " + std::to_string(files) +
                " files refused, nothing " + outcome + "; first: " + e.message;
  return Reply::error(e, {{"files", listed}});
}

Result<std::vector<const net::MultipartFormData*>> file_parts(const net::Request& req,
                                                                  const std::string& what) {
  std::vector<const net::MultipartFormData*> parts;
  for (const auto& [field, part] : req.files)
    if (!part.filename.empty()) parts.push_back(&part);
  if (parts.empty()) return fail(ErrorCode::kInvalidArgument, what, "one or more files", "no file parts");
  return parts;
}

Result<std::int64_t> path_id(const net::Request& req, int k) {
  if (static_cast<int>(req.matches.size()) <= k)
    throw MarrowError(ErrorCode::kInternal, "route has no id group " + std::to_string(k));
  const std::string s = req.matches[k].str();
  if (s.size() > 18) return fail(ErrorCode::kNotFound, "no object has id " + s);
  return std::stoll(s);
}

bool if_none_match(const net::Request& req, const std::string& etag) {
  const std::string have = req.get_header_value("If-None-Match");
  if (have.empty()) return false;
  if (have == "*") return true;
  std::size_t at = 0;
  while (at < have.size()) {
    std::size_t end = have.find(',', at);
    if (end == std::string::npos) end = have.size();
    std::string one = have.substr(at, end - at);
    while (!one.empty() && (one.front() == ' ' || one.front() == '\t')) one.erase(0, 1);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\t')) one.pop_back();
    if (one.rfind("W/", 0) == 0) one.erase(0, 2);
    if (one == etag) return true;
    at = end + 1;
  }
  return false;
}

std::string query_text(const net::Request& req, const std::string& name, const std::string& fallback) {
  return req.has_param(name.c_str()) ? req.get_param_value(name.c_str()) : fallback;
}

Result<std::int64_t> query_int(const net::Request& req, const std::string& name, std::int64_t fallback) {
  if (!req.has_param(name.c_str())) return fallback;
  const std::string s = req.get_param_value(name.c_str());
  static const std::regex re("-?[0-9]{1,18}");
  if (!std::regex_match(s, re))
    return fail(ErrorCode::kInvalidArgument, "query parameter '" + name + "'", "an integer", "\"" + s + "\"");
  return std::stoll(s);
}

Result<std::optional<std::int64_t>> query_opt_int(const net::Request& req, const std::string& name) {
  if (!req.has_param(name.c_str())) return std::optional<std::int64_t>{};
  auto v = query_int(req, name, 0);
  if (!v) return tl::unexpected(v.error());
  return std::optional<std::int64_t>(*v);
}

Status log_operation(store::Tx& tx, const Caller& c, const std::string& action,
                     const std::string& target, const std::string& details) {
  store::LogInput e;
  e.user_id = c.user_id();
  e.username = c.signed_in ? c.user.username : "";
  e.action = action;
  e.target = target;
  e.details = details;
  e.ip = c.ip;
  return store::append_log(tx, e);
}

}  // namespace ms::server
