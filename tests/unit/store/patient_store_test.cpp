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


TEST_P(StoreTest, DatesAreDigitsOnly) {
  // sscanf would read these as 2020-01-01: blanks and signs are not digits.
  for (const char* bad : {"2020- 1- 1", "2020-+1-01", "2020-01-+1", " 2020-1-01", "2O20-01-01", "2020/01/01",
                          "2020-01-1 "}) {
    SCOPED_TRACE(bad);
    auto r = validate_date("collection_date", bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("collection_date"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(validate_date("birth_date", "2020-01-01"));
  EXPECT_TRUE(validate_date("birth_date", "2000-02-29"));
  EXPECT_FALSE(validate_date("birth_date", "1900-02-29"));
}

TEST_P(StoreTest, PatientAndSampleTextRefusesControlCharactersNamingTheField) {
  // MLLP frames HL7 with 0x0B / 0x1C; NUL truncates C strings: none belongs in a patient record.
  for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
           {"name", std::string("Ann\x0b Lee")},
           {"identifier", std::string("MRN\x1c" "7")},
           {"name", std::string("Nul\0l", 5)},
           {"keywords", "aml\tm2"},
           {"notes", std::string("bell\x07")}}) {
    SCOPED_TRACE(field);
    PatientInput p = patient("MRN-C", "Clean Name");
    if (field == "name") p.name = value;
    if (field == "identifier") p.identifier = value;
    if (field == "keywords") p.keywords = value;
    if (field == "notes") p.notes = value;
    auto r = db_->transact(TxMode::kWrite, [&](Tx& tx) { return create_patient(tx, p, {}); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message.rfind(field + ":", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find("control character"), std::string::npos) << r.error().message;
  }
  // Notes are multi-line: TAB and line breaks stay allowed there.
  PatientInput ok = patient("MRN-OK", "Ok Person");
  ok.notes = "line one\r\nline two\tindented";
  ASSERT_TRUE(write([&](Tx& tx) { return create_patient(tx, ok, {}); }));
  auto bytes = db_->transact(TxMode::kWrite, [&](Tx& tx) {
    return create_patient(tx, patient("MRN-B", std::string("Bad \xff\xfe")), {});
  });
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.error().message.find("UTF-8"), std::string::npos) << bytes.error().message;

  auto p = write([&](Tx& tx) { return create_patient(tx, patient("MRN-S", "Sam"), {}); });
  ASSERT_TRUE(p);
  SampleInput in;
  in.accession = std::string("BM\x0b" "1");
  auto s = db_->transact(TxMode::kWrite, [&](Tx& tx) { return create_sample(tx, p->id, in, {}); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message.rfind("accession:", 0), 0u) << s.error().message;
}

TEST_P(StoreTest, CsvImportCapsRowsAndListedErrorsAndRefusesMalformedUtf8) {
  // Over kMaxCsvImportRows data rows: refused before any row is checked.
  std::string big = "identifier,name\n";
  for (std::size_t k = 0; k <= kMaxCsvImportRows; ++k) big += "R" + std::to_string(k) + ",N\n";
  auto tooMany = db_->transact(TxMode::kWrite, [&](Tx& tx) { return import_patients_csv(tx, big, {}); });
  ASSERT_FALSE(tooMany);
  EXPECT_EQ(tooMany.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(tooMany.error().message.find("at most 100000 data rows"), std::string::npos) << tooMany.error().message;

  // 1,500 bad rows: all counted, the first 1,000 listed.
  std::string bad = "identifier,name\n";
  for (int k = 0; k < 1500; ++k) bad += "B" + std::to_string(k) + ",\n";
  auto r = write([&](Tx& tx) { return import_patients_csv(tx, bad, {}); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error_rows, 1500);
  EXPECT_EQ(r->errors.size(), kMaxListedCsvErrors);
  EXPECT_EQ(r->errors.back().row, 1001);

  // Malformed UTF-8 in row 3 (a Latin-1 byte): the whole file is refused, naming the row.
  const std::string latin1 = "identifier,name\nU1,Ok\nU2,Jos\xe9\n";
  auto u = db_->transact(TxMode::kWrite, [&](Tx& tx) { return import_patients_csv(tx, latin1, {}); });
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(u.error().message.rfind("CSV row 3", 0), 0u) << u.error().message;
  EXPECT_NE(u.error().message.find("UTF-8"), std::string::npos);
  auto none = db_->transact(TxMode::kRead, [&](Tx& tx) { return search_patients(tx, {}); });
  EXPECT_EQ(none->total, 0);
}

TEST_P(StoreTest, PatientExportGuardsTabAndCarriageReturnFormulas) {
  PatientInput p = patient("=1+1", "@SUM(A1)");
  p.notes = "\t=cmd|' /C calc'!A0";
  ASSERT_TRUE(write([&](Tx& tx) { return create_patient(tx, p, {}); }));
  auto csv = db_->transact(TxMode::kRead, [&](Tx& tx) { return export_patients_csv(tx); });
  ASSERT_TRUE(csv);
  EXPECT_NE(csv->find("'=1+1,'@SUM(A1)"), std::string::npos) << *csv;
  EXPECT_NE(csv->find("'\t=cmd"), std::string::npos) << *csv;
}

}  // namespace
}  // namespace ms::store
