#pragma once
// Helpers for the review, export and recognition suites: samples analysed by the test double
// (three cells per field: neutrophil, lymphocyte, monocyte; the monocyte flagged) and cell lists.
#include <map>
#include <string>
#include <vector>

#include <zip.h>

#include "core/image.h"
#include "server/lab_server_fixture.h"

namespace ms::testing {

inline // name -> bytes of every entry; empty map when the bytes are not a ZIP.
std::map<std::string, std::string> unzip(const std::string& bytes) {
  std::map<std::string, std::string> out;
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) return out;
  zip_t* z = zip_open_from_source(src, ZIP_RDONLY, &err);
  if (!z) {
    zip_source_free(src);
    return out;
  }
  for (zip_int64_t i = 0; i < zip_get_num_entries(z, 0); ++i) {
    zip_stat_t st;
    zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st);
    std::string data(st.size, '\0');
    zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(i), 0);
    if (f) {
      zip_fread(f, data.data(), st.size);
      zip_fclose(f);
    }
    out[st.name] = data;
  }
  zip_close(z);
  return out;
}

// The shared data sets beside the checkout, and a file's bytes for an upload ('' when unreadable).
inline const std::string kSharedData = MARROWSCOPE_SOURCE_DIR "/../shared/data";
inline std::string file_bytes(const std::string& path) {
  auto b = read_file_bytes(path);
  return b ? std::string(b->begin(), b->end()) : std::string();
}

class ReviewServerTest : public LabServerTest {
 protected:
  // A bone-marrow sample with `fields` distinct uploaded fields, all analysed.
  std::int64_t analysed_sample(const SessionCookies& s, const std::string& accession, int fields,
                               int seed = 1) {
    const auto sample = make_sample(s, accession);
    std::vector<std::pair<std::string, std::string>> files;
    for (int k = 0; k < fields; ++k)
      files.emplace_back("field" + std::to_string(k) + ".png", disc_png(seed * 100 + k));
    auto r = upload(s, sample, files);
    EXPECT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
    auto p = wait_for_jobs(s, sample);
    EXPECT_EQ(p.value("cells", 0), 3 * fields);
    return sample;
  }
  Json cells(const SessionCookies& s, std::int64_t sample, const std::string& query = "") {
    return body_json(get(s, "/api/samples/" + std::to_string(sample) + "/cells" + query));
  }
  std::vector<std::int64_t> cell_ids(const SessionCookies& s, std::int64_t sample,
                                     const std::string& query = "") {
    std::vector<std::int64_t> ids;
    const Json list = cells(s, sample, query);  // a range-for over a temporary's member would dangle
    for (const auto& c : list["items"]) ids.push_back(c["id"].get<std::int64_t>());
    return ids;
  }
  static std::string cell_url(std::int64_t id) { return "/api/cells/" + std::to_string(id); }
};

}  // namespace ms::testing
