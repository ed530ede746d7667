// Model administration: adapting the active classifier to the lab's reviewed cells (a durable
// adaptation run by the server's adaptation thread), and activating a model version, which
// switches the running server's classifier and is remembered across restarts.
#include <filesystem>

#include <fmt/format.h>

#include "core/json_schema.h"
#include "server/active_classifier.h"
#include "server/adaptation_worker.h"
#include "server/api.h"
#include "server/classifier_host.h"
#include "server/request_bodies.h"
#include "store/adaptation_store.h"
#include "store/patient_store.h"

namespace ms::server {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxEpochs = 50;
constexpr std::size_t kMaxAdaptationSamples = 200;

Status require_host(const ServerContext& ctx) {
  if (!ctx.classifier_host || !ctx.adaptation)
    return fail(ErrorCode::kConflict, "this server runs without an analysis pipeline: it has no classifier to adapt or switch");
  return {};
}

}  // namespace

void register_model_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.get(R"(/api/adaptations)", Access::kAdmin,
          Doc("Classifier adaptations, newest first")
              .describe("Each: its status, progress line, the lab cells it learnt from and the accuracy of the "
                        "classifier before and after it on the held-back reviewed cells")
              .answers(200, object_of({{"items", array_of(ref("Adaptation"))}}), "the last 100"),
          [&db](const net::Request&, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto list, db.transact(store::TxMode::kRead, [](store::Tx& tx) {
              return store::list_adaptations(tx, 100);
            }));
            Json items = Json::array();
            for (const auto& a : list) items.push_back(config_to_json(a));
            return Reply::json({{"items", items}});
          });

  api.get(R"(/api/adaptations/(\d+))", Access::kAdmin,
          Doc("One classifier adaptation").answers(200, ref("Adaptation"), "the adaptation"),
          [&db](const net::Request& req, const Caller&) -> Result<Reply> {
            MS_ASSIGN_OR_RETURN(auto id, path_id(req));
            MS_ASSIGN_OR_RETURN(auto a, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
              return store::get_adaptation(tx, id);
            }));
            return Reply::json(config_to_json(a));
          });

  api.post(R"(/api/adaptations)", Access::kAdmin,
           Doc("Adapt the active classifier to the lab's reviewed cells")
               .describe(fmt::format(
                   "Queues a fine-tuning of the active classifier on the confirmed cells of `samples` (every "
                   "sample when empty; at most {}) whose class it knows, with replay of its original training "
                   "cells when the server was started with --replay-list. Part of the cells is held back to stop "
                   "early and to give the before/after accuracy. The new version is registered inactive: "
                   "activate it with POST /api/model-versions/{{id}}/activate. One adaptation at a time. Logged "
                   "as model.adapt",
                   kMaxAdaptationSamples))
               .json_body(read_schema<AdaptationRequest>(), {{"samples", {5, 6}}, {"max_epochs", 10}})
               .answers(202, ref("Adaptation"), "queued")
               .error(404, "a sample that does not exist")
               .error(409, "another adaptation is queued or running, or the server has no classifier"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_RETURN_IF_ERROR(require_host(ctx));
             MS_ASSIGN_OR_RETURN(auto body, body_as<AdaptationRequest>(req));
             if (body.samples.size() > kMaxAdaptationSamples)
               return fail(ErrorCode::kInvalidArgument, "request body:$.samples",
                           "at most " + std::to_string(kMaxAdaptationSamples) + " sample ids",
                           std::to_string(body.samples.size()));
             if (body.max_epochs && (*body.max_epochs < 1 || *body.max_epochs > kMaxEpochs))
               return fail(ErrorCode::kInvalidArgument, "request body:$.max_epochs",
                           "1.." + std::to_string(kMaxEpochs), std::to_string(*body.max_epochs));
             if (body.seed && *body.seed < 0)
               return fail(ErrorCode::kInvalidArgument, "request body:$.seed", "a non-negative integer",
                           std::to_string(*body.seed));
             Json options = Json::object();
             if (body.max_epochs) options["max_epochs"] = *body.max_epochs;
             if (body.seed) options["seed"] = *body.seed;
             const store::ModelInfo base = ctx.classifier_host->classifier_model();
             MS_ASSIGN_OR_RETURN(auto a, db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::Adaptation> {
               for (auto id : body.samples) MS_RETURN_IF_ERROR(store::get_sample(tx, id));
               MS_ASSIGN_OR_RETURN(auto created, store::create_adaptation(tx, base.version, options, body.samples, c.user_id()));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "model.adapt", base.version,
                                                fmt::format("adaptation {}, {}", created.id,
                                                            body.samples.empty() ? std::string("all samples")
                                                                                 : std::to_string(body.samples.size()) + " sample(s)")));
               return created;
             }));
             ctx.adaptation->wake();
             return Reply::json(config_to_json(a), 202);
           });

  api.post(R"(/api/model-versions/(\d+)/activate)", Access::kAdmin,
           Doc("Make a classifier version the one this server uses")
               .describe("Loads the version's folder and switches to it: analyses already running finish with the "
                         "previous classifier, later ones use this one. The choice is kept across restarts. "
                         "Versions a server was started with can be activated again while that server runs "
                         "with them. Logged as model.activate")
               .answers(200, ref("ModelVersion"), "the version, now active")
               .error(404, "no such version")
               .error(409, "a detector, a version whose folder this server does not have, or no analysis pipeline"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             MS_RETURN_IF_ERROR(require_host(ctx));
             MS_ASSIGN_OR_RETURN(auto id, path_id(req));
             MS_ASSIGN_OR_RETURN(auto m, db.transact(store::TxMode::kRead, [&](store::Tx& tx) {
               return store::get_model_version(tx, id);
             }));
             if (m.row.kind != "classifier")
               return fail(ErrorCode::kConflict, "model version " + std::to_string(id) +
                                                     " is a detector; only classifier versions are switched here");
             ClassifierHost& host = *ctx.classifier_host;
             std::string dir;
             if (!m.model_dir.empty()) {
               dir = (fs::path(ctx.options.data_dir) / m.model_dir).string();
             } else {
               // A version without a folder of its own is one a server was started with: only this
               // server's start-up folder can hold it (checked against the version's hash below).
               const std::string startup = host.startup_classifier_dir();
               std::error_code ec;
               if (!fs::exists(fs::path(startup) / "model.json", ec))
                 return fail(ErrorCode::kConflict, "the start-up classifier folder is gone");
               dir = startup;
             }
             // No sync of the stored choice runs between the switch and storing it.
             std::unique_lock<std::mutex> held;
             if (ctx.classifier_follower) held = ctx.classifier_follower->hold();
             const std::string previous = host.classifier_dir();
             MS_RETURN_IF_ERROR(host.use_classifier(dir));
             const store::ModelInfo now = host.classifier_model();
             if (now.version != m.row.version || now.sha256 != m.row.sha256) {
               (void)host.use_classifier(previous);
               return fail(ErrorCode::kConflict,
                           fmt::format("model version {} ({}) is not the one its folder holds now ({}); "
                                       "nothing was switched",
                                       id, m.row.version, now.version));
             }
             auto activated = db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<store::ActiveModel> {
               MS_RETURN_IF_ERROR(store::activate_model_version(tx, id));
               MS_RETURN_IF_ERROR(log_operation(tx, c, "model.activate", m.row.version,
                                                "classifier version " + std::to_string(id)));
               return store::get_model_version(tx, id);
             });
             if (!activated) {
               (void)host.use_classifier(previous);
               return tl::unexpected(activated.error());
             }
             return Reply::json(config_to_json(activated->row));
           });
}

}  // namespace ms::server
