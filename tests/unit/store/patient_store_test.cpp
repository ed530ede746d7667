#include <gtest/gtest.h>

#include "store/patient_store.h"
#include "store/report_store.h"
#include "store/user_store.h"
#include "unit/store/store_fixture.h"

namespace ms::store {
namespace {

PatientInput patient(const std::string& id, const std::string& name) {
  PatientInput p;
  p.identifier = id;
  p.name = name;
  return p;
}

TEST_P(StoreTest, PatientCrudAndDuplicateIdentifier) {
  auto p = write([&](Tx& tx) { return create_patient(tx, patient("MRN-1", "Ada Lovelace"), {}); });
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sex, "unknown");
  auto dup = db_->transact(TxMode::kWrite,
                           [&](Tx& tx) { return create_patient(tx, patient("MRN-1", "Other"), {}); });
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  PatientUpdate u;
  u.name = "Ada King";
  u.birth_date = "1815-12-10";
  auto bad = db_->transact(TxMode::kWrite, [&](Tx& tx) { return update_patient(tx, p->id, u); });
  ASSERT_FALSE(bad) << "1815 is before 1850 and must be refused";
  EXPECT_NE(bad.error().message.find("birth_date"), std::string::npos);
  u.birth_date = "1915-12-10";
  auto up = write([&](Tx& tx) { return update_patient(tx, p->id, u); });
  ASSERT_TRUE(up);
  EXPECT_EQ(up->name, "Ada King");
  EXPECT_EQ(up->birth_date.value_or(""), "1915-12-10");
  auto missing = db_->transact(TxMode::kRead, [&](Tx& tx) { return get_patient(tx, 999); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, PatientSearchPagesAndSorts) {
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
    for (int k = 0; k < 25; ++k) {
      PatientInput p = patient("ID-" + std::to_string(100 + k), "Patient " + std::string(1, 'A' + k));
      if (k % 5 == 0) p.keywords = "myeloma follow-up";
      MS_RETURN_IF_ERROR(create_patient(tx, p, {}));
    }
    return {};
  }));
  PatientQuery q;
  q.sort = "name";
  q.order = "asc";
  q.page_size = 10;
  q.page = 3;
  auto page = db_->transact(TxMode::kRead, [&](Tx& tx) { return search_patients(tx, q); });
  ASSERT_TRUE(page);
  EXPECT_EQ(page->total, 25);
  ASSERT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->items.front().name, "Patient U");
  q = PatientQuery{};
  q.q = "MYELOMA";
  page = db_->transact(TxMode::kRead, [&](Tx& tx) { return search_patients(tx, q); });
  EXPECT_EQ(page->total, 5);
  q = PatientQuery{};
  q.q = "%";  // a literal percent sign matches nothing, not everything
  page = db_->transact(TxMode::kRead, [&](Tx& tx) { return search_patients(tx, q); });
  EXPECT_EQ(page->total, 0);
  q = PatientQuery{};
  q.sort = "name; DROP TABLE patients";
  auto bad = db_->transact(TxMode::kRead, [&](Tx& tx) { return search_patients(tx, q); });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreTest, CsvImportIsAllOrNothingAndListsRowErrors) {
  const std::string bad_csv =
      "identifier,name,sex,birth_date\n"
      "A1,Ann,female,1980-01-02\n"
      "A2,,male,\n"             // row 3: no name
      "A3,Cid,robot,\n"         // row 4: bad sex
      "A1,Ann again,female,\n"  // row 5: repeats row 2
      "A4,Dee,female,1980-02-30\n";  // row 6: no such date
  auto r = write([&](Tx& tx) { return import_patients_csv(tx, bad_csv, {}); });
  ASSERT_TRUE(r);
  ASSERT_EQ(r->errors.size(), 4u);
  EXPECT_EQ(r->errors[0].row, 3);
  EXPECT_EQ(r->errors[1].row, 4);
  EXPECT_EQ(r->errors[2].row, 5);
  EXPECT_EQ(r->errors[3].row, 6);
  EXPECT_EQ(r->imported, 0);
  auto none = db_->transact(TxMode::kRead, [&](Tx& tx) { return search_patients(tx, {}); });
  EXPECT_EQ(none->total, 0);

  const std::string good_csv = "name,identifier,keywords\n\"Smith, Jo\",B1,\"aml, \"\"m2\"\"\"\nLee,B2,\n";
  r = write([&](Tx& tx) { return import_patients_csv(tx, good_csv, {}); });
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_EQ(r->imported, 2);
  auto csv = db_->transact(TxMode::kRead, [&](Tx& tx) { return export_patients_csv(tx); });
  ASSERT_TRUE(csv);
  EXPECT_NE(csv->find("B1,\"Smith, Jo\",unknown,,\"aml, \"\"m2\"\"\",,0"), std::string::npos) << *csv;
  auto header = db_->transact(TxMode::kWrite,
                              [&](Tx& tx) { return import_patients_csv(tx, "mrn,name\nX,Y\n", {}); });
  ASSERT_FALSE(header);
  EXPECT_NE(header.error().message.find("\"mrn\""), std::string::npos);
}

TEST_P(StoreTest, SampleWorkflowLocksSignedSamples) {
  auto p = write([&](Tx& tx) { return create_patient(tx, patient("P1", "Pat"), {}); });
  ASSERT_TRUE(p);
  SampleInput in;
  in.accession = "BM-2026-001";
  auto s = write([&](Tx& tx) { return create_sample(tx, p->id, in, {}); });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->count_target, 500);
  in.accession = "PB-2026-001";
  in.specimen = Specimen::kPeripheralBlood;
  auto blood = write([&](Tx& tx) { return create_sample(tx, p->id, in, {}); });
  EXPECT_EQ(blood->count_target, 200);
  auto orphan = db_->transact(TxMode::kWrite, [&](Tx& tx) { return create_sample(tx, 4242, in, {}); });
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);

  auto doctor = write([&](Tx& tx) {
    return create_user(tx, NewUser{"doc", "password1", Role::kDoctor, true, "", "", "", "", ""}, "h");
  });
  ASSERT_TRUE(doctor);
  const std::int64_t uid = doctor->id;
  ASSERT_TRUE(write([&](Tx& tx) { return set_sample_status(tx, s->id, SampleStatus::kInReview); }));
  auto by_status = db_->transact(TxMode::kWrite,
                                 [&](Tx& tx) { return set_sample_status(tx, s->id, SampleStatus::kSigned); });
  ASSERT_FALSE(by_status) << "only the sign-off (with its report) signs";
  EXPECT_EQ(by_status.error().code, ErrorCode::kConflict);
  EXPECT_NE(by_status.error().message.find("sign-off"), std::string::npos) << by_status.error().message;
  NewSignOff so{s->id, uid, "Dr Doc", now_ms(), "{}", "sha"};
  ASSERT_TRUE(write([&](Tx& tx) { return record_sign_off(tx, so); }));
  auto signed_s = write([&](Tx& tx) { return get_sample(tx, s->id); });
  ASSERT_TRUE(signed_s);
  EXPECT_EQ(signed_s->status, SampleStatus::kSigned);
  EXPECT_EQ(signed_s->signed_by.value_or(0), uid);
  EXPECT_TRUE(signed_s->signed_at.has_value());
  SampleUpdate u;
  u.notes = "late edit";
  auto locked = db_->transact(TxMode::kWrite, [&](Tx& tx) { return update_sample(tx, s->id, u); });
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, ErrorCode::kConflict);
  auto del = db_->transact(TxMode::kWrite, [&](Tx& tx) { return delete_patient(tx, p->id); });
  ASSERT_FALSE(del) << "a patient with a signed sample was deleted";
  EXPECT_EQ(del.error().code, ErrorCode::kConflict);
}

}  // namespace
}  // namespace ms::store
