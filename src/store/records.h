#pragma once
// The lab's records as plain structs. Each lists its fields once in visit() (core/config.h), which
// gives JSON output (config_to_json) for the API without a second field list. Times are Unix
// milliseconds (UTC). Secrets (password hashes, session token hashes) are not visited, so they
// can never reach a response.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "store/database.h"

namespace ms::store {

enum class Role { kAdmin, kDoctor, kTechnician, kViewer };
const std::vector<std::pair<Role, std::string>>& enum_names(Role);
std::string role_name(Role r);
Result<Role> parse_role(const std::string& s);

struct User {
  std::int64_t id = 0;
  std::string username;
  Role role = Role::kViewer;
  bool enabled = false;
  std::string display_name, email, phone, department, gender;
  std::optional<std::string> avatar_sha256;
  std::int64_t created_at = 0, updated_at = 0;
  std::optional<std::int64_t> last_login_at;
  std::string password_hash;  // not visited
  template <class V>
  void visit(V& v) {
    v("id", id); v("username", username); v("role", role); v("enabled", enabled);
    v("display_name", display_name); v("email", email); v("phone", phone);
    v("department", department); v("gender", gender); v("avatar_sha256", avatar_sha256);
    v("created_at", created_at); v("updated_at", updated_at); v("last_login_at", last_login_at);
  }
};

struct Session {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string csrf_token;
  std::int64_t created_at = 0, expires_at = 0, last_seen_at = 0;
};

struct Patient {
  std::int64_t id = 0;
  std::string identifier;  // the lab's medical record number; unique
  std::string name;
  std::string sex = "unknown";  // female | male | other | unknown
  std::optional<std::string> birth_date;  // YYYY-MM-DD
  std::string keywords, notes;
  std::int64_t sample_count = 0;
  std::int64_t created_at = 0, updated_at = 0;
  template <class V>
  void visit(V& v) {
    v("id", id); v("identifier", identifier); v("name", name); v("sex", sex);
    v("birth_date", birth_date); v("keywords", keywords); v("notes", notes);
    v("sample_count", sample_count); v("created_at", created_at); v("updated_at", updated_at);
  }
};

enum class Specimen { kBoneMarrow, kPeripheralBlood };
const std::vector<std::pair<Specimen, std::string>>& enum_names(Specimen);
enum class SampleStatus { kDraft, kInReview, kSigned };
const std::vector<std::pair<SampleStatus, std::string>>& enum_names(SampleStatus);
// Default number of cells to count: the ICSH recommendation (core/icsh.h).
int default_count_target(Specimen s);

struct Sample {
  std::int64_t id = 0;
  std::int64_t patient_id = 0;
  std::string accession;
  Specimen specimen = Specimen::kBoneMarrow;
  std::optional<std::string> collection_date;  // YYYY-MM-DD
  std::int64_t count_target = 500;
  SampleStatus status = SampleStatus::kDraft;
  std::string notes;
  // Micrometres per pixel of the sample's fields, where the lab declares it: a field whose red
  // cells are too few to measure is framed by it (pipeline/cell_image_scale.h).
  std::optional<double> um_per_px;
  std::optional<std::int64_t> signed_by, signed_at;
  std::int64_t created_at = 0, updated_at = 0;
  template <class V>
  void visit(V& v) {
    v("id", id); v("patient_id", patient_id); v("accession", accession); v("specimen", specimen);
    v("collection_date", collection_date); v("count_target", count_target); v("status", status);
    v("notes", notes); v("um_per_px", um_per_px); v("signed_by", signed_by); v("signed_at", signed_at);
    v("created_at", created_at); v("updated_at", updated_at);
  }
};

// A field is decoded whole and analysed whole when it is uploaded; a slide (a whole-slide file
// OpenSlide reads) is read tile by tile and analysed area by area.
enum class ImageKind { kField, kSlide };
const std::vector<std::pair<ImageKind, std::string>>& enum_names(ImageKind);

struct Image {
  std::int64_t id = 0;
  std::int64_t sample_id = 0;
  std::string sha256, filename, format;
  std::int64_t width = 0, height = 0, bytes = 0;  // a slide's: level 0
  std::optional<std::string> thumbnail_sha256;
  std::optional<std::int64_t> uploaded_by;
  std::int64_t created_at = 0;
  ImageKind kind = ImageKind::kField;
  std::optional<double> mpp;  // microns per (level-0) pixel, where the file says
  template <class V>
  void visit(V& v) {
    v("id", id); v("sample_id", sample_id); v("sha256", sha256); v("filename", filename);
    v("format", format); v("width", width); v("height", height); v("bytes", bytes);
    v("thumbnail_sha256", thumbnail_sha256); v("uploaded_by", uploaded_by);
    v("created_at", created_at); v("kind", kind); v("mpp", mpp);
  }
};

// A slide arriving in chunks: `received` bytes of `bytes` are on disk (in order), so an
// interrupted upload resumes there.
struct SlideUpload {
  std::int64_t id = 0, sample_id = 0;
  std::string filename;
  std::int64_t bytes = 0, received = 0;
  std::optional<std::int64_t> created_by;
  std::int64_t created_at = 0, updated_at = 0;
  template <class V>
  void visit(V& v) {
    v("id", id); v("sample_id", sample_id); v("filename", filename); v("bytes", bytes);
    v("received", received); v("created_by", created_by); v("created_at", created_at);
    v("updated_at", updated_at);
  }
};

// cancelled: stopped by a person (POST /api/jobs/{id}/cancel) or because its sample was signed
// before the result could be stored; like failed, it can be queued again while the sample is open.
enum class JobStatus { kQueued, kRunning, kDone, kFailed, kCancelled };
const std::vector<std::pair<JobStatus, std::string>>& enum_names(JobStatus);

struct Job {
  std::int64_t id = 0;
  std::string kind = "analyse_image";
  std::int64_t image_id = 0, sample_id = 0;
  JobStatus status = JobStatus::kQueued;
  double progress = 0;
  std::int64_t attempts = 0;
  std::optional<std::string> error, worker;
  std::optional<std::int64_t> lease_until;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> started_at, finished_at;
  // An area job's rectangle of its slide, {"x","y","w","h"} in level-0 pixels; null for a field.
  std::optional<Json> region;
  // Seconds left while running, from the time taken so far and the progress; null otherwise.
  std::optional<double> eta_s;
  template <class V>
  void visit(V& v) {
    v("id", id); v("kind", kind); v("image_id", image_id); v("sample_id", sample_id);
    v("status", status); v("progress", progress); v("attempts", attempts); v("error", error);
    v("worker", worker); v("lease_until", lease_until); v("created_at", created_at);
    v("started_at", started_at); v("finished_at", finished_at); v("region", region);
    v("eta_s", eta_s);
  }
};

struct Cell {
  std::int64_t id = 0, job_id = 0, cell_index = 0, image_id = 0, sample_id = 0;
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // xyxy, pixels of the field image
  double det_score = 0;
  std::string suggested_class;
  double probability = 0;
  Json top_k = Json::array();  // [{"class": name, "p": probability}], best first
  double entropy = 0;          // nats, of the full class distribution
  bool flagged = false;
  std::string detector_version, classifier_version;
  std::optional<std::string> reviewed_class;
  std::optional<std::int64_t> reviewer_id;
  bool confirmed = false;
  std::optional<std::int64_t> reviewed_at;
  std::int64_t created_at = 0, updated_at = 0;
  // Side (field pixels) of the square crop the classifier saw, centred on the box; absent for
  // cells of runners that do not say (store/analysis_runner.h AnalysedCell::crop_side).
  std::optional<std::int64_t> crop_side;
  // Share of the training lab's held-out cells that look more typical, in [0,1], and why the cell
  // needs attention ("atypical" | "low_confidence" | "high_entropy"); absent when not known.
  std::optional<double> atypical;
  std::optional<std::string> flag_reason;
  // Technician pre-verification: who vouched for the class and when; empty when nobody has.
  std::optional<std::int64_t> verified_by, verified_at;
  // "model" (the detector's box) or "reviewer" (a missed cell a reviewer added).
  std::string origin = "model";
  template <class V>
  void visit(V& v) {
    v("id", id); v("job_id", job_id); v("cell_index", cell_index); v("image_id", image_id);
    v("sample_id", sample_id); v("x1", x1); v("y1", y1); v("x2", x2); v("y2", y2);
    v("det_score", det_score); v("suggested_class", suggested_class);
    v("probability", probability); v("top_k", top_k); v("entropy", entropy);
    v("flagged", flagged); v("detector_version", detector_version);
    v("classifier_version", classifier_version); v("reviewed_class", reviewed_class);
    v("reviewer_id", reviewer_id); v("confirmed", confirmed); v("reviewed_at", reviewed_at);
    v("created_at", created_at); v("updated_at", updated_at); v("crop_side", crop_side);
    v("atypical", atypical); v("flag_reason", flag_reason);
    v("verified_by", verified_by); v("verified_at", verified_at); v("origin", origin);
  }
};

struct LogEntry {
  std::int64_t id = 0, at = 0;
  std::optional<std::int64_t> user_id;
  std::string username, action, target, details, ip;
  template <class V>
  void visit(V& v) {
    v("id", id); v("at", at); v("user_id", user_id); v("username", username);
    v("action", action); v("target", target); v("details", details); v("ip", ip);
  }
};

struct ModelVersion {
  std::int64_t id = 0;
  std::string kind, name, version, sha256;
  Json metrics = Json::object();
  bool active = false;
  std::int64_t created_at = 0;
  template <class V>
  void visit(V& v) {
    v("id", id); v("kind", kind); v("name", name); v("version", version); v("sha256", sha256);
    v("metrics", metrics); v("active", active); v("created_at", created_at);
  }
};

// Reads a record from a result row through its visit() list: each visited field is read from the
// column of the same name (enums from their text, Json from JSON text). A missing column or an
// unknown enum text is a broken invariant and throws.
namespace records_detail {
template <typename U>
void read_column(const Value& v, U& out) {
  using config_detail::is_optional;
  if constexpr (std::is_same_v<U, bool>) {
    out = v.as_int() != 0;
  } else if constexpr (std::is_integral_v<U>) {
    out = static_cast<U>(v.as_int());
  } else if constexpr (std::is_floating_point_v<U>) {
    out = static_cast<U>(v.as_double());
  } else if constexpr (std::is_same_v<U, std::string>) {
    out = v.as_text();
  } else if constexpr (is_optional<U>::value) {
    if (v.is_null()) {
      out.reset();
    } else {
      typename U::value_type x{};
      read_column(v, x);
      out = std::move(x);
    }
  } else if constexpr (std::is_same_v<U, Json>) {
    Json j = Json::parse(v.as_text(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) out = std::move(j);
  } else {
    config_detail::read_value(Json(v.as_text()), "database column", out);
  }
}
struct RowReader {
  const Row& row;
  template <typename U>
  void operator()(const char* key, U& field) {
    read_column(row.at(key), field);
  }
};
}  // namespace records_detail

template <typename T>
T from_row(const Row& r) {
  T out{};
  records_detail::RowReader reader{r};
  out.visit(reader);
  if constexpr (std::is_same_v<T, User>) out.password_hash = r.s("password_hash");
  return out;
}

}  // namespace ms::store
