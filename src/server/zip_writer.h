#pragma once
// Builds a ZIP archive (libzip) in a scratch file and returns its bytes: crop galleries and
// training-data exports. JPEG/PNG entries are stored (they are compressed already), text entries
// deflated. Entry names are checked: relative, '/'-separated, no "..", no duplicates.
//
// Memory: entries given as bytes are held until finish() only up to kMaxBufferedBytes in total;
// later ones are written to the scratch folder and read from there by libzip. finish() reads the
// finished archive back once, into a string of its exact size.
#include <deque>
#include <set>
#include <string>

#include "core/error.h"

namespace ms::server {

class ZipWriter {
 public:
  static constexpr std::size_t kMaxBufferedBytes = 64u << 20;
  // The archive and spilled entries live in a private folder under `scratch_parent` (created
  // 0700 when missing; the data directory keeps patient images off the shared /tmp), or under
  // the system temporary directory when empty.
  explicit ZipWriter(const std::string& scratch_parent = "");
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  Status add(const std::string& name, std::string bytes);
  // A file on disk, read when the archive is written.
  Status add_file(const std::string& name, const std::string& path);
  // Every regular file under `dir`, named by its path relative to `dir` under `prefix`.
  Status add_tree(const std::string& dir, const std::string& prefix = "");
  std::size_t entries() const { return names_.size(); }
  // Writes the archive and returns it; the writer is finished afterwards.
  Result<std::string> finish();

 private:
  Status check_name(const std::string& name);
  struct Impl;
  Impl* impl_;
  std::set<std::string> names_;
  std::deque<std::string> buffers_;  // kept alive until finish(): libzip reads them then
  std::size_t buffered_ = 0;         // bytes in buffers_
  std::size_t spilled_ = 0;          // entries written to scratch files
};

// A temporary directory (mode 0700) removed with everything in it on destruction: under
// `parent` (created when missing), or the system temporary directory when empty.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& parent = "");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ms::server
