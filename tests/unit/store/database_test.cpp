#include <sys/stat.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/cell_store.h"
#include "store/csv.h"
#include "store/patient_store.h"
#include "store/schema.h"
#include "store/user_store.h"
#include "unit/store/store_fixture.h"

namespace ms::store {
namespace {

TEST(Placeholders, NumberedOutsideQuotes) {
  EXPECT_EQ(number_placeholders("SELECT ? , '?' , \"a?\" WHERE x = ? AND y LIKE '%?%' OR z = ?"),
            "SELECT $1 , '?' , \"a?\" WHERE x = $2 AND y LIKE '%?%' OR z = $3");
}

TEST(OpenDatabase, RejectsUnknownUrl) {
  auto db = open_database("mysql://x");
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(db.error().message.find("postgresql://"), std::string::npos);
}

TEST(OpenDatabase, UnreachablePostgresIsAnIoError) {
  auto db = open_database("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, ErrorCode::kIo);
  EXPECT_EQ(db.error().message.find("secret"), std::string::npos) << "password leaked";
}

// The database holds patient records: a new SQLite file (and its WAL) is private to the server's
// account, and a commit is on disk when it returns (synchronous=FULL, power loss included).
TEST(SqliteFile, IsPrivateAndSyncedFully) {
  ms::testing::TempDir dir;
  const std::string path = dir.str() + "/lab.db";
  auto db = open_sqlite(path);
  ASSERT_TRUE(db) << db.error().message;
  ASSERT_TRUE(migrate(**db));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((path + "-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto sync = (*db)->transact(TxMode::kRead, [](Tx& tx) { return tx.query_one("PRAGMA synchronous"); });
  ASSERT_TRUE(sync && *sync);
  EXPECT_EQ((**sync).values().at(0).as_int(), 2) << "2 = FULL";
}

TEST(Csv, QuotesCommasAndLineBreaks) {
  auto rows = parse_csv("\xEF\xBB\xBF" "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n1,,3", "t");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[1][0], "x, y");
  EXPECT_EQ((*rows)[1][1], "say \"hi\"");
  EXPECT_EQ((*rows)[1][2], "two\nlines");
  EXPECT_EQ((*rows)[2][1], "");
  EXPECT_EQ(csv_line({"a,b", "=SUM(A1)", "q\""}), "\"a,b\",'=SUM(A1),\"q\"\"\"\r\n");
  auto bad = parse_csv("a\n\"open", "upload.csv");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("upload.csv line 2"), std::string::npos);
}

TEST_P(StoreTest, MigrationsAreIdempotentAndVersioned) {
  auto v = schema_version(*db_);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, newest_schema_version());
  ASSERT_TRUE(migrate(*db_));
  EXPECT_EQ(*schema_version(*db_), newest_schema_version());
}

// The jobs migration widens the status CHECK by 'cancelled' (SQLite: by editing the table's text,
// which rebuilds nothing): the rows stay, every open connection (with statements prepared before)
// sees the new constraint, and statuses outside the list are still refused.
TEST_P(StoreTest, JobsLearnTheCancelledStatusWithoutLosingRows) {
  ms::testing::TempDir dir;
  ms::testing::TestDatabaseUrl url(GetParam(), dir);
  auto opened = open_database(url.url());
  ASSERT_TRUE(opened) << opened.error().message;
  Database& db = **opened;
  std::int64_t job = 0;
  auto old = db.transact(TxMode::kWrite, [&](Tx& tx) -> Status {  // as builds before it left it
    MS_RETURN_IF_ERROR(tx.exec_script("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                                      "name TEXT NOT NULL, applied_at BIGINT NOT NULL)"));
    for (const auto& m : migrations()) {
      if (m.rewrites_sqlite_schema) continue;  // the jobs migration, applied by migrate() below
      MS_RETURN_IF_ERROR(tx.exec_script(migration_sql(m, tx.dialect())));
      MS_RETURN_IF_ERROR(tx.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, 0)",
                                 {m.version, m.name}));
    }
    MS_ASSIGN_OR_RETURN(auto patient, tx.insert("INSERT INTO patients (identifier, name, created_at, "
                                                "updated_at) VALUES ('P', 'P', 0, 0) RETURNING id"));
    MS_ASSIGN_OR_RETURN(auto sample, tx.insert("INSERT INTO samples (patient_id, accession, specimen, "
                                               "count_target, created_at, updated_at) VALUES (?, 'A', "
                                               "'bone_marrow', 500, 0, 0) RETURNING id",
                                               {patient}));
    MS_ASSIGN_OR_RETURN(auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, "
                                              "width, height, bytes, created_at) VALUES (?, 'h', 'f', "
                                              "'PNG', 1, 1, 1, 0) RETURNING id",
                                              {sample}));
    MS_ASSIGN_OR_RETURN(job, tx.insert("INSERT INTO jobs (image_id, sample_id, status, created_at) "
                                       "VALUES (?, ?, 'done', 0) RETURNING id",
                                       {image, sample}));
    MS_RETURN_IF_ERROR(tx.exec("INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, "
                               "y2, det_score, suggested_class, probability, created_at, updated_at) "
                               "VALUES (?, 0, ?, ?, 0, 0, 1, 1, 0.9, 'blast', 0.9, 0, 0)",
                               {job, image, sample}));
    return {};
  });
  ASSERT_TRUE(old) << old.error().message;
  auto set_status = [&](Database& on, const std::string& status) {
    return on.transact(TxMode::kWrite, [&](Tx& tx) -> Status {
      MS_RETURN_IF_ERROR(tx.exec("UPDATE jobs SET status = ? WHERE id = ?", {status, job}));
      return {};
    });
  };
  auto other = open_database(url.url());  // another connection, its statement prepared before
  ASSERT_TRUE(other);
  ASSERT_TRUE(set_status(**other, "failed"));
  EXPECT_FALSE(set_status(**other, "cancelled")) << "before the migration the status is refused";

  auto migrated = migrate(db);
  ASSERT_TRUE(migrated) << migrated.error().message;
  EXPECT_EQ(*schema_version(db), newest_schema_version());
  auto cells = db.transact(TxMode::kRead, [&](Tx& tx) { return tx.query_one("SELECT COUNT(*) AS n FROM cells"); });
  ASSERT_TRUE(cells);
  EXPECT_EQ((*cells)->i("n"), 1) << "the migration lost the cells";
  auto cancelled = set_status(**other, "cancelled");
  EXPECT_TRUE(cancelled) << cancelled.error().message;
  EXPECT_TRUE(set_status(db, "cancelled"));
  EXPECT_FALSE(set_status(**other, "bogus"));
  EXPECT_FALSE(set_status(db, "bogus"));
  EXPECT_TRUE(migrate(db)) << "idempotent";
}

TEST_P(StoreTest, TransactionRollsBackOnErrorAndOnException) {
  NewUser u{"alice", "password1", Role::kDoctor, true, "", "", "", "", ""};
  auto r = db_->transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(create_user(tx, u, "hash"));
    return fail(ErrorCode::kInvalidArgument, "second step failed");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "second step failed");
  EXPECT_THROW(db_->transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(create_user(tx, u, "hash"));
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  auto n = db_->transact(TxMode::kRead, [&](Tx& tx) { return count_users(tx); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0);
}

TEST_P(StoreTest, UniqueViolationIsAConflict) {
  auto r = db_->transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    for (int k = 0; k < 2; ++k)
      MS_RETURN_IF_ERROR(tx.exec("INSERT INTO users (username, password_hash, role, created_at, "
                                 "updated_at) VALUES (?, 'h', 'viewer', 0, 0)",
                                 {"bob"}));
    return {};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict) << r.error().message;
  // A CHECK constraint names the refused value as invalid input.
  auto c = db_->transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("INSERT INTO users (username, password_hash, role, created_at, "
                               "updated_at) VALUES ('carol', 'h', 'king', 0, 0)"));
    return {};
  });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << c.error().message;
}

TEST_P(StoreTest, ValuesRoundTripWithTypes) {
  auto r = write([&](Tx& tx) -> Result<Row> {
    MS_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO log_entries (at, user_id, username, action, details) VALUES (?, ?, ?, ?, ?)",
        {std::int64_t{1} << 40, nullptr, "Zoë 李", "test.types", "it's \"quoted\" ?"}));
    MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT at, user_id, username, details, 0.25 AS q "
                                               "FROM log_entries WHERE action = ?",
                                               {"test.types"}));
    return *row;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->i("at"), std::int64_t{1} << 40);
  EXPECT_TRUE(r->is_null("user_id"));
  EXPECT_EQ(r->s("username"), "Zoë 李");
  EXPECT_EQ(r->s("details"), "it's \"quoted\" ?");
  EXPECT_DOUBLE_EQ(r->d("q"), 0.25);
  EXPECT_THROW(r->i("missing"), MarrowError);
}

TEST_P(StoreTest, SessionsAreFoundOnlyWhileLive) {
  auto user = write([&](Tx& tx) {
    return create_user(tx, NewUser{"dora", "password1", Role::kTechnician, true, "", "", "", "", ""},
                       "h");
  });
  ASSERT_TRUE(user);
  const auto now = now_ms();
  ASSERT_TRUE(write([&](Tx& tx) {
    return insert_session(tx, user->id, "tokenhash", "csrf", now + 60000, "127.0.0.1", "test");
  }));
  auto find = [&](std::int64_t at) {
    return db_->transact(TxMode::kRead, [&](Tx& tx) { return find_session(tx, "tokenhash", at); });
  };
  auto live = find(now);
  ASSERT_TRUE(live && *live);
  EXPECT_EQ((*live)->user.username, "dora");
  EXPECT_EQ((*live)->session.csrf_token, "csrf");
  EXPECT_FALSE(*find(now + 120000)) << "expired session found";
  ASSERT_TRUE(write([&](Tx& tx) { return revoke_user_sessions(tx, user->id); }));
  EXPECT_FALSE(*find(now)) << "revoked session found";
}

MS_POSTGRES_SKIP_NOTICE(StoreBackends)

TEST_P(StoreTest, OneStatementReadsRefuseASecondStatementAndWrites) {
  auto one = db_->transact(TxMode::kReadOne, [](Tx& tx) -> Result<std::int64_t> {
    MS_ASSIGN_OR_RETURN(auto row, tx.query_one("SELECT COUNT(*) AS n FROM schema_version"));
    return row->i("n");
  });
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_GT(*one, 0);
  auto two = db_->transact(TxMode::kReadOne, [](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.query("SELECT 1 AS a"));
    MS_RETURN_IF_ERROR(tx.query("SELECT 2 AS b"));
    return {};
  });
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code, ErrorCode::kInternal);
  EXPECT_NE(two.error().message.find("second statement"), std::string::npos) << two.error().message;
  auto wrote = db_->transact(TxMode::kReadOne, [](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("DELETE FROM schema_version"));
    return {};
  });
  ASSERT_FALSE(wrote);
  auto still = db_->transact(TxMode::kRead, [](Tx& tx) { return tx.query_one("SELECT COUNT(*) AS n FROM schema_version"); });
  ASSERT_TRUE(still);
  EXPECT_EQ((**still).i("n"), *one) << "a one-statement read wrote";
  // The connection is usable afterwards (no transaction left open on it).
  for (int k = 0; k < 4; ++k) {
    auto again = db_->transact(TxMode::kWrite, [](Tx& tx) { return tx.exec("UPDATE schema_version SET name = name"); });
    EXPECT_TRUE(again) << again.error().message;
  }
}

TEST_P(StoreTest, SampleRevisionsFollowEveryChange) {
  // A patient, a sample and an image, written as the stores would; the revision is the trigger's.
  auto ids = write([](Tx& tx) -> Result<std::pair<std::int64_t, std::int64_t>> {
    const auto now = now_ms();
    MS_ASSIGN_OR_RETURN(auto user, tx.insert("INSERT INTO users (username, password_hash, role, created_at, "
                                             "updated_at) VALUES ('rev', 'x', 'technician', ?, ?) RETURNING id",
                                             {now, now}));
    MS_ASSIGN_OR_RETURN(auto patient, tx.insert("INSERT INTO patients (identifier, name, created_at, updated_at) "
                                                "VALUES ('P-REV', 'Rev', ?, ?) RETURNING id", {now, now}));
    MS_ASSIGN_OR_RETURN(auto sample, tx.insert("INSERT INTO samples (patient_id, accession, specimen, "
                                               "count_target, created_at, updated_at) VALUES (?, 'S-REV', "
                                               "'bone_marrow', 200, ?, ?) RETURNING id", {patient, now, now}));
    return std::make_pair(sample, user);
  });
  ASSERT_TRUE(ids);
  const auto [sample, user] = *ids;
  auto revision = [&] {
    auto r = db_->transact(TxMode::kReadOne, [&](Tx& tx) { return sample_revision(tx, sample); });
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : -1;
  };
  std::int64_t last = revision();
  auto changes = [&](const std::string& what, const std::string& sql, Params params) {
    ASSERT_TRUE(write([&](Tx& tx) { return tx.exec(sql, params); })) << what;
    const auto now = revision();
    EXPECT_GT(now, last) << what << " did not change the sample's revision";
    last = now;
  };
  changes("the sample's row", "UPDATE samples SET notes = 'n' WHERE id = ?", {sample});
  auto cell_sql = write([&](Tx& tx) -> Result<std::string> {
    MS_ASSIGN_OR_RETURN(auto image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, width, "
                                              "height, bytes, created_at) VALUES (?, 'h', 'f', 'PNG', 1, 1, 1, 0) "
                                              "RETURNING id", {sample}));
    MS_ASSIGN_OR_RETURN(auto job, tx.insert("INSERT INTO jobs (image_id, sample_id, status, created_at) "
                                            "VALUES (?, ?, 'done', 0) RETURNING id", {image, sample}));
    return fmt::format("INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
                       "suggested_class, probability, created_at, updated_at) VALUES ({}, 0, {}, ?, 0, 0, 1, "
                       "1, 0.9, 'blast', 0.9, 0, 0)", job, image);
  });
  ASSERT_TRUE(cell_sql);
  changes("a cell added", *cell_sql, {sample});
  changes("a cell reviewed", "UPDATE cells SET reviewed_class = 'monocyte', reviewer_id = ? WHERE sample_id = ?",
          {user, sample});
  changes("its reviewer renamed", "UPDATE users SET display_name = 'R. Eviewer' WHERE id = ?", {user});
  ASSERT_TRUE(write([&](Tx& tx) { return tx.exec("UPDATE users SET last_login_at = 1 WHERE id = ?", {user}); }));
  EXPECT_EQ(revision(), last) << "a user's sign-in is not part of any sample's answer";
  changes("a cell removed", "DELETE FROM cells WHERE sample_id = ?", {sample});
  changes("the sample signed", "UPDATE samples SET status = 'signed' WHERE id = ?", {sample});
  ASSERT_TRUE(write([&](Tx& tx) { return tx.exec("DELETE FROM samples WHERE id = ?", {sample}); }));
  auto gone = db_->transact(TxMode::kReadOne, [&](Tx& tx) { return sample_revision(tx, sample); });
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

// spread_cells picks, in one statement, the cells at positions floor(k * total / m) of the
// sample's id order, m = min(n, total): the same cells as m paged queries would.
TEST_P(StoreTest, SpreadCellsPicksEvenlyInOneStatement) {
  std::int64_t sample = 0, image = 0, job = 0;
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
    MS_ASSIGN_OR_RETURN(auto patient, tx.insert("INSERT INTO patients (identifier, name, created_at, updated_at) "
                                                "VALUES ('P-SP', 'Sp', 0, 0) RETURNING id"));
    MS_ASSIGN_OR_RETURN(sample, tx.insert("INSERT INTO samples (patient_id, accession, specimen, count_target, "
                                          "created_at, updated_at) VALUES (?, 'S-SP', 'bone_marrow', 200, 0, 0) "
                                          "RETURNING id", {patient}));
    MS_ASSIGN_OR_RETURN(image, tx.insert("INSERT INTO images (sample_id, sha256, filename, format, width, height, "
                                         "bytes, created_at) VALUES (?, 'h', 'f', 'PNG', 1, 1, 1, 0) RETURNING id",
                                         {sample}));
    MS_ASSIGN_OR_RETURN(job, tx.insert("INSERT INTO jobs (image_id, sample_id, status, created_at) VALUES "
                                       "(?, ?, 'done', 0) RETURNING id", {image, sample}));
    return {};
  }));
  std::vector<std::int64_t> ids;
  auto spread = [&](std::int64_t n) {
    auto r = db_->transact(TxMode::kRead, [&](Tx& tx) { return spread_cells(tx, sample, n); });
    EXPECT_TRUE(r) << r.error().message;
    std::vector<std::int64_t> got;
    if (r)
      for (const auto& c : *r) got.push_back(c.id);
    return got;
  };
  EXPECT_TRUE(spread(40).empty()) << "a sample without cells";
  for (int total : {1, 2, 5, 39, 40, 41, 97, 257}) {
    while (static_cast<int>(ids.size()) < total) {
      auto id = write([&](Tx& tx) {
        return tx.insert("INSERT INTO cells (job_id, cell_index, image_id, sample_id, x1, y1, x2, y2, det_score, "
                         "suggested_class, probability, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, 1, 1, "
                         "0.9, 'blast', 0.9, 0, 0) RETURNING id",
                         {job, static_cast<std::int64_t>(ids.size()), image, sample});
      });
      ASSERT_TRUE(id);
      ids.push_back(*id);
    }
    for (std::int64_t n : {1, 7, 40}) {
      const std::int64_t m = std::min<std::int64_t>(n, total);
      std::vector<std::int64_t> want;
      for (std::int64_t k = 0; k < m; ++k) want.push_back(ids[static_cast<std::size_t>(k * total / m)]);
      EXPECT_EQ(spread(n), want) << total << " cells, " << n << " asked";
    }
  }
  EXPECT_TRUE(spread(0).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(ms::testing::test_backends()),
                         ms::testing::backend_name);

}  // namespace
}  // namespace ms::store
