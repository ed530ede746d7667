#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "store/cell_store.h"
#include "store/image_store.h"
#include "store/job_queue.h"
#include "store/patient_store.h"
#include "unit/store/store_fixture.h"

namespace ms::store {
namespace {

class JobQueueTest : public StoreTest {
 protected:
  // n images in one sample, each with a queued job.
  std::vector<Job> enqueue(int n) {
    std::vector<Job> jobs;
    auto r = write([&](Tx& tx) -> Status {
      PatientInput p;
      p.identifier = "J" + std::to_string(now_ms());
      p.name = "Job Patient";
      MS_ASSIGN_OR_RETURN(auto patient, create_patient(tx, p, {}));
      SampleInput s;
      s.accession = "ACC-" + p.identifier;
      MS_ASSIGN_OR_RETURN(sample_, create_sample(tx, patient.id, s, {}));
      for (int k = 0; k < n; ++k) {
        NewImage m{sample_.id, "sha" + std::to_string(k), "f.png", "png", 64, 64, 100, {}, {}};
        MS_ASSIGN_OR_RETURN(auto image, insert_image(tx, m));
        if (!image) return fail(ErrorCode::kInternal, "fresh image reported as duplicate");
        MS_ASSIGN_OR_RETURN(auto again, insert_image(tx, m));
        if (again) return fail(ErrorCode::kInternal, "duplicate image inserted");
        MS_ASSIGN_OR_RETURN(auto job, enqueue_analysis(tx, image->id, sample_.id, {}));
        jobs.push_back(job);
      }
      return {};
    });
    return jobs;
  }
  static AnalysisOutput two_cells() {
    AnalysisOutput out;
    out.detector_version = "det-1";
    out.classifier_version = "cls-1";
    for (int k = 0; k < 2; ++k) {
      AnalysedCell c;
      c.box = Box{10.f * k, 0, 10.f * k + 8, 8};
      c.det_score = 0.9f;
      c.cell_class = k ? "lymphocyte" : "neutrophil";
      c.probability = 0.8f;
      c.top_k = {{c.cell_class, 0.8f}, {"monocyte", 0.1f}};
      c.entropy = 0.6f;
      out.cells.push_back(c);
    }
    return out;
  }
  std::int64_t cell_count() {
    CellQuery q;
    q.sample_id = sample_.id;
    return *db_->transact(TxMode::kRead, [&](Tx& tx) { return count_cells(tx, q); });
  }
  Sample sample_;
};

TEST_P(JobQueueTest, ConcurrentWorkersClaimEachJobOnce) {
  const auto jobs = enqueue(12);
  ASSERT_EQ(jobs.size(), 12u);
  std::mutex mu;
  std::multiset<std::int64_t> claimed;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      const std::string name = "worker-" + std::to_string(w);
      for (;;) {
        auto job = claim_job(*db_, name, 60000);
        ASSERT_TRUE(job) << job.error().message;
        if (!*job) return;
        auto done = complete_job(*db_, (*job)->id, name, two_cells());
        ASSERT_TRUE(done) << done.error().message;
        EXPECT_TRUE(*done);
        std::lock_guard<std::mutex> lock(mu);
        claimed.insert((*job)->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 12u);
  for (const auto& j : jobs) EXPECT_EQ(claimed.count(j.id), 1u) << "job " << j.id;
  EXPECT_EQ(cell_count(), 24);
  auto progress = db_->transact(TxMode::kRead, [&](Tx& tx) { return sample_progress(tx, sample_.id); });
  ASSERT_TRUE(progress);
  EXPECT_EQ(progress->done, 12);
  EXPECT_DOUBLE_EQ(progress->fraction, 1.0);
}

TEST_P(JobQueueTest, ResultsAreWrittenOnceAndOnlyByTheOwner) {
  const auto jobs = enqueue(1);
  auto a = claim_job(*db_, "a", 60000);
  ASSERT_TRUE(a && *a);
  EXPECT_FALSE(*complete_job(*db_, (*a)->id, "intruder", two_cells()));
  EXPECT_TRUE(*complete_job(*db_, (*a)->id, "a", two_cells()));
  EXPECT_FALSE(*complete_job(*db_, (*a)->id, "a", two_cells())) << "a done job completed twice";
  EXPECT_EQ(cell_count(), 2);
  // Even past the status check, the UNIQUE (job_id, cell_index) constraint refuses a copy.
  auto dup = db_->transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, "
                               "y1, x2, y2, det_score, suggested_class, probability, created_at, "
                               "updated_at) SELECT job_id, cell_index, image_id, sample_id, x1, "
                               "y1, x2, y2, det_score, suggested_class, probability, created_at, "
                               "updated_at FROM cells WHERE job_id = ?",
                               {(*a)->id}));
    return {};
  });
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_EQ(cell_count(), 2);
}

TEST_P(JobQueueTest, ExpiredLeasesAndRestartsRequeueAndFailuresRetry) {
  enqueue(2);
  auto a = claim_job(*db_, "dead-worker", -1);  // lease already over: its worker "died"
  ASSERT_TRUE(a && *a);
  auto b = claim_job(*db_, "live-worker", 60000);
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->id, (*a)->id) << "an expired lease is claimable again";
  EXPECT_EQ((*b)->attempts, 2);
  EXPECT_FALSE(*renew_job(*db_, (*a)->id, "dead-worker", 0.5, 1000));
  EXPECT_TRUE(*renew_job(*db_, (*a)->id, "live-worker", 0.5, 60000));

  auto c = claim_job(*db_, "crashing", 60000);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ(*requeue_running_jobs(*db_, /*all=*/false), 0) << "live leases are kept";
  EXPECT_EQ(*requeue_running_jobs(*db_, /*all=*/true), 2);

  auto d = claim_job(*db_, "w", 60000);
  ASSERT_TRUE(d && *d);
  EXPECT_TRUE(*fail_job(*db_, (*d)->id, "w", "image is corrupt"));
  auto failed = db_->transact(TxMode::kRead, [&](Tx& tx) { return get_job(tx, (*d)->id); });
  EXPECT_EQ(failed->status, JobStatus::kFailed);
  EXPECT_EQ(failed->error.value_or(""), "image is corrupt");
  auto retried = write([&](Tx& tx) { return retry_job(tx, (*d)->id); });
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, JobStatus::kQueued);
  EXPECT_EQ(retried->error.value_or(""), "image is corrupt") << "the last error is kept";
  auto again = db_->transact(TxMode::kWrite, [&](Tx& tx) { return retry_job(tx, (*d)->id); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

INSTANTIATE_TEST_SUITE_P(Backends, JobQueueTest, ::testing::ValuesIn(ms::testing::test_backends()),
                         ms::testing::backend_name);

}  // namespace
}  // namespace ms::store
