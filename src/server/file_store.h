#pragma once
// Content-addressed file store under the data directory: a file's SHA-256 names it
// (files/ab/cdef...), so the same bytes are stored once however often they are uploaded. Writes
// go to a temporary file in the same directory and are renamed into place, so a reader never
// sees a half-written file and a crash leaves at most a stray temporary.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ms::server {

class FileStore {
 public:
  // Creates root/files if needed.
  static Result<FileStore> open(const std::string& root);

  struct Stored {
    std::string sha256;
    std::string path;  // absolute
    bool existed = false;
  };
  Result<Stored> put(std::string_view bytes);
  // Absolute path for a hash (whether or not it exists). kInvalidArgument for a malformed hash.
  Result<std::string> path_of(const std::string& sha256) const;
  Result<std::string> read(const std::string& sha256, std::size_t max_bytes = SIZE_MAX) const;
  bool contains(const std::string& sha256) const;
  const std::string& root() const { return root_; }

 private:
  explicit FileStore(std::string root) : root_(std::move(root)) {}
  std::string root_;  // .../files
};

}  // namespace ms::server
