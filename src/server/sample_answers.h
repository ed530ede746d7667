// Answers of a sample's hot read routes (the review queue's pages, the cell summary, the
// differential) kept as the bytes sent, each under the sample revision it was made at
// (store::sample_revision). A request reads the revision, one indexed row, and is answered from
// here while it holds; anything that changes the sample changes the revision in the same
// transaction (database triggers), so a kept answer is never served after the data it shows
// changed, whichever process changed it. The same revision names the answer to the client: an
// ETag, and a request whose If-None-Match holds it is answered 304 without a body.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/api.h"

namespace ms::server {

class SampleAnswers {
 public:
  // At most `max_bytes` of answers and their keys; the least recently used go first.
  explicit SampleAnswers(std::size_t max_bytes);

  // The answer kept under `key` if it was made at `revision`; else null.
  std::shared_ptr<const std::string> find(const std::string& key, std::int64_t revision);
  // Keeps `body` (an answer larger than a quarter of the limit is not kept).
  void keep(const std::string& key, std::int64_t revision, std::shared_ptr<const std::string> body);
  // The validator of a sample's answers at a revision. It carries this process's random nonce:
  // a restarted or upgraded server may answer the same revision differently (new fields, another
  // lab configuration), so a client's copy from before is not revalidated by it.
  std::string etag(std::int64_t sample_id, std::int64_t revision) const;

  struct Stats {
    std::int64_t hits = 0, misses = 0, entries = 0, bytes = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    std::int64_t revision = 0;
    std::shared_ptr<const std::string> body;
    std::size_t bytes = 0;
  };
  void evict_locked();

  const std::size_t max_bytes_;
  const std::string nonce_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::size_t bytes_ = 0;
  std::int64_t hits_ = 0, misses_ = 0;
};

// Answers GET `req` for sample `sample_id` from `cache` (key: the route and every parameter that
// shapes the answer, already validated), else by `make` in the same read transaction that read
// the revision, keeping what it made. 404 when the sample does not exist; 304 when the request's
// If-None-Match names the current answer. `make`'s errors are answered and never kept.
Result<Reply> sample_answer(store::Database& db, SampleAnswers& cache, const net::Request& req,
                            std::int64_t sample_id, const std::string& key,
                            const std::function<Result<Json>(store::Tx&)>& make);

}  // namespace ms::server
