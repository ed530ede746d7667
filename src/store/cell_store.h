#pragma once
// The cells analysis jobs wrote, and their review: listing with filters and orders for the review
// queue, one cell, per-class summaries, and review changes (reclassify, confirm, unconfirm) that
// are all-or-nothing and audited (store/audit_trail.h), with undo of a reviewer's last change.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/records.h"

namespace ms::store {

// A removed box: the class a reviewer gives a detection that is not a cell. Such cells stay in the
// database and the audit trail (and can be restored) but are left out of every count, total and
// differential.
inline constexpr const char* kNotACell = "not_a_cell";
// SQL true for a cell that counts (its effective class is not kNotACell); `c.` is the cells alias.
inline constexpr const char* kCountedCellSql = "COALESCE(c.reviewed_class, c.suggested_class) <> 'not_a_cell'";

// Who or what drew a cell's box: the detector, or a reviewer who added a missed cell.
inline constexpr const char* kOriginModel = "model";
inline constexpr const char* kOriginReviewer = "reviewer";

struct CellQuery {
  std::optional<std::int64_t> sample_id, image_id;
  std::string cell_class;           // effective class (reviewed, else suggested) equals
  std::optional<bool> reviewed;     // confirmed or not
  std::optional<bool> flagged;      // needs attention (low confidence / high entropy) or not
  // id | confidence (lowest probability first) | entropy (highest first) | attention (flagged
  // first, then lowest probability: the review queue of the UI's "needs attention" group)
  std::string order = "id";
  std::int64_t limit = 500, offset = 0;
};
Result<std::vector<Cell>> list_cells(Tx& tx, const CellQuery& q);
Result<std::int64_t> count_cells(Tx& tx, const CellQuery& q);
// Up to n of a sample's cells spread evenly over its cells in id order (those at positions
// floor(k * total / n), k = 0..n-1), in one statement whatever the sample's size.
Result<std::vector<Cell>> spread_cells(Tx& tx, std::int64_t sample_id, std::int64_t n);

// A cell as the review screens show it: the record plus the class it counts as and who reviewed
// it (username and display name; empty when nobody did or the account is gone).
struct CellView {
  Cell cell;
  std::string effective_class;  // reviewed_class, else suggested_class
  std::string reviewer_username, reviewer_name;
  std::string verifier_username, verifier_name;  // the technician who pre-verified it
  Json to_json() const;
};
Result<std::vector<CellView>> list_cell_views(Tx& tx, const CellQuery& q);
// kNotFound naming the id when there is no such cell.
Result<CellView> get_cell_view(Tx& tx, std::int64_t cell_id);

// Per effective class of a sample or image: cells, confirmed cells, flagged cells. Removed boxes
// (kNotACell) have their own row but are left out of the totals.
struct ClassSummary {
  std::string cell_class;
  std::int64_t cells = 0, confirmed = 0, flagged = 0;
};
struct CellSummary {
  std::vector<ClassSummary> classes;  // by class name
  std::int64_t cells = 0, confirmed = 0, flagged = 0, reclassified = 0;
  std::int64_t verified = 0;  // pre-verified by a technician and not confirmed yet
  // Cells with an atypical score, and of them those flagged as atypical (report/domain_check.h).
  std::int64_t atypical_scored = 0, atypical = 0;
  Json to_json() const;
};
Result<CellSummary> summarise_cells(Tx& tx, const CellQuery& q);

// One requested change to one cell; absent fields stay as they are.
struct CellChange {
  std::int64_t cell_id = 0;
  std::optional<std::string> cell_class;  // the reviewer's class
  std::optional<bool> confirmed;
  std::optional<bool> verified;  // technician pre-verification
};

// Who changes cells, and what they may do.
struct Reviewer {
  std::optional<std::int64_t> user_id;
  std::string ip;
  bool may_confirm = false;  // doctors and admins confirm; technicians reclassify and pre-verify
  // Classes a cell may be given besides the suggested classes already in its sample (the
  // taxonomies the lab uses).
  const std::set<std::string>* known_classes = nullptr;
};

// Applies every change or none, in the caller's transaction, and writes one audit event per
// changed cell (action reclassify / confirm / unconfirm / review, from -> to as review states),
// all under `change_id` so the request can be undone as one step. A change that changes nothing
// writes nothing. A new class without "verified": true in the same change clears an earlier
// pre-verification (it vouched for another class). Returns the cells after the change, in request
// order.
// Errors: kInvalidArgument (no changes, a change with no field, a cell named twice, a class
// that is not snake_case or not known), kNotFound (an unknown cell id), kConflict (the cell's
// sample is signed), kPermissionDenied (a confirm / unconfirm without may_confirm).
Result<std::vector<CellView>> review_cells(Tx& tx, const std::vector<CellChange>& changes,
                                           const Reviewer& who, const std::string& change_id);

// Reverts the reviewer's most recent change in the sample that is not undone yet (a batch is one
// change), restoring each cell's previous review state; the undo is itself audited (action undo)
// and the original events are marked undone, so repeated calls walk back further.
// kNotFound when there is nothing of theirs to undo; kConflict when a cell has been changed by
// someone since (undo would overwrite their work) or the sample is signed.
struct UndoResult {
  std::string undone_change_id;
  std::vector<CellView> cells;
};
Result<UndoResult> undo_last_change(Tx& tx, std::int64_t sample_id, const Reviewer& who,
                                    const std::string& change_id);

// The review state kept in audit events (from / to) and restored by undo.
struct ReviewState {
  std::optional<std::string> reviewed_class;
  bool confirmed = false;
  std::optional<std::int64_t> reviewer_id, reviewed_at;
  std::optional<std::int64_t> verified_by, verified_at;
  Json to_json() const;
  static ReviewState of(const Cell& c);
  // kInvalidArgument when the JSON is not a review state (an audit row written by something else).
  static Result<ReviewState> from_json(const Json& j);
  bool operator==(const ReviewState& o) const {
    return reviewed_class == o.reviewed_class && confirmed == o.confirmed &&
           verified_at.has_value() == o.verified_at.has_value();
  }
};

// --- Editing the boxes of a field -------------------------------------------------------------

// A box, xyxy in pixels of the field image.
struct CellBox {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  template <class V>
  void visit(V& v) {
    v("x1", x1); v("y1", y1); v("x2", x2); v("y2", y2);
  }
};
// Boxes a reviewer may draw: finite, inside the image, at least kMinBoxSide pixels on each side
// (smaller is a slip of the mouse, not a cell). kInvalidArgument names the box and the image size.
inline constexpr double kMinBoxSide = 4;
Status check_box(const CellBox& b, std::int64_t image_width, std::int64_t image_height);

// What the classifier said about the crop of a box.
struct BoxClassification {
  std::string suggested_class;
  double probability = 0;
  Json top_k = Json::array();  // [{"class", "p"}], best first
  double entropy = 0;
  bool flagged = false;
  std::optional<double> atypical;
  std::optional<std::string> flag_reason;
  std::string classifier_version;
  std::int64_t crop_side = 0;  // side of the crop the classifier saw; 0: not recorded
};

// The crop side for a new box on an image: the median side of the crops of the image's model
// cells (the pipeline sizes every crop of a field from the field's red cells, so they share one
// side), but never less than the box's longer side plus 5 % on each side (the pipeline's smallest
// margin); 0 when the image has no model cells (crops then use the default margin).
Result<std::int64_t> crop_side_for_box(Tx& tx, std::int64_t image_id, const CellBox& box);

// Adds a cell a reviewer drew on an analysed field (kConflict while the field has no finished
// analysis or the sample is signed; kNotFound for an unknown image; kInvalidArgument for a bad box
// or class). The cell's origin is kOriginReviewer, its suggested class the classifier's; `cell_class`
// (optional) is the reviewer's class at once. Audited as "add" from the state "not a cell", so
// undo removes it again (it becomes kNotACell, kept in the trail).
Result<CellView> add_cell(Tx& tx, std::int64_t image_id, const CellBox& box, const BoxClassification& model,
                          const std::optional<std::string>& cell_class, const Reviewer& who,
                          const std::string& change_id);

// Moves or resizes a cell's box and stores the classifier's answer for the new crop. The reviewer's
// class stays (the cell is the same cell); a confirmation stays when a doctor or admin moves it and
// is cleared when a technician does (as for a technician's new class). Audited as "move" with the
// box and the model's answer before and after, so undo puts the old box back.
Result<CellView> move_cell(Tx& tx, std::int64_t cell_id, const CellBox& box, const BoxClassification& model,
                           const Reviewer& who, const std::string& change_id);

// Gives a removed box (kNotACell) back the class it had before its latest removal (the model's
// suggestion when the removal event is gone or was a new box's undo), and its confirmation when
// the reviewer may confirm. kConflict when the cell is
// not removed or the sample is signed. Audited as "restore".
Result<CellView> restore_cell(Tx& tx, std::int64_t cell_id, const Reviewer& who, const std::string& change_id);

// Class names as the models and the database use them: snake_case, 1..64 characters.
bool is_class_id(const std::string& s);

}  // namespace ms::store
