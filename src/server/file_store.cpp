#include "server/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "core/image.h"
#include "server/crypto.h"
#include "store/database.h"
#include "store/file_refs.h"

namespace ms::server {
namespace fs = std::filesystem;

namespace {
bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_hex_pair(const std::string& s) {
  return s.size() == 2 && is_sha256(s + std::string(62, '0'));
}

// mkdir with 0700; an existing directory that this process owns loses its group and other bits
// (a store created by an older build, or under a loose umask).
Status private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIo, "directory '" + dir.string() + "'", "a writable directory", ec.message());
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0 &&
      ::chmod(dir.c_str(), st.st_mode & 0700) != 0)
    return fail(ErrorCode::kIo, "directory '" + dir.string() + "'", "mode 0700", std::strerror(errno));
  return {};
}

// fsync of a directory: makes a rename or a new entry in it durable.
bool sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t mtime_ms(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}
}  // namespace

Result<FileStore> FileStore::open(const std::string& root) {
  // The data directory holds the database and the images (PHI): private too, unless it is a
  // shared sticky directory such as /tmp itself, whose mode is not this program's to change.
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return fail(ErrorCode::kIo, "data directory '" + root + "'", "a writable directory", ec.message());
  struct stat st {};
  if (::stat(root.c_str(), &st) == 0 && !(st.st_mode & S_ISVTX)) MS_RETURN_IF_ERROR(private_dir(root));
  const fs::path files = fs::absolute(fs::path(root) / "files");
  const fs::path scratch = fs::absolute(fs::path(root) / "tmp");
  MS_RETURN_IF_ERROR(private_dir(files));
  MS_RETURN_IF_ERROR(private_dir(scratch));
  return FileStore(files.string(), scratch.string());
}

Result<std::string> FileStore::path_of(const std::string& sha256) const {
  if (!is_sha256(sha256))
    return fail(ErrorCode::kInvalidArgument, "file hash", "64 lowercase hex digits", "\"" + sha256 + "\"");
  return root_ + "/" + sha256.substr(0, 2) + "/" + sha256.substr(2);
}

bool FileStore::contains(const std::string& sha256) const {
  auto p = path_of(sha256);
  std::error_code ec;
  return p && fs::exists(*p, ec);
}

namespace {
// The two-hex-digit folder a stored file goes in, made on first use (0700) and made durable by
// syncing the store's root.
Status make_shard_dir(const std::string& root, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    if (!sync_dir(root)) return fail(ErrorCode::kIo, "file store '" + root + "'", "a synced directory", std::strerror(errno));
  } else if (errno != EEXIST) {
    return fail(ErrorCode::kIo, "file store '" + dir + "'", "a writable directory", std::strerror(errno));
  }
  return {};
}
}  // namespace

Result<FileStore::Stored> FileStore::put(std::string_view bytes) const {
  Stored out;
  out.sha256 = sha256_hex(bytes.data(), bytes.size());
  auto path = path_of(out.sha256);
  if (!path) return tl::unexpected(path.error());
  out.path = *path;
  {
    std::lock_guard<std::mutex> lock(*mu_);
    if (::utimensat(AT_FDCWD, out.path.c_str(), nullptr, 0) == 0) {  // exists: renew its time
      out.existed = true;
      return out;
    }
  }
  const std::string dir = fs::path(out.path).parent_path().string();
  MS_RETURN_IF_ERROR(make_shard_dir(root_, dir));
  std::string tmp = dir + "/.tmp-" + random_hex(8);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(ErrorCode::kIo, "file store '" + tmp + "'", "a new file", std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(ErrorCode::kIo, "file store '" + tmp + "'", "written bytes", why);
    }
    done += static_cast<std::size_t>(n);
  }
  // fsync before rename: after a crash the name points at complete bytes or at nothing.
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  bool renamed = false;
  if (synced) {
    std::lock_guard<std::mutex> lock(*mu_);
    renamed = ::rename(tmp.c_str(), out.path.c_str()) == 0;
  }
  if (!renamed) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return fail(ErrorCode::kIo, "file store '" + out.path + "'", "a stored file", why);
  }
  // fsync of the directory after the rename: without it a power loss may drop the new name while
  // the database (synchronous=FULL) keeps the row that names it.
  if (!sync_dir(dir)) return fail(ErrorCode::kIo, "file store '" + dir + "'", "a synced directory", std::strerror(errno));
  return out;
}

Result<FileStore::Stored> FileStore::adopt(const std::string& path) const {
  Stored out;
  out.sha256 = sha256_file_hex(path);
  if (out.sha256.empty()) return fail(ErrorCode::kIo, "file '" + path + "'", "a readable file", std::strerror(errno));
  MS_ASSIGN_OR_RETURN(out.path, path_of(out.sha256));
  {
    std::lock_guard<std::mutex> lock(*mu_);
    if (::utimensat(AT_FDCWD, out.path.c_str(), nullptr, 0) == 0) {  // exists: renew its time
      out.existed = true;
      ::unlink(path.c_str());
      return out;
    }
  }
  const std::string dir = fs::path(out.path).parent_path().string();
  MS_RETURN_IF_ERROR(make_shard_dir(root_, dir));
  // fsync before rename: after a crash the name points at complete bytes or at nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::kIo, "file '" + path + "'", "a readable file", std::strerror(errno));
  const bool synced = ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return fail(ErrorCode::kIo, "file '" + path + "'", "a synced file", std::strerror(errno));
  {
    std::lock_guard<std::mutex> lock(*mu_);
    if (::rename(path.c_str(), out.path.c_str()) != 0)
      return fail(ErrorCode::kIo, "file store '" + out.path + "'",
                  "a file renamed into the store (the data directory must be one filesystem)", std::strerror(errno));
  }
  if (!sync_dir(dir)) return fail(ErrorCode::kIo, "file store '" + dir + "'", "a synced directory", std::strerror(errno));
  return out;
}

const std::vector<std::string>& slide_extensions() {
  static const std::vector<std::string> e = {"svs", "tif", "tiff", "ndpi", "scn", "bif", "svslide"};
  return e;
}

std::string slide_extension(const std::string& filename) {
  const auto dot = filename.rfind('.');
  if (dot == std::string::npos) return "";
  std::string ext = filename.substr(dot + 1);
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const auto& e : slide_extensions())
    if (e == ext) return ext;
  return "";
}

Result<std::string> FileStore::slide_path(const std::string& sha256, const std::string& filename) const {
  MS_ASSIGN_OR_RETURN(auto target, path_of(sha256));
  const std::string ext = slide_extension(filename);
  if (ext.empty()) return target;
  const fs::path dir = fs::path(root_).parent_path() / "slide-links";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(ErrorCode::kIo, "file store '" + dir.string() + "'", "a writable directory", std::strerror(errno));
  const std::string link = (dir / (sha256 + "." + ext)).string();
  // Relative, so the link holds on every machine that mounts the data directory, wherever.
  const std::string relative = fs::path(target).lexically_relative(dir).string();
  if (::symlink(relative.c_str(), link.c_str()) != 0 && errno != EEXIST)
    return fail(ErrorCode::kIo, "file store '" + link + "'", "a link to the stored slide", std::strerror(errno));
  return link;
}

Result<std::string> FileStore::read(const std::string& sha256, std::size_t max_bytes) const {
  auto path = path_of(sha256);
  if (!path) return tl::unexpected(path.error());
  auto bytes = read_file_bytes(*path, max_bytes);
  if (!bytes) return tl::unexpected(bytes.error());
  return std::string(bytes->begin(), bytes->end());
}

Status hold_stored_files(store::Tx& tx, const FileStore& store,
                         const std::vector<std::pair<std::string, std::string_view>>& files) {
  MS_RETURN_IF_ERROR(store::lock_file_references(tx, /*exclusive=*/false));
  for (const auto& [sha256, bytes] : files) {
    if (store.contains(sha256)) continue;
    spdlog::warn("file {} was swept while its upload was in progress; storing it again", sha256);
    MS_ASSIGN_OR_RETURN(auto stored, store.put(bytes));
    if (stored.sha256 != sha256)
      return fail(ErrorCode::kInternal, "stored file " + sha256 + " came back as " + stored.sha256);
  }
  return {};
}

// The sweep's access to a store's lock (a friend of FileStore).
struct FileSweep {
  static std::mutex& mutex(const FileStore& f) { return *f.mu_; }

  // Unlinks `path` unless it was modified after `cutoff_ms` (Unix ms); true when removed.
  static bool unlink_if_older(const FileStore& f, const std::string& path, std::int64_t cutoff_ms,
                              std::int64_t* bytes) {
    std::lock_guard<std::mutex> lock(mutex(f));
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return false;
    if (mtime_ms(st) > cutoff_ms) return false;
    if (::unlink(path.c_str()) != 0) return false;
    if (bytes) *bytes += st.st_size;
    return true;
  }
};

namespace {
struct OnDisk {
  std::vector<std::pair<std::string, std::string>> files;  // (hash, path)
  std::vector<std::string> temporaries;                    // paths older than the cut-off
};

Result<OnDisk> list_store(const FileStore& files, std::int64_t temporaries_cutoff_ms) {
  OnDisk out;
  std::error_code ec;
  for (fs::directory_iterator d(files.root(), ec), end; !ec && d != end; d.increment(ec)) {
    const std::string prefix = d->path().filename().string();
    std::error_code is_dir;
    if (!is_hex_pair(prefix) || !d->is_directory(is_dir)) continue;
    std::error_code ec2;
    for (fs::directory_iterator f(d->path(), ec2), fend; !ec2 && f != fend; f.increment(ec2)) {
      const std::string name = f->path().filename().string();
      if (name.rfind(".tmp-", 0) == 0) {
        struct stat st {};
        if (::lstat(f->path().c_str(), &st) == 0 && mtime_ms(st) < temporaries_cutoff_ms)
          out.temporaries.push_back(f->path().string());
      } else if (is_sha256(prefix + name)) {
        out.files.emplace_back(prefix + name, f->path().string());
      }
    }
    if (ec2) return fail(ErrorCode::kIo, "file store '" + d->path().string() + "': " + ec2.message());
  }
  if (ec) return fail(ErrorCode::kIo, "file store '" + files.root() + "': " + ec.message());
  return out;
}

std::int64_t remove_old_scratch(const FileStore& files, std::int64_t cutoff_ms) {
  std::int64_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator d(files.scratch(), ec), end; !ec && d != end; d.increment(ec)) {
    struct stat st {};
    if (::lstat(d->path().c_str(), &st) != 0 || mtime_ms(st) >= cutoff_ms) continue;
    std::error_code rm;
    fs::remove_all(d->path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}
}  // namespace

Result<SweepReport> sweep_orphans(store::Database& db, const FileStore& files,
                                  const SweepOptions& options) {
  SweepReport report;
  const std::int64_t now = wall_ms();
  MS_ASSIGN_OR_RETURN(auto disk, list_store(files, now - options.temporaries_older_than_ms));
  for (const auto& tmp : disk.temporaries)
    if (::unlink(tmp.c_str()) == 0) ++report.temporaries_removed;
  report.scratch_removed = remove_old_scratch(files, now - options.scratch_older_than_ms);
  if (disk.files.empty()) return report;
  // Mark and sweep under the exclusive lock: rows committed before it are seen; writers that
  // commit after it hold_stored_files() first, which restores anything removed here.
  MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    SweepReport pass;
    pass.temporaries_removed = report.temporaries_removed;
    pass.scratch_removed = report.scratch_removed;
    MS_RETURN_IF_ERROR(store::lock_file_references(tx, /*exclusive=*/true));
    MS_ASSIGN_OR_RETURN(auto named, store::referenced_files(tx));
    const std::int64_t cutoff = wall_ms() - options.keep_newer_than_ms;
    for (const auto& [hash, path] : disk.files) {
      if (named.count(hash)) {
        ++pass.files_kept;
      } else if (FileSweep::unlink_if_older(files, path, cutoff, &pass.bytes_removed)) {
        ++pass.files_removed;
      } else {
        ++pass.files_too_new;
      }
    }
    report = pass;
    return {};
  }));
  if (report.files_removed > 0 || report.temporaries_removed > 0 || report.scratch_removed > 0)
    spdlog::info("file store: removed {} file(s) no record names ({} bytes), {} stale temporary "
                 "file(s), {} stale scratch folder(s); {} unnamed file(s) newer than {} s kept "
                 "for now",
                 report.files_removed, report.bytes_removed, report.temporaries_removed,
                 report.scratch_removed, report.files_too_new, options.keep_newer_than_ms / 1000);
  return report;
}

Result<std::int64_t> remove_unreferenced(store::Database& db, const FileStore& files,
                                         const std::vector<std::string>& hashes) {
  if (hashes.empty()) return 0;
  std::int64_t removed = 0;
  MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) -> Status {
    removed = 0;
    MS_RETURN_IF_ERROR(store::lock_file_references(tx, /*exclusive=*/true));
    MS_ASSIGN_OR_RETURN(auto named, store::referenced_among(tx, hashes));
    for (const auto& h : hashes) {
      if (named.count(h)) continue;
      MS_ASSIGN_OR_RETURN(auto path, files.path_of(h));
      removed += FileSweep::unlink_if_older(files, path, INT64_MAX, nullptr);
    }
    return {};
  }));
  return removed;
}

}  // namespace ms::server
