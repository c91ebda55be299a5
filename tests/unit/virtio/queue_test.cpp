// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of SplitQueue: chain walking (direct, indirect), used ring,
// notification suppression, and every ring-level attack we refuse.
#include "hv/virtio/queue.h"

#include <gtest/gtest.h>

#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::Buf;
using test::GuestRam;
using test::TestRing;

constexpr uint64_t kRingBase = 0x10000;

class QueueTest : public ::testing::Test {
 protected:
  void activate(uint16_t size = 16, RingFeatures features = {true, true}) {
    ring_ = std::make_unique<TestRing>(ram_, kRingBase, size);
    ASSERT_TRUE(
        queue_.activate(ram_.memory, {size, ring_->desc(), ring_->avail(), ring_->used()}, features)
            .ok());
  }
  // Pops and expects a ring error.
  void expect_pop_error() {
    auto r = queue_.pop(chain_);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(queue_.active());
  }
  GuestRam ram_;
  std::unique_ptr<TestRing> ring_;
  SplitQueue queue_;
  DescriptorChain chain_;
};

TEST_F(QueueTest, PopsDirectChainAndPushesUsed) {
  activate();
  const uint64_t a = ram_.alloc(16), b = ram_.alloc(512), c = ram_.alloc(1);
  ring_->publish(ring_->build({{a, 16, false}, {b, 512, true}, {c, 1, true}}));
  auto r = queue_.pop(chain_);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(*r);
  ASSERT_EQ(chain_.segments.size(), 3u);
  EXPECT_EQ(chain_.segments[0].host, ram_.at(a));
  EXPECT_FALSE(chain_.segments[0].device_writable);
  EXPECT_EQ(chain_.segments[1].length, 512u);
  EXPECT_TRUE(chain_.segments[2].device_writable);
  queue_.push_used(chain_.head, 513);
  EXPECT_EQ(ring_->used_idx(), 1);
  EXPECT_EQ(ring_->used_id(0), chain_.head);
  EXPECT_EQ(ring_->used_len(0), 513u);
  auto empty = queue_.pop(chain_);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(*empty);
}

TEST_F(QueueTest, PopsIndirectChain) {
  activate();
  const uint64_t table = ram_.alloc(48), a = ram_.alloc(16), b = ram_.alloc(4096),
                 c = ram_.alloc(1);
  ring_->publish(ring_->build_indirect(table, {{a, 16, false}, {b, 4096, true}, {c, 1, true}}));
  auto r = queue_.pop(chain_);
  ASSERT_TRUE(r.ok() && *r);
  ASSERT_EQ(chain_.segments.size(), 3u);
  EXPECT_EQ(chain_.segments[1].host, ram_.at(b));
  EXPECT_EQ(chain_.segments[1].length, 4096u);
}

TEST_F(QueueTest, RefusesRingsOutsideRam) {
  SplitQueue q;
  EXPECT_FALSE(q.activate(ram_.memory, {16, GuestRam::kRamEnd - 16, 0x1000, 0x2000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {16, 0x1000, GuestRam::kRamEnd, 0x2000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {16, 0x1000, 0x2000, ~0ull - 8}, {}).ok());
  // A used ring that crosses the boundary between two RAM regions.
  EXPECT_FALSE(q.activate(ram_.memory, {16, 0x1000, 0x2000, GuestRam::kRegionSize - 64}, {}).ok());
  // Sizes that are not a power of two or too large; misaligned rings.
  EXPECT_FALSE(q.activate(ram_.memory, {24, 0x1000, 0x2000, 0x3000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {512, 0x1000, 0x3000, 0x5000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {0, 0x1000, 0x2000, 0x3000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {16, 0x1008, 0x2000, 0x3000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {16, 0x1000, 0x2001, 0x3000}, {}).ok());
  EXPECT_FALSE(q.activate(ram_.memory, {16, 0x1000, 0x2000, 0x3002}, {}).ok());
  EXPECT_TRUE(q.activate(ram_.memory, {16, 0x1000, 0x2000, 0x3000}, {}).ok());
}

TEST_F(QueueTest, AvailIndexJumpIsRingError) {
  activate(16);
  ring_->set_avail_idx(17);
  expect_pop_error();
}

TEST_F(QueueTest, HeadOutOfRangeIsRingError) {
  activate(16);
  ring_->publish(40);
  expect_pop_error();
}

TEST_F(QueueTest, NextOutOfRangeIsRingError) {
  activate(16);
  const uint64_t a = ram_.alloc(16);
  ring_->set_desc(0, a, 16, kDescFlagNext, 99);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, LoopingChainIsRingError) {
  activate(16);
  const uint64_t a = ram_.alloc(16);
  ring_->set_desc(0, a, 16, kDescFlagNext, 1);
  ring_->set_desc(1, a, 16, kDescFlagNext, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, SelfLoopingIndirectTableIsRingError) {
  activate(16);
  const uint64_t table = ram_.alloc(64), a = ram_.alloc(16);
  for (int i = 0; i < 4; ++i)
    TestRing::write_desc_at(ram_, table + 16 * i, a, 16, kDescFlagNext, 0);
  ring_->set_desc(0, table, 64, kDescFlagIndirect, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, BufferOutsideRamIsRingError) {
  activate(16);
  ring_->set_desc(0, GuestRam::kRamEnd - 8, 16, 0, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, BufferStraddlingRegionsIsRingError) {
  activate(16);
  ring_->set_desc(0, GuestRam::kRegionSize - 8, 16, 0, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, WrappingBufferAddressIsRingError) {
  activate(16);
  ring_->set_desc(0, ~0ull - 4, 16, 0, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, NestedIndirectIsRingError) {
  activate(16);
  const uint64_t outer = ram_.alloc(16), inner = ram_.alloc(16), a = ram_.alloc(16);
  TestRing::write_desc_at(ram_, inner, a, 16, 0, 0);
  TestRing::write_desc_at(ram_, outer, inner, 16, kDescFlagIndirect, 0);
  ring_->set_desc(0, outer, 16, kDescFlagIndirect, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, BadIndirectLengthsAreRingErrors) {
  const uint64_t table = 0x40000;
  for (uint32_t len : {0u, 15u, 24u, (kMaxIndirectDescriptors + 1) * 16}) {
    activate(16);
    ring_->set_desc(0, table, len, kDescFlagIndirect, 0);
    ring_->publish(0);
    expect_pop_error();
  }
}

TEST_F(QueueTest, IndirectTableOutsideRamIsRingError) {
  activate(16);
  ring_->set_desc(0, GuestRam::kRamEnd - 16, 32, kDescFlagIndirect, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, IndirectWithNextOrNotNegotiatedIsRingError) {
  const uint64_t table = ram_.alloc(16), a = ram_.alloc(16);
  TestRing::write_desc_at(ram_, table, a, 16, 0, 0);
  activate(16);
  ring_->set_desc(0, table, 16, kDescFlagIndirect | kDescFlagNext, 1);
  ring_->publish(0);
  expect_pop_error();

  activate(16, {false, false});
  ring_->set_desc(0, table, 16, kDescFlagIndirect, 0);
  ring_->publish(0);
  expect_pop_error();
}

TEST_F(QueueTest, ChainOfFullQueueLengthIsAccepted) {
  activate(8);
  std::vector<Buf> bufs;
  for (int i = 0; i < 8; ++i) bufs.push_back({ram_.alloc(16), 16, i == 7});
  ring_->publish(ring_->build(bufs));
  auto r = queue_.pop(chain_);
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ(chain_.segments.size(), 8u);
}

TEST_F(QueueTest, EventIdxSuppressesNotifications) {
  activate(16, {true, true});
  const uint64_t a = ram_.alloc(16);
  for (int i = 0; i < 4; ++i) ring_->publish(ring_->build({{a, 16, true}}));
  // The guest wants an interrupt only once used idx passes 2 (event = 2).
  ring_->set_used_event(2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(*queue_.pop(chain_));
    queue_.push_used(chain_.head, 1);
  }
  EXPECT_FALSE(queue_.should_notify());  // used idx 2: event 2 not yet crossed
  ASSERT_TRUE(*queue_.pop(chain_));
  queue_.push_used(chain_.head, 1);
  EXPECT_TRUE(queue_.should_notify());   // used idx 3 crossed event 2
  EXPECT_FALSE(queue_.should_notify());  // nothing new
  // More work is pending, so the queue must not sleep; avail_event = 3.
  EXPECT_TRUE(queue_.prepare_to_sleep());
  EXPECT_EQ(ring_->avail_event(), 3);
  ASSERT_TRUE(*queue_.pop(chain_));
  queue_.push_used(chain_.head, 1);
  ring_->set_used_event(3);
  EXPECT_TRUE(queue_.should_notify());
  EXPECT_FALSE(queue_.prepare_to_sleep());
  EXPECT_EQ(ring_->avail_event(), 4);
}

TEST_F(QueueTest, NoInterruptFlagWithoutEventIdx) {
  activate(16, {false, false});
  const uint64_t a = ram_.alloc(16);
  ring_->publish(ring_->build({{a, 16, true}}));
  ring_->publish(ring_->build({{a, 16, true}}));
  ring_->set_avail_flags(kAvailFlagNoInterrupt);
  ASSERT_TRUE(*queue_.pop(chain_));
  queue_.push_used(chain_.head, 1);
  EXPECT_FALSE(queue_.should_notify());
  ring_->set_avail_flags(0);
  ASSERT_TRUE(*queue_.pop(chain_));
  queue_.push_used(chain_.head, 1);
  EXPECT_TRUE(queue_.should_notify());
  // Without EVENT_IDX avail_event is never written (SeaBIOS has no room).
  ram_.put<uint16_t>(ring_->used() + 4 + 8 * 16, 0xABCD);
  EXPECT_FALSE(queue_.prepare_to_sleep());
  EXPECT_EQ(ring_->avail_event(), 0xABCD);
}

TEST_F(QueueTest, NoNotifyFlagWhileAwakeWithoutEventIdx) {
  activate(16, {false, false});
  const uint64_t a = ram_.alloc(16);
  EXPECT_FALSE(queue_.has_available());
  queue_.disable_notifications();
  EXPECT_EQ(ring_->used_flags(), kUsedFlagNoNotify);
  // The guest adds a buffer without kicking: polling sees it.
  ring_->publish(ring_->build({{a, 16, true}}));
  EXPECT_TRUE(queue_.has_available());
  ASSERT_TRUE(*queue_.pop(chain_));
  EXPECT_FALSE(queue_.has_available());
  queue_.push_used(chain_.head, 1);
  // Re-enabling clears the flag and re-checks: a buffer that slipped in
  // after the last pop keeps the thread awake.
  ring_->publish(ring_->build({{a, 16, true}}));
  EXPECT_TRUE(queue_.prepare_to_sleep());
  EXPECT_EQ(ring_->used_flags(), 0);
  queue_.disable_notifications();
  ASSERT_TRUE(*queue_.pop(chain_));
  EXPECT_FALSE(queue_.prepare_to_sleep());
  EXPECT_EQ(ring_->used_flags(), 0);
}

TEST_F(QueueTest, EventIdxLeavesUsedFlagsAlone) {
  activate(16, {true, true});
  const uint64_t a = ram_.alloc(16);
  queue_.disable_notifications();
  EXPECT_EQ(ring_->used_flags(), 0);
  // avail_event stays where the last sleep put it while the thread is awake.
  ring_->publish(ring_->build({{a, 16, true}}));
  ASSERT_TRUE(*queue_.pop(chain_));
  EXPECT_EQ(ring_->avail_event(), 0);
  EXPECT_FALSE(queue_.prepare_to_sleep());
  EXPECT_EQ(ring_->avail_event(), 1);
}

TEST_F(QueueTest, InactiveQueueIgnoresNotificationCalls) {
  EXPECT_FALSE(queue_.has_available());
  queue_.disable_notifications();
  EXPECT_FALSE(queue_.prepare_to_sleep());
}

TEST_F(QueueTest, IndexesWrapAround) {
  activate(4);
  const uint64_t a = ram_.alloc(16);
  for (int i = 0; i < 70000; ++i) {
    ring_->publish(ring_->build({{a, 16, true}}));
    auto r = queue_.pop(chain_);
    ASSERT_TRUE(r.ok() && *r) << i;
    queue_.push_used(chain_.head, 1);
  }
  EXPECT_EQ(ring_->used_idx(), static_cast<uint16_t>(70000));
}

}  // namespace
}  // namespace amber::hv::virtio
