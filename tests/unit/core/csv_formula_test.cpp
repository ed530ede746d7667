#include <gtest/gtest.h>

#include "core/csv_formula.h"
#include "core/utf8.h"

namespace ms {
namespace {

TEST(CsvFormula, GuardsEveryLeadingTriggerIncludingTabAndCarriageReturn) {
  for (const char* risky : {"=1+1", "+1", "-2", "@SUM(A1)", "\t=cmd", "\rx", "\tplain", "  =1+1", " \t=1"}) {
    SCOPED_TRACE(risky);
    EXPECT_TRUE(csv_formula_risk(risky));
    EXPECT_EQ(csv_formula_guard(risky), std::string("'") + risky);
  }
  for (const char* safe : {"", "Ann Lee", "1-2", "a=b", " plain", "  ", "'=quoted already"}) {
    SCOPED_TRACE(safe);
    EXPECT_FALSE(csv_formula_risk(safe));
    EXPECT_EQ(csv_formula_guard(safe), safe);
  }
}

TEST(Utf8, FindsTheFirstMalformedByte) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xe9\xaa\xa8\xe9\xab\x93 marrow \xf0\x9f\xa9\xb8"));  // 骨髓 + U+1FA78
  EXPECT_EQ(first_invalid_utf8("Jos\xe9 x"), 3u);          // a Latin-1 byte
  EXPECT_EQ(first_invalid_utf8("ab\xc0\xaf"), 2u);          // overlong '/'
  EXPECT_EQ(first_invalid_utf8("\xed\xa0\x80"), 0u);        // a UTF-16 surrogate
  EXPECT_EQ(first_invalid_utf8("ok\xf4\x90\x80\x80"), 2u);  // past U+10FFFF
  EXPECT_EQ(first_invalid_utf8("cut \xe9\xaa"), 4u);        // truncated at the end
}

TEST(Utf8, FindsControlCharacters) {
  EXPECT_EQ(first_control_char("Ann Lee"), std::string_view::npos);
  EXPECT_EQ(first_control_char("a\x0b" "b"), 1u);
  EXPECT_EQ(first_control_char(std::string_view("nul\0", 4)), 3u);
  EXPECT_EQ(first_control_char("del\x7f"), 3u);
  EXPECT_EQ(first_control_char("tab\there"), 3u);
  EXPECT_EQ(first_control_char("line\r\nbreak\tand tab", true), std::string_view::npos);
  EXPECT_EQ(first_control_char("line\nthen\x1c", true), 9u);
}

}  // namespace
}  // namespace ms
