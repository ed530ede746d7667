#include "server/file_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/image.h"
#include "server/crypto.h"

namespace ms::server {
namespace fs = std::filesystem;

namespace {
bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

Result<FileStore> FileStore::open(const std::string& root) {
  std::error_code ec;
  const fs::path files = fs::path(root) / "files";
  fs::create_directories(files, ec);
  if (ec) return fail(ErrorCode::kIo, "data directory '" + root + "'", "a writable directory", ec.message());
  return FileStore(fs::absolute(files).string());
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

Result<FileStore::Stored> FileStore::put(std::string_view bytes) {
  Stored out;
  out.sha256 = sha256_hex(bytes.data(), bytes.size());
  auto path = path_of(out.sha256);
  if (!path) return tl::unexpected(path.error());
  out.path = *path;
  std::error_code ec;
  if (fs::exists(out.path, ec)) {
    out.existed = true;
    return out;
  }
  const fs::path dir = fs::path(out.path).parent_path();
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIo, "file store '" + dir.string() + "'", "a writable directory", ec.message());
  std::string tmp = (dir / (".tmp-" + random_hex(8))).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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
  if (!synced || ::rename(tmp.c_str(), out.path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return fail(ErrorCode::kIo, "file store '" + out.path + "'", "a stored file", why);
  }
  return out;
}

Result<std::string> FileStore::read(const std::string& sha256, std::size_t max_bytes) const {
  auto path = path_of(sha256);
  if (!path) return tl::unexpected(path.error());
  auto bytes = read_file_bytes(*path, max_bytes);
  if (!bytes) return tl::unexpected(bytes.error());
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace ms::server
