#include "server/active_classifier.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "store/adaptation_store.h"

namespace ms::server {

namespace fs = std::filesystem;

ActiveClassifierFollower::ActiveClassifierFollower(store::Database& db, std::string data_dir, ClassifierHost& host)
    : db_(db), data_dir_(std::move(data_dir)), host_(host) {}

Result<bool> ActiveClassifierFollower::sync() {
  std::lock_guard<std::mutex> lock(mu_);
  MS_ASSIGN_OR_RETURN(auto active, db_.transact(store::TxMode::kRead, [](store::Tx& tx) {
    return store::active_adapted_classifier(tx);
  }));
  const std::string want =
      active ? (fs::path(data_dir_) / active->model_dir).string() : host_.startup_classifier_dir();
  if (want == host_.classifier_dir()) return false;
  if (want == failed_dir_) return false;
  auto used = host_.use_classifier(want);
  if (!used) {
    failed_dir_ = want;
    spdlog::warn("the active classifier {} ({}) cannot be loaded ({}); {} stays in use",
                 active ? active->row.version : std::string("of the start-up folder"), want,
                 used.error().message, host_.classifier_dir());
    return false;
  }
  failed_dir_.clear();
  spdlog::info("classifier {} is in use (the active version)", host_.classifier_model().version);
  return true;
}

}  // namespace ms::server
