#include "core/error_reason.h"

#include <set>

#include <gtest/gtest.h>

namespace ms {
namespace {

TEST(ErrorReason, MessageIsTheTemplateFilledIn) {
  const Error e = reason_error(ErrorCode::kUnauthenticated, Reason::kTriesLeft, {{"n", "3"}, {"minutes", "15"}});
  EXPECT_EQ(e.code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(e.message, "wrong username or password; 3 tries left before sign-in is locked for 15 minutes");
  EXPECT_EQ(e.reason, "tries_left");
  ASSERT_EQ(e.params.size(), 2u);
  EXPECT_EQ(e.params[0], (std::pair<std::string, std::string>{"n", "3"}));
}

TEST(ErrorReason, ValuesAreInsertedVerbatimNotReinterpreted) {
  // A value that looks like a placeholder stays as it is: values are never formatted again.
  const Error e = reason_error(ErrorCode::kPermissionDenied, Reason::kAwaitingApproval, {{"name", "{name}'x"}});
  EXPECT_EQ(e.message, "account '{name}'x' is waiting for an administrator to enable it");
}

TEST(ErrorReason, MissingOrExtraValuesAreProgrammingErrors) {
  EXPECT_THROW(format_reason(Reason::kTriesLeft, {{"n", "3"}}), MarrowError);
  EXPECT_THROW(format_reason(Reason::kSignInFirst, {{"n", "3"}}), MarrowError);
  EXPECT_NO_THROW(format_reason(Reason::kSignInFirst, {}));
}

TEST(ErrorReason, NamesAreUniqueSnakeCaseAndEveryReasonHasOne) {
  std::set<std::string_view> names;
  for (const auto& r : all_reasons()) {
    EXPECT_TRUE(names.insert(r.name).second) << r.name;
    for (char ch : r.name) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_') << r.name;
    EXPECT_FALSE(r.template_.empty()) << r.name;
    EXPECT_EQ(&reason_text(r.reason), &r) << r.name;
  }
  // The last reason of the enum: every one before it has a text too.
  EXPECT_EQ(names.size(), static_cast<std::size_t>(Reason::kAreaOverlaps) + 1);
}

TEST(ErrorReason, FailCarriesTheReason) {
  const Status s = fail(ErrorCode::kConflict, Reason::kSampleSigned, {{"sample", "BM-1"}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "sample BM-1 is signed and locked; later changes need an addendum");
  EXPECT_EQ(s.error().reason, "sample_signed");
}

}  // namespace
}  // namespace ms
