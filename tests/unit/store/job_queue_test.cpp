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

Job job_of(Database& db, std::int64_t id) {
  auto j = db.transact(TxMode::kRead, [&](Tx& tx) { return get_job(tx, id); });
  EXPECT_TRUE(j) << j.error().message;
  return j ? *j : Job{};
}

TEST_P(JobQueueTest, AReleasedJobIsQueuedAgainWithoutSpendingAnAttempt) {
  enqueue(1);
  auto a = claim_job(*db_, "stopping-worker", 60000);
  ASSERT_TRUE(a && *a);
  EXPECT_FALSE(*release_job(*db_, (*a)->id, "another-worker", "not mine")) << "only the owner hands it back";
  ASSERT_TRUE(*release_job(*db_, (*a)->id, "stopping-worker", "handed back: the worker stopped"));
  auto job = db_->transact(TxMode::kRead, [&](Tx& tx) { return get_job(tx, (*a)->id); });
  EXPECT_EQ(job->status, JobStatus::kQueued);
  EXPECT_EQ(job->attempts, 0);
  EXPECT_FALSE(job->worker.has_value());
  EXPECT_EQ(job->error.value_or(""), "handed back: the worker stopped");
  EXPECT_FALSE(*renew_job(*db_, (*a)->id, "stopping-worker", 0.5, 60000)) << "its lease ended with it";
  EXPECT_FALSE(*complete_job(*db_, (*a)->id, "stopping-worker", two_cells())) << "a late result is refused";
  EXPECT_EQ(cell_count(), 0);
  EXPECT_FALSE(*release_job(*db_, (*a)->id, "stopping-worker", "twice")) << "a queued job is not released";

  // Claimed at once by the next worker (no lease to wait for), and done on that attempt.
  auto b = claim_job(*db_, "next-worker", 60000);
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->id, (*a)->id);
  EXPECT_EQ((*b)->attempts, 1);
  ASSERT_TRUE(*complete_job(*db_, (*b)->id, "next-worker", two_cells()));
  EXPECT_EQ(cell_count(), 2);
  auto logged = db_->transact(TxMode::kRead, [&](Tx& tx) {
    return tx.query_one("SELECT COUNT(*) AS n FROM log_entries WHERE action = 'analysis.released'");
  });
  ASSERT_TRUE(logged && *logged);
  EXPECT_EQ((*logged)->i("n"), 1);
}

TEST_P(JobQueueTest, AJobIsClaimedAtMostThreeTimesAndDeadClaimsCount) {
  const auto jobs = enqueue(2);
  // Three claims whose workers "die" (the lease is over at once): each one counts.
  for (int k = 1; k <= kMaxJobAttempts; ++k) {
    auto c = claim_job(*db_, "dying-" + std::to_string(k), -1);
    ASSERT_TRUE(c && *c);
    EXPECT_EQ((*c)->id, jobs[0].id);
    EXPECT_EQ((*c)->attempts, k);
    if (k > 1) {
      EXPECT_NE((*c)->error.value_or("").find("dying-" + std::to_string(k - 1)), std::string::npos)
          << "the re-claim records how the previous attempt ended: " << (*c)->error.value_or("");
    }
  }
  // The fourth claim gives up on it, fails it with the last error, and hands out the next job.
  auto next = claim_job(*db_, "w", 60000);
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->id, jobs[1].id);
  const Job given_up = job_of(*db_, jobs[0].id);
  EXPECT_EQ(given_up.status, JobStatus::kFailed);
  EXPECT_EQ(given_up.attempts, kMaxJobAttempts);
  const std::string error = given_up.error.value_or("");
  EXPECT_NE(error.find("gave up after 3 attempts"), std::string::npos) << error;
  EXPECT_NE(error.find("dying-3 stopped renewing its lease"), std::string::npos) << error;
  EXPECT_FALSE(given_up.lease_until.has_value());
  auto log = db_->transact(TxMode::kRead, [&](Tx& tx) {
    return tx.query("SELECT details FROM log_entries WHERE action = 'analysis.failed'");
  });
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 1u);
  EXPECT_NE(log->front().s("details").find("gave up"), std::string::npos);
  // A person's retry starts a fresh allowance of attempts.
  auto retried = write([&](Tx& tx) { return retry_job(tx, jobs[0].id); });
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, JobStatus::kQueued);
  EXPECT_EQ(retried->attempts, 0);
  EXPECT_TRUE(*complete_job(*db_, (*next)->id, "w", two_cells()));
  auto again = claim_job(*db_, "w", 60000);
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->id, jobs[0].id);
  EXPECT_EQ((*again)->attempts, 1);
}

TEST_P(JobQueueTest, AFieldThatKillsTheServerFailsInsteadOfCrashLooping) {
  const auto jobs = enqueue(1);
  // Each start re-queues what the dead process was running (SQLite start-up recovery); the
  // attempt counts, so the fourth start does not run it again.
  for (int start = 1; start <= kMaxJobAttempts; ++start) {
    auto c = claim_job(*db_, "server-" + std::to_string(start), 60000);
    ASSERT_TRUE(c && *c) << "start " << start;
    EXPECT_EQ((*c)->attempts, start);
    EXPECT_EQ(*requeue_running_jobs(*db_, /*all=*/true), 1);  // the crash, then the next start
    const Job requeued = job_of(*db_, jobs[0].id);
    EXPECT_EQ(requeued.status, JobStatus::kQueued);
    EXPECT_NE(requeued.error.value_or("").find("attempt " + std::to_string(start) +
                                               " ended without a result"),
              std::string::npos)
        << requeued.error.value_or("");
  }
  auto c = claim_job(*db_, "server-4", 60000);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*c) << "the job was claimed a fourth time";
  const Job failed = job_of(*db_, jobs[0].id);
  EXPECT_EQ(failed.status, JobStatus::kFailed);
  EXPECT_NE(failed.error.value_or("").find("gave up after 3 attempts; last error: attempt 3 "
                                           "ended without a result: the server (server-3) stopped"),
            std::string::npos)
      << failed.error.value_or("");
}

TEST_P(JobQueueTest, ASignedSampleGetsNoCellsAndNoRetries) {
  const auto jobs = enqueue(3);
  auto a = claim_job(*db_, "a", 60000);
  auto b = claim_job(*db_, "b", 60000);
  ASSERT_TRUE(a && *a && b && *b);
  EXPECT_TRUE(*fail_job(*db_, (*b)->id, "b", "file missing"));
  auto c = claim_job(*db_, "c", 60000);
  ASSERT_TRUE(c && *c);
  EXPECT_TRUE(*complete_job(*db_, (*c)->id, "c", two_cells()));
  ASSERT_EQ(cell_count(), 2);
  // Signed while job a was still running (the sign-off itself refuses that, so set the status
  // directly: this is the last line of defence).
  write([&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("UPDATE samples SET status = 'signed' WHERE id = ?", {sample_.id}));
    return {};
  });
  auto late = complete_job(*db_, (*a)->id, "a", two_cells());
  ASSERT_TRUE(late) << late.error().message;
  EXPECT_TRUE(*late) << "the job's outcome is recorded";
  EXPECT_EQ(cell_count(), 2) << "cells were added to a signed sample";
  const Job cancelled = job_of(*db_, (*a)->id);
  EXPECT_EQ(cancelled.status, JobStatus::kCancelled);
  EXPECT_NE(cancelled.error.value_or("").find("was signed while this field was being analysed"),
            std::string::npos)
      << cancelled.error.value_or("");
  EXPECT_NE(cancelled.error.value_or("").find("2 cell(s) found were not added"), std::string::npos);
  for (const auto id : {(*a)->id, (*b)->id}) {
    auto retried = db_->transact(TxMode::kWrite, [&](Tx& tx) { return retry_job(tx, id); });
    ASSERT_FALSE(retried) << "job " << id << " of a signed sample was queued again";
    EXPECT_EQ(retried.error().code, ErrorCode::kConflict);
    EXPECT_NE(retried.error().message.find("signed"), std::string::npos) << retried.error().message;
  }
  EXPECT_EQ(job_of(*db_, (*b)->id).status, JobStatus::kFailed);
  EXPECT_FALSE(*claim_job(*db_, "d", 60000)) << "nothing of the signed sample is claimable";
}

TEST_P(JobQueueTest, CancelledJobsAreNotRunAndTheirResultsAreDiscarded) {
  const auto jobs = enqueue(3);
  auto a = claim_job(*db_, "a", 60000);
  ASSERT_TRUE(a && *a);
  auto running = write([&](Tx& tx) { return cancel_job(tx, (*a)->id, "tech"); });
  ASSERT_TRUE(running);
  EXPECT_EQ(running->status, JobStatus::kCancelled);
  EXPECT_EQ(running->error.value_or(""), "cancelled by tech");
  EXPECT_FALSE(*renew_job(*db_, (*a)->id, "a", 0.5, 60000)) << "the worker learns at its renewal";
  EXPECT_FALSE(*complete_job(*db_, (*a)->id, "a", two_cells())) << "and its result is discarded";
  EXPECT_EQ(cell_count(), 0);
  auto queued = write([&](Tx& tx) { return cancel_job(tx, jobs[1].id, "tech"); });
  ASSERT_TRUE(queued);
  auto b = claim_job(*db_, "b", 60000);
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->id, jobs[2].id) << "a cancelled job is not claimed";
  EXPECT_TRUE(*complete_job(*db_, (*b)->id, "b", two_cells()));
  auto done = db_->transact(TxMode::kWrite, [&](Tx& tx) { return cancel_job(tx, jobs[2].id, "tech"); });
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kConflict);
  EXPECT_NE(done.error().message.find("is done"), std::string::npos) << done.error().message;
  auto counts = db_->transact(TxMode::kRead, [&](Tx& tx) { return sample_progress(tx, sample_.id); });
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->cancelled, 2);
  EXPECT_EQ(counts->done, 1);
  EXPECT_DOUBLE_EQ(counts->fraction, 1.0);
  auto retried = write([&](Tx& tx) { return retry_job(tx, jobs[1].id); });
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, JobStatus::kQueued) << "a cancelled job can be queued again";
}

TEST_P(JobQueueTest, QueuedJobsPerUserAreCapped) {
  auto user = write([&](Tx& tx) {
    return tx.insert("INSERT INTO users (username, password_hash, role, enabled, created_at, "
                     "updated_at) VALUES ('quota', 'x', 'technician', 1, 0, 0) RETURNING id");
  });
  ASSERT_TRUE(user);
  enqueue(1);  // the sample
  auto over = db_->transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    for (int k = 0; k < 4; ++k) {
      NewImage m{sample_.id, "q" + std::to_string(k), "q.png", "png", 8, 8, 10, {}, *user};
      MS_ASSIGN_OR_RETURN(auto image, insert_image(tx, m));
      if (!image) return fail(ErrorCode::kInternal, "fresh image reported as duplicate");
      MS_RETURN_IF_ERROR(enqueue_analysis(tx, image->id, sample_.id, *user));
      MS_RETURN_IF_ERROR(check_queue_quota(tx, *user, 3));
    }
    return {};
  });
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kConflict);
  EXPECT_NE(over.error().message.find("4 of your analyses waiting, over the limit of 3"),
            std::string::npos)
      << over.error().message;
  auto counts = db_->transact(TxMode::kRead, [&](Tx& tx) { return queue_counts(tx); });
  EXPECT_EQ(counts->queued, 1) << "the refused transaction queued nothing";
  EXPECT_TRUE(write([&](Tx& tx) { return check_queue_quota(tx, std::nullopt, 0); }))
      << "system jobs have no quota";
}

TEST_P(JobQueueTest, AtypicalScoresAndFlagReasonsAreStoredAndAtypicalCellsComeFirst) {
  enqueue(1);
  auto job = claim_job(*db_, "w", 60000);
  ASSERT_TRUE(job && *job);
  AnalysisOutput out = two_cells();
  // Cell 0: confident but atypical; cell 1: typical, unsure; a third with no score at all.
  out.cells[0].probability = 0.95f;
  out.cells[0].atypical = 0.99f;
  out.cells[0].flagged = true;
  out.cells[0].flag_reason = "atypical";
  out.cells[1].probability = 0.4f;
  out.cells[1].atypical = 0.3f;
  out.cells[1].flagged = true;
  out.cells[1].flag_reason = "low_confidence";
  AnalysedCell plain = out.cells[1];
  plain.box = Box{40, 0, 48, 8};
  plain.probability = 0.9f;
  plain.atypical = -1.f;
  plain.flagged = false;
  plain.flag_reason.clear();
  out.cells.push_back(plain);
  ASSERT_TRUE(*complete_job(*db_, (*job)->id, "w", out));
  CellQuery q;
  q.sample_id = sample_.id;
  q.order = "attention";
  auto cells = db_->transact(TxMode::kRead, [&](Tx& tx) { return list_cells(tx, q); });
  ASSERT_TRUE(cells) << cells.error().message;
  ASSERT_EQ(cells->size(), 3u);
  EXPECT_EQ((*cells)[0].flag_reason, std::optional<std::string>("atypical"));
  ASSERT_TRUE((*cells)[0].atypical);
  EXPECT_NEAR(*(*cells)[0].atypical, 0.99, 1e-6);
  EXPECT_EQ((*cells)[1].flag_reason, std::optional<std::string>("low_confidence"));
  EXPECT_FALSE((*cells)[2].atypical) << "no score is stored as absent, not as -1";
  EXPECT_FALSE((*cells)[2].flag_reason);
  const Json j = config_to_json((*cells)[2]);
  EXPECT_TRUE(j.at("atypical").is_null());
  EXPECT_TRUE(j.at("flag_reason").is_null());
}

INSTANTIATE_TEST_SUITE_P(Backends, JobQueueTest, ::testing::ValuesIn(ms::testing::test_backends()),
                         ms::testing::backend_name);

}  // namespace
}  // namespace ms::store
