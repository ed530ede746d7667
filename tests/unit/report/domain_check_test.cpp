// A sample is outside the classifier's domain when several times the training lab's share of its
// cells are atypical, and only when enough cells were scored to say so.
#include "report/domain_check.h"

#include <gtest/gtest.h>

namespace ms {
namespace {

TEST(DomainCheck, SaysOutsideOnlyWhenManyScoredCellsAreAtypical) {
  // 5% expected, 4x = 20% or more is outside.
  auto inside = check_domain({100, 100, 19});
  EXPECT_TRUE(inside.known);
  EXPECT_FALSE(inside.outside);
  EXPECT_TRUE(inside.reasons.empty());
  auto outside = check_domain({100, 100, 20});
  EXPECT_TRUE(outside.outside);
  ASSERT_EQ(outside.reasons.size(), 1u);
  EXPECT_NE(outside.reasons[0].find("20 of 100 cells (20%)"), std::string::npos) << outside.reasons[0];
  EXPECT_NE(outside.reasons[0].find("about 5%"), std::string::npos) << outside.reasons[0];
  // Too few scored cells: not known either way, even if all of them are atypical.
  auto few = check_domain({50, 19, 19});
  EXPECT_FALSE(few.known);
  EXPECT_FALSE(few.outside);
  EXPECT_DOUBLE_EQ(few.atypical_share, 1.0);
  // A classifier without an atypical reference scores nothing.
  auto none = check_domain({50, 0, 0});
  EXPECT_FALSE(none.known);
  EXPECT_DOUBLE_EQ(none.atypical_share, 0.0);
  // Options move the line.
  DomainCheckOptions strict;
  strict.factor = 2;
  EXPECT_TRUE(check_domain({100, 100, 10}, strict).outside);
  const Json j = outside.to_json();
  EXPECT_EQ(j.at("outside"), true);
  EXPECT_DOUBLE_EQ(j.at("atypical_share").get<double>(), 0.2);
}

}  // namespace
}  // namespace ms
