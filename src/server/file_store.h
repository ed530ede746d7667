#pragma once
// Content-addressed file store under the data directory: a file's SHA-256 names it
// (files/ab/cdef...), so the same bytes are stored once however often they are uploaded. Writes
// go to a temporary file in the same directory and are renamed into place, so a reader never
// sees a half-written file and a crash leaves at most a stray temporary. Files are 0600 and
// directories 0700 (patient images are PHI; no other local account reads them).
//
// Files are shared (one file may back images of several samples, thumbnails, avatars), so none
// is deleted with a row: sweep_orphans() removes the files no row names any more (mark and
// sweep over store/file_refs.h's columns) and stale temporaries.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ms::store {
class Database;
class Tx;
}  // namespace ms::store

namespace ms::server {

class FileStore {
 public:
  // Creates root, root/files and root/tmp (the parent of export and ZIP scratch folders), all
  // 0700: an existing one owned by this user is tightened; a sticky shared directory such as
  // /tmp itself is left alone.
  static Result<FileStore> open(const std::string& root);

  struct Stored {
    std::string sha256;
    std::string path;  // absolute
    bool existed = false;
  };
  // Stores the bytes (0600, fsync of the file and of its directory after the rename, so the name
  // survives a power loss once put returns). A file that exists already has its modification
  // time renewed: the sweep leaves recently stored files alone (SweepOptions::keep_newer_than_ms)
  // while the rows that will name them are being written.
  Result<Stored> put(std::string_view bytes) const;
  // Stores a complete file that lies on the same filesystem (a finished upload under scratch()),
  // by hashing it in blocks and renaming it into place: a file of several gigabytes is never held
  // in memory nor copied. The file is gone from `path` afterwards (renamed, or removed when the
  // store holds its bytes already).
  Result<Stored> adopt(const std::string& path) const;
  // The path OpenSlide opens for a stored slide. OpenSlide recognises some formats by the file
  // name's extension (Hamamatsu .ndpi) and the store names files by hash alone, so this is a
  // symbolic link <hash>.<ext> to the stored file in the data directory's slide-links/ (made on
  // first use; the extension from the uploaded name, when it is one of slide_extensions()).
  Result<std::string> slide_path(const std::string& sha256, const std::string& filename) const;
  // Absolute path for a hash (whether or not it exists). kInvalidArgument for a malformed hash.
  Result<std::string> path_of(const std::string& sha256) const;
  Result<std::string> read(const std::string& sha256, std::size_t max_bytes = SIZE_MAX) const;
  bool contains(const std::string& sha256) const;
  const std::string& root() const { return root_; }        // .../files
  const std::string& scratch() const { return scratch_; }  // .../tmp

 private:
  friend struct FileSweep;
  FileStore(std::string root, std::string scratch)
      : root_(std::move(root)), scratch_(std::move(scratch)), mu_(std::make_shared<std::mutex>()) {}
  std::string root_;     // .../files
  std::string scratch_;  // .../tmp
  // Orders put()'s "exists, renew its time" against the sweep's "old enough, unlink" in this
  // process (copies of a FileStore share it).
  std::shared_ptr<std::mutex> mu_;
};

// Extensions of the single-file slide formats OpenSlide reads (lower case, without the dot).
const std::vector<std::string>& slide_extensions();
// The lower-case extension of `filename` when it is a slide extension; "" otherwise.
std::string slide_extension(const std::string& filename);

// Writers that store files and then insert rows naming them call this inside the inserting
// write transaction, before the inserts: it takes the sweep lock (shared) and stores again any of
// `files` (hash, bytes) that a sweep removed since put(). With it, a file named by a committed row
// is never missing, however long the writer took between put() and its transaction.
Status hold_stored_files(store::Tx& tx, const FileStore& store,
                         const std::vector<std::pair<std::string, std::string_view>>& files);

struct SweepOptions {
  // Unnamed files modified this recently stay (a writer may have stored them and not yet
  // committed the rows naming them; put() renews the time of a file it finds). Later sweeps take
  // them.
  std::int64_t keep_newer_than_ms = 10LL * 60 * 1000;
  // Temporaries (".tmp-*", left by a crash inside put()) older than this go.
  std::int64_t temporaries_older_than_ms = 60LL * 60 * 1000;
  // Scratch folders under tmp/ (exports, ZIPs; a crash leaves them) older than this go.
  std::int64_t scratch_older_than_ms = 24LL * 60 * 60 * 1000;
};
struct SweepReport {
  std::int64_t files_kept = 0;      // named by a row
  std::int64_t files_removed = 0;   // named by no row
  std::int64_t bytes_removed = 0;
  std::int64_t files_too_new = 0;   // named by no row, but newer than keep_newer_than_ms
  std::int64_t temporaries_removed = 0;
  std::int64_t scratch_removed = 0;
};
// Mark and sweep: removes every stored file that no row names (store/file_refs.h), stale
// temporaries and stale scratch directories. Run at start-up, after deletes and periodically
// (server/job_workers.h). The unlinks happen inside one write transaction holding the sweep lock
// exclusively (lock_file_references), so they cannot interleave with a writer's
// hold_stored_files + inserts.
Result<SweepReport> sweep_orphans(store::Database& db, const FileStore& files,
                                  const SweepOptions& options = {});
// Removes those of `hashes` that no row names, however new: the clean-up of a write that stored
// files and then failed. Returns how many were removed.
Result<std::int64_t> remove_unreferenced(store::Database& db, const FileStore& files,
                                         const std::vector<std::string>& hashes);

}  // namespace ms::server
