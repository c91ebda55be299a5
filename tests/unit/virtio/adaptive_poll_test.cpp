// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of AdaptivePoll: the iothread's busy-poll window grows for
// short idle gaps, shrinks to nothing for long ones, and stays bounded.
#include "hv/virtio/adaptive_poll.h"

#include <gtest/gtest.h>

namespace amber::hv::virtio {
namespace {

TEST(AdaptivePollTest, StartsOff) {
  AdaptivePoll poll;
  EXPECT_EQ(poll.window_ns(), 0u);
}

TEST(AdaptivePollTest, ShortGapsGrowTheWindowUpToTheBound) {
  AdaptivePoll poll;
  poll.record_idle(10'000);
  EXPECT_EQ(poll.window_ns(), AdaptivePoll::kStartNs);
  poll.record_idle(10'000);
  EXPECT_EQ(poll.window_ns(), 2 * AdaptivePoll::kStartNs);
  poll.record_idle(10'000);
  EXPECT_EQ(poll.window_ns(), 4 * AdaptivePoll::kStartNs);
  // Covered now: no more growth.
  poll.record_idle(10'000);
  EXPECT_EQ(poll.window_ns(), 4 * AdaptivePoll::kStartNs);
  for (int i = 0; i < 20; ++i) poll.record_idle(AdaptivePoll::kMaxNs);
  EXPECT_EQ(poll.window_ns(), AdaptivePoll::kMaxNs);
}

TEST(AdaptivePollTest, LongGapsShrinkToZero) {
  AdaptivePoll poll;
  for (int i = 0; i < 20; ++i) poll.record_idle(AdaptivePoll::kMaxNs);
  ASSERT_EQ(poll.window_ns(), AdaptivePoll::kMaxNs);
  for (int i = 0; i < 20 && poll.window_ns() != 0; ++i) poll.record_idle(1'000'000'000);
  EXPECT_EQ(poll.window_ns(), 0u);
  // A guest that stays idle never makes us poll.
  poll.record_idle(1'000'000);
  EXPECT_EQ(poll.window_ns(), 0u);
}

TEST(AdaptivePollTest, ZeroBoundDisablesPolling) {
  AdaptivePoll poll(0);
  poll.record_idle(1'000);
  EXPECT_EQ(poll.window_ns(), 0u);
}

}  // namespace
}  // namespace amber::hv::virtio
