#include "server/sample_answers.h"

#include <fmt/format.h>

#include "server/crypto.h"
#include "store/patient_store.h"

namespace ms::server {
namespace {
// What an entry costs besides its key and body (list node, index node, control block).
constexpr std::size_t kEntryOverhead = 160;
}  // namespace

SampleAnswers::SampleAnswers(std::size_t max_bytes) : max_bytes_(max_bytes), nonce_(random_hex(6)) {}

std::shared_ptr<const std::string> SampleAnswers::find(const std::string& key, std::int64_t revision) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end() || it->second->revision != revision) {
    ++misses_;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  return it->second->body;
}

void SampleAnswers::keep(const std::string& key, std::int64_t revision,
                         std::shared_ptr<const std::string> body) {
  if (!body) return;
  const std::size_t bytes = key.size() + body->size() + kEntryOverhead;
  if (bytes > max_bytes_ / 4) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {
    // A slower request made at an older revision must not replace a newer answer.
    if (it->second->revision > revision) return;
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, revision, std::move(body), bytes});
  index_.emplace(key, lru_.begin());
  bytes_ += bytes;
  evict_locked();
}

void SampleAnswers::evict_locked() {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::string SampleAnswers::etag(std::int64_t sample_id, std::int64_t revision) const {
  return fmt::format("\"{}-s{}-r{}\"", nonce_, sample_id, revision);
}

SampleAnswers::Stats SampleAnswers::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {hits_, misses_, static_cast<std::int64_t>(lru_.size()), static_cast<std::int64_t>(bytes_)};
}

Result<Reply> sample_answer(store::Database& db, SampleAnswers& cache, const net::Request& req,
                            std::int64_t sample_id, const std::string& key,
                            const std::function<Result<Json>(store::Tx&)>& make) {
  auto answer = [&](std::int64_t revision, std::shared_ptr<const std::string> body) {
    Reply r;
    if (body) r = Reply::bytes(*body, "application/json");
    else r.status = 304;
    r.headers.emplace("ETag", cache.etag(sample_id, revision));
    return r;
  };
  // The revision alone first, one statement outside a transaction: what most requests need.
  MS_ASSIGN_OR_RETURN(auto current, db.transact(store::TxMode::kReadOne, [&](store::Tx& tx) {
    return store::sample_revision(tx, sample_id);
  }));
  if (if_none_match(req, cache.etag(sample_id, current))) return answer(current, nullptr);
  if (auto kept = cache.find(key, current)) return answer(current, std::move(kept));

  bool unchanged = false;
  std::shared_ptr<const std::string> body;
  std::int64_t revision = 0;
  MS_RETURN_IF_ERROR(db.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Status {
    // The revision before the data: what `make` reads is then at least as new as the number it
    // is kept under, so a later change is always seen as a different revision.
    MS_ASSIGN_OR_RETURN(revision, store::sample_revision(tx, sample_id));
    if (if_none_match(req, cache.etag(sample_id, revision))) {
      unchanged = true;
      return {};
    }
    // Looked up above at `current`; again only if a write came in between.
    if (revision != current && (body = cache.find(key, revision))) return {};
    MS_ASSIGN_OR_RETURN(auto j, make(tx));
    body = std::make_shared<const std::string>(j.dump(-1, ' ', false, Json::error_handler_t::replace));
    cache.keep(key, revision, body);
    return {};
  }));
  return answer(revision, unchanged ? nullptr : std::move(body));
}

}  // namespace ms::server
