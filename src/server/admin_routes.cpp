// Health, the operation log, model versions and the OpenAPI document.
#include "server/api.h"
#include "store/operation_log.h"
#include "store/schema.h"

namespace ms::server {

void register_admin_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.get(R"(/api/health)", Access::kPublic,
          "Liveness: {status, analysis (whether fields are analysed)}; signed-in users also get the "
          "database, schema version, analysis runner with its model versions, and workers",
          [&ctx, &db](const net::Request&, const Caller& c) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto version, store::schema_version(db));
            // Runner and model versions tell an attacker what to aim at: only for accounts.
            Json health = {{"status", "ok"}, {"analysis", ctx.workers != nullptr}};
            if (!c.signed_in) return Reply::json(health);
            health["database"] = std::string(store::dialect_name(db.dialect()));
            health["schema_version"] = version;
            health["runner"] = ctx.analysis;
            health["workers"] = ctx.workers ? ctx.options.workers : 0;
            return Reply::json(health);
          });

  api.get(R"(/api/logs)", Access::kDoctor,
          "Operation log, newest first: username, action (exact, or a prefix ending in '.'), "
          "from / to (Unix ms), page, page_size",
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

  api.get(R"(/api/model-versions)", Access::kAnyUser, "Registered detector and classifier versions",
          [&db](const net::Request&, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto rows, db.transact(store::TxMode::kRead, [](store::Tx& tx) {
              return tx.query("SELECT id, kind, name, version, sha256, metrics, active, created_at "
                              "FROM model_versions ORDER BY kind, created_at DESC");
            }));
            Json items = Json::array();
            for (const auto& r : rows) items.push_back(config_to_json(store::from_row<store::ModelVersion>(r)));
            return Reply::json({{"items", items}});
          });

  api.get(R"(/api/openapi.json)", Access::kPublic, "This document",
          [&api](const net::Request&, const Caller&) -> Result<Reply> {
            return Reply::json(api.openapi());
          });
}

}  // namespace ms::server
