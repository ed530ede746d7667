// The worker loop survives whatever a job throws at it: exceptions (std and not) from the runner,
// and errors and exceptions from the queue's claim, complete and fail transactions (injected by a
// database wrapper). Every job ends in a final state, and the workers still take new jobs after.
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "server/crypto.h"
#include "server/file_store.h"
#include "server/job_workers.h"
#include "server/test_database.h"
#include "unit/store/store_fixture.h"
#include "store/job_queue.h"
#include "store/schema.h"

namespace ms::testing {
namespace {

// Faults by SQL text: the first `count` statements containing `needle` throw (or fail).
struct Faults {
  struct Fault {
    std::string needle;
    int count = 0;
    enum Kind { kThrowStd, kThrowOther, kError } kind = kThrowStd;
  };
  std::mutex mu;
  std::vector<Fault> faults;
  std::atomic<int> fired{0};
  // Throws or returns an error for a statement that matches a fault with count left.
  Status check(std::string_view sql) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& f : faults) {
      if (f.count <= 0 || sql.find(f.needle) == std::string_view::npos) continue;
      --f.count;
      ++fired;
      if (f.kind == Fault::kThrowStd) throw std::runtime_error("injected fault in: " + f.needle);
      if (f.kind == Fault::kThrowOther) throw 42;
      return fail(ErrorCode::kIo, "injected error in: " + f.needle);
    }
    return {};
  }
};

class FaultyTx : public store::Tx {
 public:
  FaultyTx(store::Tx& inner, Faults& faults) : inner_(inner), faults_(faults) {}
  store::Dialect dialect() const override { return inner_.dialect(); }
  Result<store::Rows> query(std::string_view sql, const store::Params& params) override {
    MS_RETURN_IF_ERROR(faults_.check(sql));
    return inner_.query(sql, params);
  }
  Result<std::int64_t> exec(std::string_view sql, const store::Params& params) override {
    MS_RETURN_IF_ERROR(faults_.check(sql));
    return inner_.exec(sql, params);
  }
  Status exec_script(std::string_view sql) override { return inner_.exec_script(sql); }

 private:
  store::Tx& inner_;
  Faults& faults_;
};

class FaultyDatabase : public store::Database {
 public:
  FaultyDatabase(store::Database& inner, Faults& faults) : inner_(inner), faults_(faults) {}
  store::Dialect dialect() const override { return inner_.dialect(); }
  std::string describe() const override { return "faulty " + inner_.describe(); }
  Status run_transaction(store::TxMode mode, const std::function<Status(store::Tx&)>& fn) override {
    return inner_.run_transaction(mode, [&](store::Tx& tx) {
      FaultyTx faulty(tx, faults_);
      return fn(faulty);
    });
  }

 private:
  store::Database& inner_;
  Faults& faults_;
};

// Throws for the images whose bytes are "throw-std" / "throw-other"; otherwise finds one cell.
class MoodyRunner : public store::AnalysisRunner {
 public:
  std::string name() const override { return "moody test runner"; }
  Result<store::AnalysisOutput> analyse(const store::AnalysisInput& in,
                                        const std::function<void(double)>& progress) override {
    progress(0.5);
    const std::string what = by_sha.at(in.sha256);
    if (what == "throw-std") throw std::runtime_error("runner blew up");
    if (what == "throw-other") throw 7;
    store::AnalysisOutput out;
    store::AnalysedCell c;
    c.box = Box{1, 1, 5, 5};
    c.cell_class = "lymphocyte";
    out.cells.push_back(c);
    return out;
  }
  std::map<std::string, std::string> by_sha;  // sha256 -> behaviour
};

// A migrated database (store::StoreTest) and a file store beside it.
class JobWorkersTest : public store::StoreTest {
 protected:
  void SetUp() override {
    store::StoreTest::SetUp();
    if (HasFatalFailure()) return;
    auto files = server::FileStore::open(dir_.str() + "/data");
    ASSERT_TRUE(files);
    files_ = std::make_unique<server::FileStore>(*files);
    auto made = db_->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      MS_ASSIGN_OR_RETURN(auto patient, tx.insert("INSERT INTO patients (identifier, name, created_at, "
                                                  "updated_at) VALUES ('P', 'P', 0, 0) RETURNING id"));
      MS_ASSIGN_OR_RETURN(sample_, tx.insert("INSERT INTO samples (patient_id, accession, specimen, "
                                             "count_target, created_at, updated_at) VALUES (?, 'A', "
                                             "'bone_marrow', 500, 0, 0) RETURNING id",
                                             {patient}));
      return {};
    });
    ASSERT_TRUE(made) << made.error().message;
  }
  // A queued job on a new image whose runner behaviour is `what`.
  std::int64_t enqueue(const std::string& what) {
    const std::string sha = server::sha256_hex(what.data(), what.size());
    runner_.by_sha[sha] = what;
    auto job = db_->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Result<std::int64_t> {
      MS_ASSIGN_OR_RETURN(auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, "
                                                "width, height, bytes, created_at) VALUES (?, ?, ?, "
                                                "'PNG', 8, 8, 8, 0) RETURNING id",
                                                {sample_, sha, what}));
      MS_ASSIGN_OR_RETURN(auto j, store::enqueue_analysis(tx, image, sample_, std::nullopt));
      return j.id;
    });
    EXPECT_TRUE(job) << job.error().message;
    return job ? *job : 0;
  }
  store::Job job(std::int64_t id) {
    auto j = db_->transact(store::TxMode::kRead, [&](store::Tx& tx) { return store::get_job(tx, id); });
    EXPECT_TRUE(j);
    return j ? *j : store::Job{};
  }
  bool all_final(const std::vector<std::int64_t>& ids, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
      bool done = true;
      for (auto id : ids) {
        const auto s = job(id).status;
        done = done && (s == store::JobStatus::kDone || s == store::JobStatus::kFailed);
      }
      if (done) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::unique_ptr<server::FileStore> files_;
  MoodyRunner runner_;
  std::int64_t sample_ = 0;
};

TEST_P(JobWorkersTest, NothingAJobDoesEndsTheWorkerLoop) {
  Faults faults;
  FaultyDatabase faulty(*db_, faults);
  faults.faults = {
      {"UPDATE jobs SET status = 'running'", 2, Faults::Fault::kThrowStd},  // two claims throw
      {"INSERT INTO cells", 1, Faults::Fault::kThrowOther},                 // a completion throws
      {"SELECT id FROM jobs WHERE id = ? AND status = 'running' AND worker = ?", 1,
       Faults::Fault::kError},                                              // one fails
  };
  const auto thrown_std = enqueue("throw-std");
  const auto thrown_other = enqueue("throw-other");
  const auto owner_check_errs = enqueue("its completion's owner check errs");
  const auto insert_throws = enqueue("its cells' insert throws");
  server::WorkerOptions options;
  options.workers = 1;
  options.poll_ms = 20;
  options.lease_ms = 600;
  server::JobWorkers workers(faulty, *files_, runner_, options);
  workers.start();
  const std::vector<std::int64_t> first = {thrown_std, thrown_other, owner_check_errs, insert_throws};
  ASSERT_TRUE(all_final(first, 15000));
  EXPECT_EQ(faults.fired.load(), 4) << "every injected fault was hit";

  EXPECT_EQ(job(thrown_std).status, store::JobStatus::kFailed);
  EXPECT_NE(job(thrown_std).error.value_or("").find("analysis crashed: runner blew up"), std::string::npos)
      << job(thrown_std).error.value_or("");
  EXPECT_EQ(job(thrown_other).status, store::JobStatus::kFailed);
  EXPECT_NE(job(thrown_other).error.value_or("").find("analysis crashed"), std::string::npos);
  // The completions that failed or threw ended as failed jobs naming the reason, instead of
  // staying running until their lease ran out.
  for (const auto id : {owner_check_errs, insert_throws}) {
    const auto j = job(id);
    EXPECT_EQ(j.status, store::JobStatus::kFailed) << id;
    EXPECT_NE(j.error.value_or("").find("the result could not be stored"), std::string::npos)
        << j.error.value_or("");
  }

  // The loop is alive: a new job is analysed and stored.
  const auto later = enqueue("after the storm");
  workers.wake();
  ASSERT_TRUE(all_final({later}, 10000));
  EXPECT_EQ(job(later).status, store::JobStatus::kDone);
  workers.stop();
}

INSTANTIATE_TEST_SUITE_P(Backends, JobWorkersTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
