#include <gtest/gtest.h>

#include <memory>

#include "common/result.h"

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

}  // namespace
}  // namespace amber
