// Health, the operation log, model versions and the OpenAPI document.
#include <filesystem>

#include "server/api.h"
#include "server/api_schemas.h"
#include "store/operation_log.h"
#include "store/paging.h"
#include "store/schema.h"

namespace ms::server {
namespace fs = std::filesystem;

void register_admin_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.get(R"(/api/health)", Access::kPublic,
          Doc("Liveness")
              .describe("Everyone gets `status` and `analysis` (whether fields are analysed); "
                        "signed-in users also get the database, schema version, analysis runner "
                        "and workers (what to aim at is not told to strangers)")
              .answers(200,
                       [] {
                         Json s = object_of({{"status", string_schema({"ok"})},
                                             {"analysis", {{"type", "boolean"}}},
                                             {"database", string_schema({"sqlite", "postgresql"})},
                                             {"schema_version", integer_schema(1)},
                                             {"runner", {{"type", "string"}}},
                                             {"workers", integer_schema(0)}});
                         s["required"] = Json::array({"status", "analysis"});
                         return s;
                       }(),
                       "the server answers", {{"status", "ok"}, {"analysis", true}}),
          [&ctx, &db](const net::Request&, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto version, store::schema_version(db));
            // Runner and model versions tell an attacker what to aim at: only for accounts.
            Json health = {{"status", "ok"}, {"analysis", ctx.workers != nullptr}};
            if (!c.signed_in) return Reply::json(health);
            health["database"] = std::string(store::dialect_name(db.dialect()));
            health["schema_version"] = version;
            health["runner"] = ctx.runner ? ctx.runner->name() : ctx.analysis;
            health["workers"] = ctx.workers ? ctx.options.workers : 0;
            return Reply::json(health);
          });

  api.get(R"(/api/logs)", Access::kDoctor,
          Doc("Operation log, newest first")
              .query("username", string_schema(), "exact account name")
              .query("user_id", integer_schema(), "account id")
              .query("action", string_schema(), "exact action, or a prefix ending in '.' (`sample.`)")
              .query("from", integer_schema(), "Unix ms, inclusive")
              .query("to", integer_schema(), "Unix ms, inclusive")
              .query("page", integer_schema(1, store::kMaxPageNumber), "1-based; default 1")
              .query("page_size", integer_schema(1, store::kMaxLogPageSize), "default 50")
              .answers(200, object_of({{"items", array_of(ref("LogEntry"))}, {"total", integer_schema(0)},
                                       {"page", integer_schema(1)}, {"page_size", integer_schema(1)}}),
                       "one page of the log"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            store::LogQuery q;
            q.username = query_text(req, "username");
            q.action = query_text(req, "action");
            MS_ASSIGN_OR_RETURN(q.user_id, query_opt_int(req, "user_id"));
            MS_ASSIGN_OR_RETURN(q.from_ms, query_opt_int(req, "from"));
            MS_ASSIGN_OR_RETURN(q.to_ms, query_opt_int(req, "to"));
            MS_ASSIGN_OR_RETURN(q.page, query_int(req, "page", 1));
            MS_ASSIGN_OR_RETURN(q.page_size, query_int(req, "page_size", 50));
            MS_ASSIGN_OR_RETURN(auto page, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::query_log(tx, q);
            }));
            Json items = Json::array();
            for (const auto& e : page.items) items.push_back(config_to_json(e));
            return Reply::json({{"items", items}, {"total", page.total}, {"page", page.page},
                                {"page_size", page.page_size}});
          });

  api.get(R"(/api/model-versions)", Access::kAnyUser, Doc("Registered detector and classifier versions")
              .describe("`active`: the ones the last started server loaded. Each cell names its "
                        "`detector_version` / `classifier_version`")
              .answers(200, object_of({{"items", array_of(ref("ModelVersion"))}}), "by kind, newest first"),
          [&db](const net::Request&, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto rows, db.transact(store::TxMode::kRead, [](store::Tx& tx) {
              return tx.query("SELECT id, kind, name, version, sha256, metrics, active, created_at "
                              "FROM model_versions ORDER BY kind, created_at DESC");
            }));
            Json items = Json::array();
            for (const auto& r : rows) items.push_back(config_to_json(store::from_row<store::ModelVersion>(r)));
            return Reply::json({{"items", items}});
          });

  // The interactive reference: Swagger UI, bundled into the web app's files by its build
  // (web/vite.config.js), reading /api/openapi.json. A page of its own, for accounts only; its
  // Content-Security-Policy (lab_server.cpp) lets it run only the web root's scripts.
  api.get(R"(/api/docs)", Access::kAnyUser,
          Doc("The interactive API reference (Swagger UI)")
              .describe("An HTML page that renders this document; \"Try it out\" calls the API with the "
                        "caller's session and CSRF token")
              .file(200, "text/html", "the page"),
          [&ctx](const net::Request&, const Caller&) -> Result<Reply> {
            std::error_code ec;
            const bool built = fs::is_regular_file(fs::path(ctx.options.web_root) / "api-docs" / "swagger-ui-bundle.js", ec);
            std::string body =
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>Marrowscope API reference</title>";
            if (built) {
              body += "<link rel=\"stylesheet\" href=\"/api-docs/swagger-ui.css\">"
                      "</head><body><div id=\"swagger-ui\"></div>"
                      "<script src=\"/api-docs/swagger-ui-bundle.js\"></script>"
                      "<script src=\"/api-docs/init.js\"></script></body></html>";
            } else {
              body += "</head><body><p>The interactive reference is part of the built web app, which this "
                      "server does not find (build it with <code>make web</code>). The document itself is "
                      "<a href=\"/api/openapi.json\">/api/openapi.json</a>.</p></body></html>";
            }
            return Reply::bytes(std::move(body), "text/html; charset=utf-8");
          });

  api.get(R"(/api/openapi.json)", Access::kPublic, Doc("This document").answers(200, {{"type", "object"}}, "OpenAPI 3.1"),
          [&api](const net::Request&, const Caller&) -> Result<Reply> {
            return Reply::json(api.openapi());
          });
}

}  // namespace ms::server
