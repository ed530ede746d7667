#pragma once
// Keeps a process's classifier equal to the version stored as active. Every process that analyses
// (each `serve`, each `marrowscope worker`) runs one: an admin's activation on one server reaches
// the others through the database. The active version is an adapted folder under the data
// directory, or else the process's start-up classifier.
#include <mutex>
#include <string>

#include "server/classifier_host.h"
#include "store/database.h"

namespace ms::server {

class ActiveClassifierFollower {
 public:
  ActiveClassifierFollower(store::Database& db, std::string data_dir, ClassifierHost& host);
  // Switches to the stored active version when the host uses another; true when it switched. A
  // folder that does not load is logged once and the classifier in use is kept.
  Result<bool> sync();
  // Held by whoever switches the host and stores the choice (the activation route), so a sync
  // never sees the switch without the stored choice and switches back.
  std::unique_lock<std::mutex> hold() { return std::unique_lock<std::mutex>(mu_); }

 private:
  store::Database& db_;
  std::string data_dir_;
  ClassifierHost& host_;
  std::mutex mu_;
  std::string failed_dir_;  // the last folder that did not load (logged once)
};

}  // namespace ms::server
