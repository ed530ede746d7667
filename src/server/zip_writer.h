#pragma once
// Builds a ZIP archive (libzip) in a temporary file and returns its bytes: crop galleries and
// training-data exports. JPEG/PNG entries are stored (they are compressed already), text entries
// deflated. Entry names are checked: relative, '/'-separated, no "..", no duplicates.
#include <deque>
#include <set>
#include <string>

#include "core/error.h"

namespace ms::server {

class ZipWriter {
 public:
  ZipWriter();
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
};

// A temporary directory removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ms::server
