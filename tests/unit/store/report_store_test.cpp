// The report store on both databases: cell counts by effective class, sign-off once, addenda.
#include <gtest/gtest.h>

#include "store/patient_store.h"
#include "store/report_store.h"
#include "store/user_store.h"
#include "unit/store/store_fixture.h"

namespace ms::store {
namespace {

class ReportStoreTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    auto p = write([&](Tx& tx) {
      PatientInput in;
      in.identifier = "P1";
      in.name = "Pat";
      return create_patient(tx, in, {});
    });
    ASSERT_TRUE(p);
    auto s = write([&](Tx& tx) {
      SampleInput in;
      in.accession = "BM-1";
      return create_sample(tx, p->id, in, {});
    });
    ASSERT_TRUE(s);
    sample_ = s->id;
    auto u = write([&](Tx& tx) {
      return create_user(tx, NewUser{"doc", "password1", Role::kDoctor, true, "Dr. Doc", "", "", "", ""}, "h");
    });
    ASSERT_TRUE(u);
    doctor_ = u->id;
  }

  // suggested, reviewed (empty: none), confirmed, reviewer
  void add_cell(const std::string& suggested, const std::string& reviewed, bool confirmed) {
    auto s = write([&](Tx& tx) -> Status {
      const auto now = now_ms();
      if (job_ == 0) {
        MS_ASSIGN_OR_RETURN(image_, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, "
                                              "width, height, bytes, created_at) VALUES (?, 'h', 'f', "
                                              "'PNG', 1, 1, 1, ?) RETURNING id",
                                              {sample_, now}));
        MS_ASSIGN_OR_RETURN(job_, tx.insert("INSERT INTO jobs (image_id, sample_id, status, created_at) "
                                            "VALUES (?, ?, 'done', ?) RETURNING id",
                                            {image_, sample_, now}));
      }
      MS_RETURN_IF_ERROR(tx.exec(
          "INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
          "suggested_class, probability, reviewed_class, reviewer_id, confirmed, created_at, "
          "updated_at) VALUES (?, ?, ?, ?, 0, 0, 1, 1, 0.9, ?, 0.5, ?, ?, ?, ?, ?)",
          {job_, index_++, image_, sample_, suggested,
           reviewed.empty() ? Value() : Value(reviewed),
           reviewed.empty() && !confirmed ? Value() : Value(doctor_), confirmed, now, now}));
      return {};
    });
    ASSERT_TRUE(s);
  }

  std::int64_t sample_ = 0, doctor_ = 0, image_ = 0, job_ = 0;
  int index_ = 0;
};

TEST_P(ReportStoreTest, CountsEveryCellInOneReviewStateAndNameTheModels) {
  add_cell("lymphocyte", "", false);           // model only
  add_cell("lymphocyte", "monocyte", false);   // reclassified, not verified
  add_cell("monocyte", "", false);             // pre-verified below
  add_cell("monocyte", "", true);              // doctor
  add_cell("blast", "lymphocyte", true);       // doctor (reclassified and confirmed)
  auto tech = write([&](Tx& tx) {
    return create_user(tx, NewUser{"tina", "password1", Role::kTechnician, true, "Tina", "", "", "", ""}, "h");
  });
  ASSERT_TRUE(tech);
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("UPDATE cells SET verified_by = ?, verified_at = 5, detector_version = 'det-2', "
                               "classifier_version = 'cls-3' WHERE cell_index = 2",
                               {tech->id}));
    MS_RETURN_IF_ERROR(tx.exec("UPDATE cells SET detector_version = 'det-1', classifier_version = 'cls-3' "
                               "WHERE cell_index <> 2"));
    return {};
  }));
  auto c = db_->transact(TxMode::kRead, [&](Tx& tx) { return count_sample_cells(tx, sample_); });
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->unreviewed, 1);  // a pre-verified cell has been looked at
  EXPECT_EQ(c->reclassified, 1);
  EXPECT_EQ(c->technician, 1);
  EXPECT_EQ(c->doctor, 2);
  EXPECT_EQ(c->unreviewed + c->reclassified + c->technician + c->doctor, c->cells);
  EXPECT_EQ(c->detector_versions, (std::vector<std::string>{"det-1", "det-2"}));
  EXPECT_EQ(c->classifier_versions, std::vector<std::string>{"cls-3"});
  EXPECT_EQ(c->reviewers, (std::vector<std::string>{"Dr. Doc", "Tina"}));
}

TEST_P(ReportStoreTest, CountsUseTheReviewedClassAndCountUnreviewedCells) {
  add_cell("lymphocyte", "", false);
  add_cell("lymphocyte", "", true);
  add_cell("lymphocyte", "monocyte", false);  // reclassified: reviewed even if not confirmed
  add_cell("monocyte", "", false);
  add_cell("blast", "lymphocyte", true);
  auto c = db_->transact(TxMode::kRead, [&](Tx& tx) { return count_sample_cells(tx, sample_); });
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->cells, 5);
  EXPECT_EQ(c->unreviewed, 2);
  EXPECT_EQ(c->counts, (std::map<std::string, int>{{"lymphocyte", 3}, {"monocyte", 2}}));
  EXPECT_EQ(c->reviewers, std::vector<std::string>{"Dr. Doc"});
  auto none = db_->transact(TxMode::kRead, [&](Tx& tx) { return count_sample_cells(tx, 424242); });
  ASSERT_TRUE(none);
  EXPECT_EQ(none->cells, 0);
}

TEST_P(ReportStoreTest, SignsOnceAndTakesAddendaOnlyAfterwards) {
  auto early = db_->transact(TxMode::kWrite, [&](Tx& tx) {
    return add_addendum(tx, sample_, doctor_, "Dr. Doc", "too early");
  });
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kConflict);

  NewSignOff so{sample_, doctor_, "Dr. Doc", 1700000000000, R"({"report_id":"x"})", "abc"};
  auto s = write([&](Tx& tx) { return record_sign_off(tx, so); });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->snapshot["report_id"], "x");
  EXPECT_EQ(s->signer_name, "Dr. Doc");
  auto sample = db_->transact(TxMode::kRead, [&](Tx& tx) { return get_sample(tx, sample_); });
  EXPECT_EQ(sample->status, SampleStatus::kSigned);
  EXPECT_EQ(sample->signed_at.value_or(0), 1700000000000);
  EXPECT_EQ(sample->signed_by.value_or(0), doctor_);

  auto again = db_->transact(TxMode::kWrite, [&](Tx& tx) { return record_sign_off(tx, so); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  so.sample_id = 424242;
  auto missing = db_->transact(TxMode::kWrite, [&](Tx& tx) { return record_sign_off(tx, so); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  auto empty = db_->transact(TxMode::kWrite, [&](Tx& tx) { return add_addendum(tx, sample_, doctor_, "D", " \n"); });
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(write([&](Tx& tx) { return add_addendum(tx, sample_, doctor_, "Dr. Doc", "first"); }));
  ASSERT_TRUE(write([&](Tx& tx) { return add_addendum(tx, sample_, doctor_, "Dr. Doc", "second"); }));
  auto list = db_->transact(TxMode::kRead, [&](Tx& tx) { return list_addenda(tx, sample_); });
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].text, "first");
  EXPECT_EQ((*list)[1].text, "second");
  EXPECT_EQ((*list)[1].author_id.value_or(0), doctor_);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReportStoreTest, ::testing::ValuesIn(ms::testing::test_backends()),
                         ms::testing::backend_name);

}  // namespace
}  // namespace ms::store
