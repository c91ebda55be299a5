// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace amber {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int open_null() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

TEST(UniqueFdTest, DefaultHoldsNothing) {
  UniqueFd fd;
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(fd);
  UniqueFd negative(-5);
  EXPECT_EQ(negative.get(), -1);
  EXPECT_FALSE(negative);
}

TEST(UniqueFdTest, DestructorCloses) {
  const int raw = open_null();
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFdTest, ReleaseGivesUpOwnership) {
  const int raw = open_null();
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_FALSE(fd);
  }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFdTest, ResetClosesOldAndTakesNew) {
  const int first = open_null();
  const int second = open_null();
  UniqueFd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_TRUE(is_open(second));
  EXPECT_EQ(fd.get(), second);
  fd.reset(second);  // the same descriptor again: kept, not closed
  EXPECT_TRUE(is_open(second));
  fd.reset();
  EXPECT_FALSE(is_open(second));
  EXPECT_FALSE(fd);
}

TEST(UniqueFdTest, MoveTransfersOwnershipOnce) {
  const int first = open_null();
  const int second = open_null();
  UniqueFd a(first);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.get(), first);
  UniqueFd c(second);
  c = std::move(b);
  EXPECT_FALSE(is_open(second));
  EXPECT_TRUE(is_open(first));
  EXPECT_EQ(c.get(), first);
  UniqueFd& alias = c;
  c = std::move(alias);
  EXPECT_TRUE(is_open(first));
  EXPECT_EQ(c.get(), first);
}

}  // namespace
}  // namespace amber
