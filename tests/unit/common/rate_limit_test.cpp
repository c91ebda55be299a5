// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/rate_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace amber {
namespace {

using std::chrono::seconds;

struct FakeClock {
  std::shared_ptr<std::atomic<uint64_t>> now = std::make_shared<std::atomic<uint64_t>>(1000);
  RateLimiter::Clock clock() const {
    return [now = now] { return now->load(); };
  }
  void advance(std::chrono::nanoseconds by) { now->fetch_add(static_cast<uint64_t>(by.count())); }
};

TEST(RateLimiter, AllowsBurstThenSuppressesWithinInterval) {
  FakeClock clock;
  RateLimiter limiter(3, seconds(1), clock.clock());
  for (int i = 0; i < 3; ++i) {
    auto allowed = limiter.allow();
    ASSERT_TRUE(allowed.has_value()) << i;
    EXPECT_EQ(*allowed, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.allow().has_value());
  clock.advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(limiter.allow().has_value());
  EXPECT_EQ(limiter.total_suppressed(), 6u);
}

TEST(RateLimiter, ReportsSuppressedCountOnNextAllowed) {
  FakeClock clock;
  RateLimiter limiter(1, seconds(5), clock.clock());
  ASSERT_EQ(limiter.allow(), std::optional<uint64_t>(0));
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(limiter.allow().has_value());
  clock.advance(seconds(5));
  EXPECT_EQ(limiter.allow(), std::optional<uint64_t>(7));
  // The count was handed over: the next window starts from zero.
  clock.advance(seconds(5));
  EXPECT_EQ(limiter.allow(), std::optional<uint64_t>(0));
  EXPECT_EQ(limiter.total_suppressed(), 7u);
}

TEST(RateLimiter, ZeroBurstSuppressesEverything) {
  FakeClock clock;
  RateLimiter limiter(0, seconds(1), clock.clock());
  EXPECT_FALSE(limiter.allow().has_value());
  clock.advance(seconds(10));
  EXPECT_FALSE(limiter.allow().has_value());
  EXPECT_EQ(limiter.total_suppressed(), 2u);
}

TEST(RateLimiter, ConcurrentCallersNeverExceedBurst) {
  FakeClock clock;  // frozen: one window for the whole test
  RateLimiter limiter(10, seconds(1), clock.clock());
  std::atomic<unsigned> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (limiter.allow()) allowed.fetch_add(1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 10u);
  EXPECT_EQ(limiter.total_suppressed(), 3990u);
}

TEST(RateLimiter, SuppressedNote) {
  EXPECT_EQ(suppressed_note(0), "");
  EXPECT_EQ(suppressed_note(12), " (12 similar messages suppressed)");
}

}  // namespace
}  // namespace amber
