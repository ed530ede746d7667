#pragma once
// The server's adaptation thread: runs the queued classifier adaptations (store/adaptation_store.h)
// one at a time. For each: the reviewed cells of the chosen samples (every sample when none was
// chosen) whose class the active classifier knows are cropped as the classifier saw them into a
// scratch folder-per-class tree; `adapt_classifier` fine-tunes the active classifier on them with
// replay of its original training cells (when the server was told where they are); the new
// folder goes under <data-dir>/models/ and is registered as an inactive model version. Nothing a
// run does ends the thread: an error fails the adaptation with its message.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "server/active_classifier.h"
#include "server/classifier_host.h"
#include "server/file_store.h"
#include "store/database.h"

namespace ms::server {

struct AdaptationSettings {
  std::string data_dir;       // adapted models go to <data_dir>/models/
  std::string replay_list;    // the base model's training cells ("class<TAB>path"); "" = no replay
  std::string replay_data;    // folder the replay list's paths start at
  std::string instance = "server";
  std::int64_t poll_ms = 2000;
};

// Lab cells taken into one adaptation at most (newest first); adapt_classifier samples further.
inline constexpr std::int64_t kMaxAdaptationCells = 20000;

class AdaptationWorker {
 public:
  // `follower` (optional) is synced whenever the queue is idle: an activation on another server
  // sharing the database reaches this one.
  AdaptationWorker(store::Database& db, const FileStore& files, ClassifierHost& host, AdaptationSettings s,
                   ActiveClassifierFollower* follower = nullptr);
  ~AdaptationWorker();  // stop()
  void start();
  // Ends a run in progress at its next training step (the adaptation goes back to the queue and
  // runs again at the next start), then joins the thread.
  void stop();
  void wake();
  const AdaptationSettings& settings() const { return settings_; }

 private:
  void loop();
  void run_one(const std::int64_t id, const std::string& worker);

  store::Database& db_;
  const FileStore& files_;
  ClassifierHost& host_;
  AdaptationSettings settings_;
  ActiveClassifierFollower* follower_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t wakeups_ = 0;
  std::atomic<bool> stop_flag_{false};
};

}  // namespace ms::server
