#pragma once
// The JSON request bodies that routes read with body_as<T> and that no store header declares,
// kept free of the HTTP and route code so the fuzz harness (fuzz/request_body_fuzz.cpp) parses
// exactly the types the server parses. Bodies shared with the store (PatientInput, NewUser, ...)
// live in their store headers.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::server {

// The start of a chunked slide upload: the file's name (its extension tells OpenSlide the
// format) and its size in bytes.
struct SlideUploadStart {
  std::optional<std::string> filename;
  std::optional<std::int64_t> bytes;
  template <class V>
  void visit(V& v) {
    v("filename", filename); v("bytes", bytes);
  }
};

// An area of a slide to analyse, level-0 pixels.
struct AreaRequest {
  std::optional<std::int64_t> x, y, w, h;
  template <class V>
  void visit(V& v) {
    v("x", x); v("y", y); v("w", w); v("h", h);
  }
};

struct LoginRequest {
  std::string username, password;
  template <class V>
  void visit(V& v) {
    v("username", username); v("password", password);
  }
};

struct PasswordChange {
  std::string current_password, new_password;
  template <class V>
  void visit(V& v) {
    v("current_password", current_password); v("new_password", new_password);
  }
};

// A reviewer's change to one cell: a new class, a doctor's confirmation, a technician's
// pre-verification, or several of them.
struct CellPatch {
  std::optional<std::string> cell_class;
  std::optional<bool> confirmed;
  std::optional<bool> verified;
  template <class V>
  void visit(V& v) {
    v("class", cell_class); v("confirmed", confirmed); v("verified", verified);
  }
};

struct BatchChange {
  std::int64_t id = 0;
  std::optional<std::string> cell_class;
  std::optional<bool> confirmed;
  std::optional<bool> verified;
  template <class V>
  void visit(V& v) {
    v("id", id); v("class", cell_class); v("confirmed", confirmed); v("verified", verified);
  }
};

// Either a list of per-cell changes, or ids with one change for all of them.
struct BatchReview {
  std::vector<BatchChange> changes;
  std::vector<std::int64_t> ids;
  std::optional<std::string> cell_class;
  std::optional<bool> confirmed;
  std::optional<bool> verified;
  template <class V>
  void visit(V& v) {
    v("changes", changes); v("ids", ids); v("class", cell_class); v("confirmed", confirmed);
    v("verified", verified);
  }
};

// A box a reviewer drew on a field (xyxy, pixels of the field image) and, when adding a cell,
// the class they give it at once (absent: the classifier's). Every coordinate is required.
struct CellDraw {
  std::optional<double> x1, y1, x2, y2;
  std::optional<std::string> cell_class;
  template <class V>
  void visit(V& v) {
    v("x1", x1); v("y1", y1); v("x2", x2); v("y2", y2); v("class", cell_class);
  }
};

struct StatusChange {
  store::SampleStatus status = store::SampleStatus::kDraft;
  template <class V>
  void visit(V& v) {
    v("status", status);
  }
};

struct SignRequest {
  std::string comments;
  bool allow_unreviewed = false;  // sign although some cells still carry only the suggestion
  template <class V>
  void visit(V& v) {
    v("comments", comments);
    v("allow_unreviewed", allow_unreviewed);
  }
};

struct AddendumRequest {
  std::string text;
  template <class V>
  void visit(V& v) {
    v("text", text);
  }
};

// An admin's request to adapt the active classifier to the lab's reviewed cells.
struct AdaptationRequest {
  std::vector<std::int64_t> samples;  // empty: every sample's reviewed cells
  std::optional<int> max_epochs;
  std::optional<std::int64_t> seed;
  template <class V>
  void visit(V& v) {
    v("samples", samples); v("max_epochs", max_epochs); v("seed", seed);
  }
};

}  // namespace ms::server
