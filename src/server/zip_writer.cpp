#include "server/zip_writer.h"

#include <zip.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/crypto.h"
#include "store/database.h"  // MS_ASSIGN_OR_RETURN

namespace ms::server {
namespace fs = std::filesystem;

ScratchDir::ScratchDir(const std::string& parent) {
  const fs::path base = parent.empty() ? fs::temp_directory_path() : fs::path(parent);
  fs::create_directories(base);
  const fs::path p = base / ("marrowscope-" + random_hex(8));
  fs::create_directory(p);
  fs::permissions(p, fs::perms::owner_all, fs::perm_options::replace);
  path_ = p.string();
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

struct ZipWriter::Impl {
  explicit Impl(const std::string& parent) : dir(parent) {}
  ScratchDir dir;
  std::string file;
  zip_t* archive = nullptr;
};

ZipWriter::ZipWriter(const std::string& scratch_parent) : impl_(new Impl(scratch_parent)) {
  impl_->file = (fs::path(impl_->dir.path()) / "archive.zip").string();
  int err = 0;
  impl_->archive = zip_open(impl_->file.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!impl_->archive) {
    delete impl_;
    throw MarrowError(ErrorCode::kIo, "cannot create a ZIP archive in the temporary directory (libzip error " +
                                          std::to_string(err) + ")");
  }
}

ZipWriter::~ZipWriter() {
  if (impl_->archive) zip_discard(impl_->archive);
  delete impl_;
}

namespace {
bool precompressed(const std::string& name) {
  const std::string ext = fs::path(name).extension().string();
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".zip";
}

Status add_source(zip_t* archive, const std::string& name, zip_source_t* src) {
  if (!src)
    return fail(ErrorCode::kIo, "ZIP entry '" + name + "': " + zip_strerror(archive));
  const zip_int64_t index = zip_file_add(archive, name.c_str(), src, ZIP_FL_ENC_UTF_8);
  if (index < 0) {
    zip_source_free(src);
    return fail(ErrorCode::kIo, "ZIP entry '" + name + "': " + zip_strerror(archive));
  }
  if (precompressed(name)) zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  return {};
}
}  // namespace

Status ZipWriter::check_name(const std::string& name) {
  if (!impl_->archive) throw MarrowError(ErrorCode::kInternal, "ZipWriter used after finish()");
  const bool bad = name.empty() || name.front() == '/' || name.find('\\') != std::string::npos ||
                   name.find("..") != std::string::npos || name.find('\0') != std::string::npos;
  if (bad) return fail(ErrorCode::kInvalidArgument, "ZIP entry name", "a relative path without '..'", "\"" + name + "\"");
  if (!names_.insert(name).second)
    return fail(ErrorCode::kInvalidArgument, "ZIP entry name", "a name used once", "\"" + name + "\" twice");
  return {};
}

Status ZipWriter::add(const std::string& name, std::string bytes) {
  MS_RETURN_IF_ERROR(check_name(name));
  if (buffered_ + bytes.size() > kMaxBufferedBytes) {
    // Past the memory budget: the entry waits on disk, not in memory, until finish().
    const std::string spill = (fs::path(impl_->dir.path()) / ("entry-" + std::to_string(spilled_++))).string();
    std::ofstream out(spill, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return fail(ErrorCode::kIo, "ZIP entry '" + name + "': cannot write its scratch file");
    return add_source(impl_->archive, name, zip_source_file(impl_->archive, spill.c_str(), 0, -1));
  }
  buffered_ += bytes.size();
  buffers_.push_back(std::move(bytes));
  const std::string& b = buffers_.back();
  return add_source(impl_->archive, name, zip_source_buffer(impl_->archive, b.data(), b.size(), 0));
}

Status ZipWriter::add_file(const std::string& name, const std::string& path) {
  MS_RETURN_IF_ERROR(check_name(name));
  return add_source(impl_->archive, name, zip_source_file(impl_->archive, path.c_str(), 0, -1));
}

Status ZipWriter::add_tree(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) return fail(ErrorCode::kIo, "folder '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string rel = fs::relative(f, dir).generic_string();
    MS_RETURN_IF_ERROR(add_file(prefix.empty() ? rel : prefix + "/" + rel, f.string()));
  }
  return {};
}

Result<std::string> ZipWriter::finish() {
  if (!impl_->archive) throw MarrowError(ErrorCode::kInternal, "ZipWriter::finish() called twice");
  zip_t* a = impl_->archive;
  impl_->archive = nullptr;
  if (names_.empty()) {
    // libzip removes an archive without entries instead of writing one; an empty ZIP is just
    // the end-of-central-directory record.
    zip_discard(a);
    return std::string("PK\x05\x06", 4) + std::string(18, '\0');
  }
  if (zip_close(a) != 0) {
    const std::string why = zip_strerror(a);
    zip_discard(a);
    return fail(ErrorCode::kIo, "writing the ZIP archive: " + why);
  }
  buffers_.clear();
  buffered_ = 0;
  // One read into a string of the archive's size: no stream buffer, no second copy.
  std::error_code ec;
  const auto size = fs::file_size(impl_->file, ec);
  std::ifstream in(impl_->file, std::ios::binary);
  if (ec || !in) return fail(ErrorCode::kIo, "reading back the ZIP archive '" + impl_->file + "'");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (size > 0 && !in.read(bytes.data(), static_cast<std::streamsize>(size)))
    return fail(ErrorCode::kIo, "reading back the ZIP archive '" + impl_->file + "'");
  std::error_code removed;
  fs::remove(impl_->file, removed);  // the disk copy is not needed any more
  return bytes;
}

}  // namespace ms::server
