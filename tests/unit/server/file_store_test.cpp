// The content-addressed file store: private modes, durable puts, and the mark-and-sweep that
// removes files no row names (and stale temporaries), on SQLite and PostgreSQL.
#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "server/file_store.h"
#include "server/test_database.h"
#include "unit/store/store_fixture.h"
#include "store/database.h"
#include "store/file_refs.h"
#include "store/schema.h"

namespace ms::testing {
namespace {
namespace fs = std::filesystem;

int mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

// Sets a file's modification time `ago_ms` into the past (a file stored long ago).
void age(const std::string& path, std::int64_t ago_ms) {
  const std::int64_t t = store::now_ms() - ago_ms;
  struct timeval tv[2];
  for (auto& v : tv) {
    v.tv_sec = t / 1000;
    v.tv_usec = (t % 1000) * 1000;
  }
  ASSERT_EQ(::utimes(path.c_str(), tv), 0) << path;
}

constexpr std::int64_t kHour = 3600 * 1000;

// A migrated database (store::StoreTest) and a file store beside it.
class FileStoreTest : public store::StoreTest {
 protected:
  void SetUp() override {
    store::StoreTest::SetUp();
    if (HasFatalFailure()) return;
    auto files = server::FileStore::open(dir_.str() + "/data");
    ASSERT_TRUE(files) << files.error().message;
    files_ = std::make_unique<server::FileStore>(*files);
  }
  // An image row naming `original` (and `thumbnail`), in a sample of its own.
  void name_in_image(const std::string& original, const std::optional<std::string>& thumbnail) {
    static int n = 0;
    ++n;
    auto r = db_->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
      MS_ASSIGN_OR_RETURN(auto patient, tx.insert("INSERT INTO patients (identifier, name, created_at, "
                                                  "updated_at) VALUES (?, 'P', 0, 0) RETURNING id",
                                                  {"P" + std::to_string(n)}));
      MS_ASSIGN_OR_RETURN(auto sample, tx.insert("INSERT INTO samples (patient_id, accession, specimen, "
                                                 "count_target, created_at, updated_at) VALUES (?, ?, "
                                                 "'bone_marrow', 500, 0, 0) RETURNING id",
                                                 {patient, "A" + std::to_string(n)}));
      MS_RETURN_IF_ERROR(tx.exec("INSERT INTO images (sample_id, sha256, filename, format, width, "
                                 "height, bytes, thumbnail_sha256, created_at) VALUES (?, ?, 'f', "
                                 "'PNG', 1, 1, 1, ?, 0)",
                                 {sample, original, store::Value(thumbnail)}));
      return {};
    });
    ASSERT_TRUE(r) << r.error().message;
  }
  std::string put(const std::string& bytes) {
    auto s = files_->put(bytes);
    EXPECT_TRUE(s) << s.error().message;
    return s ? s->sha256 : "";
  }
  std::string path(const std::string& sha) { return *files_->path_of(sha); }

  std::unique_ptr<server::FileStore> files_;
};

TEST_P(FileStoreTest, FilesAndFoldersArePrivate) {
  const std::string sha = put("patient image bytes");
  EXPECT_EQ(mode_of(path(sha)), 0600);
  EXPECT_EQ(mode_of(fs::path(path(sha)).parent_path().string()), 0700);
  EXPECT_EQ(mode_of(files_->root()), 0700);
  EXPECT_EQ(mode_of(dir_.str() + "/data"), 0700);
  EXPECT_EQ(mode_of(files_->scratch()), 0700);
  // A loose store made by an older build is tightened when opened.
  ASSERT_EQ(::chmod(files_->root().c_str(), 0755), 0);
  ASSERT_TRUE(server::FileStore::open(dir_.str() + "/data"));
  EXPECT_EQ(mode_of(files_->root()), 0700);
}

TEST_P(FileStoreTest, PutRenewsTheTimeOfAFileItFinds) {
  const std::string sha = put("shared bytes");
  age(path(sha), 5 * kHour);
  auto again = files_->put("shared bytes");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->existed);
  struct stat st {};
  ASSERT_EQ(::stat(path(sha).c_str(), &st), 0);
  EXPECT_GT(static_cast<std::int64_t>(st.st_mtime) * 1000, store::now_ms() - kHour)
      << "a file an upload is about to name again must not look old to the sweep";
}

TEST_P(FileStoreTest, SweepRemovesWhatNoRowNamesAndStaleTemporaries) {
  const std::string image = put("original"), thumb = put("thumbnail"), shared = put("shared");
  const std::string orphan = put("deleted patient's image"), fresh = put("upload in progress");
  const std::string avatar = put("avatar");
  name_in_image(image, thumb);
  name_in_image(shared, std::nullopt);
  name_in_image(shared + "", shared);  // one file named by two images, once as a thumbnail
  ASSERT_TRUE(db_->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(tx.exec("INSERT INTO users (username, password_hash, role, avatar_sha256, "
                               "created_at, updated_at) VALUES ('u', 'x', 'viewer', ?, 0, 0)",
                               {avatar}));
    return {};
  }));
  for (const auto& sha : {image, thumb, shared, orphan, avatar}) age(path(sha), 2 * kHour);
  const std::string dir = fs::path(path(image)).parent_path().string();
  const std::string old_tmp = dir + "/.tmp-0123456789abcdef", new_tmp = dir + "/.tmp-fedcba9876543210";
  std::ofstream(old_tmp) << "half";
  std::ofstream(new_tmp) << "writing";
  age(old_tmp, 2 * kHour);
  const std::string old_scratch = files_->scratch() + "/marrowscope-old123";
  fs::create_directories(old_scratch + "/inner");
  age(old_scratch, 48 * kHour);

  auto report = server::sweep_orphans(*db_, *files_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->files_removed, 1);
  EXPECT_EQ(report->files_kept, 4);
  EXPECT_EQ(report->files_too_new, 1);
  EXPECT_EQ(report->temporaries_removed, 1);
  EXPECT_EQ(report->scratch_removed, 1);
  for (const auto& sha : {image, thumb, shared, avatar, fresh}) EXPECT_TRUE(files_->contains(sha)) << sha;
  EXPECT_FALSE(files_->contains(orphan));
  EXPECT_FALSE(fs::exists(old_tmp));
  EXPECT_TRUE(fs::exists(new_tmp)) << "a temporary being written now was removed";
  EXPECT_FALSE(fs::exists(old_scratch));

  // With no grace (a quiet store, as after a crash test), the unnamed new file goes too.
  server::SweepOptions now;
  now.keep_newer_than_ms = 0;
  report = server::sweep_orphans(*db_, *files_, now);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->files_removed, 1);
  EXPECT_FALSE(files_->contains(fresh));
  EXPECT_EQ(report->files_kept, 4);
}

TEST_P(FileStoreTest, AFailedWriteRemovesOnlyItsUnnamedFiles) {
  const std::string named = put("named"), unnamed = put("unnamed");
  name_in_image(named, std::nullopt);
  auto removed = server::remove_unreferenced(*db_, *files_, {named, unnamed});
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(*removed, 1);
  EXPECT_TRUE(files_->contains(named));
  EXPECT_FALSE(files_->contains(unnamed)) << "however new, a failed write's own file goes";
}

TEST_P(FileStoreTest, AWriterRestoresAFileSweptBeforeItCommitted) {
  const std::string bytes = "slow upload";
  const std::string sha = put(bytes);
  // A sweep with no grace runs between the upload's put and its transaction...
  server::SweepOptions now;
  now.keep_newer_than_ms = 0;
  ASSERT_TRUE(server::sweep_orphans(*db_, *files_, now));
  ASSERT_FALSE(files_->contains(sha));
  // ...and the transaction that names the file stores it again before inserting its row.
  auto held = db_->transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    return server::hold_stored_files(tx, *files_, {{sha, bytes}});
  });
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_TRUE(files_->contains(sha));
  EXPECT_EQ(*files_->read(sha), bytes);
}

TEST(FileReferences, NameEveryColumnThatHoldsAStoredFile) {
  std::set<std::string> columns;
  for (const auto& [table, column] : store::file_reference_columns()) columns.insert(table + "." + column);
  EXPECT_EQ(columns, (std::set<std::string>{"images.sha256", "images.thumbnail_sha256", "images.display_sha256",
                                               "users.avatar_sha256"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, FileStoreTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
