#pragma once
// What a sample's report is made of, as stored: the per-class cell counts the differential is
// computed from (the reviewed class where a reviewer set one, the model's suggestion otherwise),
// the sign-off with the snapshot of the report that was signed, and the addenda written after it.
// The report layer (src/report) turns counts into a differential and renders snapshots; this layer
// only stores them, so it stays free of the report code (docs/ARCHITECTURE.md).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

struct SampleCellCounts {
  // Effective class (reviewed_class, else suggested_class) -> cells.
  std::map<std::string, int> counts;
  std::int64_t cells = 0;
  // Cells nobody has looked at: not confirmed, not pre-verified and not reclassified, so their
  // label is still the model's suggestion.
  std::int64_t unreviewed = 0;
  // Every cell in exactly one review state: confirmed by a doctor or admin; pre-verified by a
  // technician (not confirmed); reclassified but neither verified nor confirmed; model only
  // (= unreviewed).
  std::int64_t doctor = 0, technician = 0, reclassified = 0;
  // The model versions the cells' suggestions came from, sorted, without empty names.
  std::vector<std::string> detector_versions, classifier_versions;
  // Display names of the users who reviewed cells of the sample, alphabetical.
  std::vector<std::string> reviewers;
};
Result<SampleCellCounts> count_sample_cells(Tx& tx, std::int64_t sample_id);

struct SampleSignOff {
  std::int64_t id = 0, sample_id = 0;
  std::optional<std::int64_t> signed_by;
  std::string signer_name;
  std::int64_t signed_at = 0;  // Unix ms
  Json snapshot = Json::object();  // the report as signed (ms::report_to_json); never changes
  std::string snapshot_sha256;     // of the snapshot's JSON text as stored
  template <class V>
  void visit(V& v) {
    v("id", id); v("sample_id", sample_id); v("signed_by", signed_by);
    v("signer_name", signer_name); v("signed_at", signed_at); v("snapshot", snapshot);
    v("snapshot_sha256", snapshot_sha256);
  }
};

struct NewSignOff {
  std::int64_t sample_id = 0;
  std::int64_t user_id = 0;
  std::string signer_name;
  std::int64_t signed_at = 0;
  std::string snapshot_json;  // stored verbatim
  std::string snapshot_sha256;
};
// Stores the sign-off and moves the sample to `signed` (signed_by, signed_at) in the caller's
// transaction. kConflict when the sample is already signed (including by a concurrent request:
// one sign-off per sample is a UNIQUE constraint); kNotFound for an unknown sample.
Result<SampleSignOff> record_sign_off(Tx& tx, const NewSignOff& s);
// nullopt when the sample has not been signed through a sign-off.
Result<std::optional<SampleSignOff>> find_sign_off(Tx& tx, std::int64_t sample_id);

struct Addendum {
  std::int64_t id = 0, sample_id = 0;
  std::optional<std::int64_t> author_id;
  std::string author_name;
  std::string text;
  std::int64_t created_at = 0;  // Unix ms
  template <class V>
  void visit(V& v) {
    v("id", id); v("sample_id", sample_id); v("author_id", author_id);
    v("author_name", author_name); v("text", text); v("created_at", created_at);
  }
};

inline constexpr std::size_t kMaxAddendumChars = 10000;
// Appends an addendum to a signed sample's report. Errors: kNotFound (sample), kConflict (the
// sample is not signed yet: change the report itself), kInvalidArgument (empty text or longer than
// kMaxAddendumChars bytes).
Result<Addendum> add_addendum(Tx& tx, std::int64_t sample_id, std::int64_t author_id,
                              const std::string& author_name, const std::string& text);
// Oldest first.
Result<std::vector<Addendum>> list_addenda(Tx& tx, std::int64_t sample_id);

}  // namespace ms::store
