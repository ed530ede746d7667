#pragma once
// Who may review cells and which classes they may give, shared by the review routes and the
// field-editing routes.
#include <memory>
#include <set>
#include <string>

#include "server/api.h"
#include "store/cell_store.h"

namespace ms::server {

// Classes every reviewer may give, whatever the taxonomy: a removed box, and the gallery's bins
// for smudge cells and artefacts (kept out of the differential by the taxonomy or as unmapped).
inline constexpr const char* kReviewOnlyClasses[] = {store::kNotACell, "smudge", "artefact"};

// Classes a reviewer may choose besides those the models suggested in the sample: every class of
// the shipped taxonomies, of MARROWSCOPE_TAXONOMY when set, of the classifier in use, and
// kReviewOnlyClasses.
std::shared_ptr<const std::set<std::string>> review_classes(const ServerContext& ctx);

// The caller as a reviewer: doctors and admins confirm; technicians reclassify.
store::Reviewer reviewer_of(const Caller& c, const std::set<std::string>* known);

}  // namespace ms::server
