#include "store/records.h"

#include "core/icsh.h"

namespace ms::store {

const std::vector<std::pair<Role, std::string>>& enum_names(Role) {
  static const std::vector<std::pair<Role, std::string>> n = {
      {Role::kAdmin, "admin"}, {Role::kDoctor, "doctor"},
      {Role::kTechnician, "technician"}, {Role::kViewer, "viewer"}};
  return n;
}

std::string role_name(Role r) {
  for (const auto& [v, name] : enum_names(Role{}))
    if (v == r) return name;
  return "viewer";
}

Result<Role> parse_role(const std::string& s) {
  for (const auto& [v, name] : enum_names(Role{}))
    if (name == s) return v;
  return fail(ErrorCode::kInvalidArgument, "role", "admin|doctor|technician|viewer",
              "\"" + s + "\"");
}

const std::vector<std::pair<Specimen, std::string>>& enum_names(Specimen) {
  static const std::vector<std::pair<Specimen, std::string>> n = {
      {Specimen::kBoneMarrow, "bone_marrow"}, {Specimen::kPeripheralBlood, "peripheral_blood"}};
  return n;
}

const std::vector<std::pair<SampleStatus, std::string>>& enum_names(SampleStatus) {
  static const std::vector<std::pair<SampleStatus, std::string>> n = {
      {SampleStatus::kDraft, "draft"}, {SampleStatus::kInReview, "in_review"},
      {SampleStatus::kSigned, "signed"}};
  return n;
}

const std::vector<std::pair<ImageKind, std::string>>& enum_names(ImageKind) {
  static const std::vector<std::pair<ImageKind, std::string>> n = {{ImageKind::kField, "field"},
                                                                   {ImageKind::kSlide, "slide"}};
  return n;
}

const std::vector<std::pair<JobStatus, std::string>>& enum_names(JobStatus) {
  static const std::vector<std::pair<JobStatus, std::string>> n = {
      {JobStatus::kQueued, "queued"}, {JobStatus::kRunning, "running"},
      {JobStatus::kDone, "done"}, {JobStatus::kFailed, "failed"},
      {JobStatus::kCancelled, "cancelled"}};
  return n;
}

int default_count_target(Specimen s) { return s == Specimen::kBoneMarrow ? kIcshMarrowCount : kIcshBloodCount; }

}  // namespace ms::store
