// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace amber {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error(ErrorKind::kInvalidArgument, "value " + std::to_string(v) + " <= 0");
  return v;
}

Result<int> doubled(int v) {
  AMBER_TRY_ASSIGN(int x, parse_positive(v));
  return x * 2;
}

Result<void> check_all(int a, int b) {
  AMBER_TRY(parse_positive(a));
  AMBER_TRY(parse_positive(b));
  return ok();
}

TEST(Result, ValueAndErrorPropagate) {
  auto good = doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(bad.error().context(), "value -1 <= 0");
}

TEST(Result, VoidResult) {
  EXPECT_TRUE(check_all(1, 2).ok());
  auto r = check_all(1, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("0 <= 0"), std::string::npos);
}

TEST(Result, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Error, ErrnoAndContext) {
  Error e = Error::from_errno(ENOSPC, "write failed");
  EXPECT_EQ(e.kind(), ErrorKind::kNoSpace);
  EXPECT_EQ(e.error_number(), ENOSPC);
  Error wrapped = std::move(e).with_context("image 'a.qcow2'");
  EXPECT_EQ(wrapped.context(), "image 'a.qcow2': write failed");
  EXPECT_NE(wrapped.message().find("No space left"), std::string::npos);
  EXPECT_EQ(to_string(ErrorKind::kCorrupt), "corrupt");
}

TEST(Error, WithContextReturnsAValue) {
  // with_context returns the new Error by value, so keeping the result of a
  // call on a temporary is safe (it used to return an rvalue reference to it).
  const Error kept = Error(ErrorKind::kIo, "inner").with_context("outer");
  EXPECT_EQ(kept.context(), "outer: inner");
  Result<int> failed = Error(ErrorKind::kCorrupt, "bad");
  const Error moved = std::move(failed).error();
  EXPECT_EQ(moved.kind(), ErrorKind::kCorrupt);
}

TEST(ResultDeathTest, ValueOfAnErrorAbortsWithItsMessage) {
  Result<int> failed = Error(ErrorKind::kCorrupt, "bad L1 entry");
  EXPECT_DEATH((void)failed.value(), "value\\(\\) called on an error: bad L1 entry");
  EXPECT_DEATH((void)*failed, "called on an error");
  EXPECT_DEATH((void)std::move(failed).value(), "called on an error");
}

TEST(ResultDeathTest, ErrorOfASuccessAborts) {
  Result<int> good = 5;
  EXPECT_DEATH((void)good.error(), "error\\(\\) called on a success");
  EXPECT_DEATH((void)std::move(good).error(), "called on a success");
}

TEST(ResultDeathTest, VoidResultMisuseAborts) {
  Result<void> good = ok();
  EXPECT_DEATH((void)good.error(), "Result<void>::error\\(\\) called on a success");
  Result<void> failed = Error(ErrorKind::kIo, "flush failed");
  EXPECT_DEATH(failed.value(), "called on an error: flush failed");
}

}  // namespace
}  // namespace amber
