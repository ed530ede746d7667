#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/threads.h"

namespace ms {
namespace {

const ErrorCode kAllCodes[] = {ErrorCode::kInvalidArgument, ErrorCode::kNotFound,
                               ErrorCode::kCorruptInput,    ErrorCode::kUnsupportedFormat,
                               ErrorCode::kTooLarge,        ErrorCode::kConflict,
                               ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
                               ErrorCode::kIo,              ErrorCode::kInternal};

TEST(Error, CodeNamesAreDistinctSnakeCase) {
  std::set<std::string_view> names;
  for (ErrorCode c : kAllCodes) {
    const std::string_view n = error_code_name(c);
    EXPECT_FALSE(n.empty());
    for (char ch : n) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_') << n;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), std::size(kAllCodes));
  EXPECT_EQ(error_code_name(ErrorCode::kTooLarge), "too_large");
}

TEST(Error, ExitCodesAreNeverZeroAndGroupInputErrors) {
  for (ErrorCode c : kAllCodes) EXPECT_NE(exit_code_for(c), 0) << error_code_name(c);
  EXPECT_EQ(exit_code_for(ErrorCode::kCorruptInput), exit_code_for(ErrorCode::kTooLarge));
  EXPECT_NE(exit_code_for(ErrorCode::kInvalidArgument), exit_code_for(ErrorCode::kNotFound));
}

TEST(Error, FailFormatsInputExpectedFound) {
  Result<int> r = fail(ErrorCode::kInvalidArgument, "labels.txt:3", "5 fields", "4");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "labels.txt:3: expected 5 fields, found 4");
  Status s = fail(ErrorCode::kIo, "disk full");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message, "disk full");
}

TEST(Error, ValueOrThrowCarriesCodeAndMessage) {
  EXPECT_EQ(value_or_throw(Result<int>(7)), 7);
  try {
    value_or_throw(Result<int>(fail(ErrorCode::kNotFound, "model.pt: no such file")));
    FAIL() << "no throw";
  } catch (const MarrowError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_STREQ(e.what(), "model.pt: no such file");
  }
  EXPECT_NO_THROW(value_or_throw(Status{}));
  EXPECT_THROW(value_or_throw(Status(fail(ErrorCode::kConflict, "signed"))), MarrowError);
}

TEST(Error, CheckThrowsInternalWithTheCondition) {
  const int boxes = 3, labels = 2;
  try {
    MS_CHECK(boxes == labels, "boxes and labels differ");
    FAIL() << "no throw";
  } catch (const MarrowError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("boxes == labels"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("boxes and labels differ"), std::string::npos);
  }
  EXPECT_NO_THROW(MS_CHECK(boxes > labels, "fine"));
}

TEST(Threads, EnvironmentOverridesHardwareCount) {
  const char* saved = std::getenv("MARROWSCOPE_THREADS");
  const std::string keep = saved ? saved : "";
  const unsigned hw = std::thread::hardware_concurrency();
  const int fallback = hw == 0 ? 1 : static_cast<int>(hw);
  ::setenv("MARROWSCOPE_THREADS", "3", 1);
  EXPECT_EQ(configured_threads(), 3);
  for (const char* bad : {"0", "-4", "many", ""}) {
    ::setenv("MARROWSCOPE_THREADS", bad, 1);
    EXPECT_EQ(configured_threads(), fallback) << "'" << bad << "'";
  }
  ::unsetenv("MARROWSCOPE_THREADS");
  EXPECT_EQ(configured_threads(), fallback);
  if (saved) ::setenv("MARROWSCOPE_THREADS", keep.c_str(), 1);
}

}  // namespace
}  // namespace ms
