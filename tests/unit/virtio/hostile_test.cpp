// SPDX-License-Identifier: GPL-2.0-or-later
// Randomised hostile-guest test: rings full of random (but mostly
// plausible) descriptors, indexes and request headers are fed through the
// queue and the block engine. Whatever the guest writes, the device must
// only fail with an Error (=> NEEDS_RESET) or a status byte, never touch
// memory outside guest RAM (the sanitizer build checks that) and never
// write the image outside its size.
#include <gtest/gtest.h>

#include <random>

#include "hv/virtio/blk_engine.h"
#include "hv/virtio/queue.h"
#include "virtio_test_support.h"

namespace amber::hv::virtio {
namespace {

using test::GuestRam;
using test::MemImage;

constexpr uint64_t kRing = 0x10000;
constexpr uint16_t kSize = 16;

class HostileTest : public ::testing::Test {
 protected:
  // An address that is usually a valid buffer, sometimes at or past the
  // end of RAM, sometimes straddling the two regions.
  uint64_t address() {
    switch (rng_() % 8) {
      case 0:
        return GuestRam::kRamEnd - (rng_() % 64);
      case 1:
        return GuestRam::kRegionSize - (rng_() % 64);
      case 2:
        return rng_();
      default:
        return 0x80000 + (rng_() % 0x70000);
    }
  }
  uint32_t length() {
    switch (rng_() % 6) {
      case 0:
        return static_cast<uint32_t>(rng_());
      case 1:
        return 16;
      case 2:
        return 1;
      default:
        return static_cast<uint32_t>((rng_() % 9) * 512 + (rng_() % 2) * (rng_() % 600));
    }
  }
  void randomise_ring() {
    for (uint16_t i = 0; i < kSize; ++i) {
      const uint64_t d = kRing + 16ull * i;
      ram_.put<uint64_t>(d, address());
      ram_.put<uint32_t>(d + 8, length());
      ram_.put<uint16_t>(d + 12, static_cast<uint16_t>(rng_() % 8));
      ram_.put<uint16_t>(d + 14, static_cast<uint16_t>(rng_() % (kSize + 2)));
    }
    const uint64_t avail = kRing + 16ull * kSize;
    for (uint16_t i = 0; i < kSize; ++i)
      ram_.put<uint16_t>(avail + 4 + 2 * i, static_cast<uint16_t>(rng_() % (kSize + 1)));
    // Plausible request headers and indirect tables in the buffer area.
    for (int i = 0; i < 64; ++i) {
      const uint64_t at = 0x80000 + (rng_() % 0x70000) / 16 * 16;
      ram_.put<uint32_t>(at, static_cast<uint32_t>(rng_() % 16));
      ram_.put<uint64_t>(at + 8, rng_() % 4 ? rng_() % 2100 : rng_());
    }
  }
  GuestRam ram_;
  std::mt19937_64 rng_{12345};
};

TEST_F(HostileTest, RandomRingsNeverEscapeGuestRam) {
  auto image = std::make_shared<MemImage>(1 << 20);
  BlkOptions options;
  options.discard = block::DiscardMode::kUnmap;
  BlkEngine engine(image, options);
  engine.set_negotiated_features(engine.offered_features());
  int errors = 0, answered = 0;
  for (int round = 0; round < 3000; ++round) {
    randomise_ring();
    SplitQueue queue;
    const uint64_t avail = kRing + 16ull * kSize;
    const uint64_t used = (avail + 6 + 2 * kSize + 4095) & ~4095ull;
    ASSERT_TRUE(queue.activate(ram_.memory, {kSize, kRing, avail, used}, {true, true}).ok());
    ram_.put<uint16_t>(avail + 2, static_cast<uint16_t>(rng_() % (kSize + 4)));
    DescriptorChain chain;
    for (int i = 0; i < kSize + 4; ++i) {
      auto popped = queue.pop(chain);
      if (!popped.ok()) {
        ++errors;
        break;
      }
      if (!*popped) break;
      auto written = engine.execute(chain);
      if (!written.ok()) {
        ++errors;
        break;
      }
      ++answered;
      queue.push_used(chain.head, *written);
      queue.should_notify();
    }
    queue.prepare_to_sleep();
  }
  // Both outcomes must occur, or the generator is not doing its job.
  EXPECT_GT(errors, 100);
  EXPECT_GT(answered, 100);
}

TEST_F(HostileTest, RandomRingsThroughBatchesNeverEscapeGuestRam) {
  // The same random rings, popped and executed as batches (merging).
  auto image = std::make_shared<MemImage>(1 << 20);
  BlkOptions options;
  options.discard = block::DiscardMode::kUnmap;
  BlkEngine engine(image, options);
  engine.set_negotiated_features(engine.offered_features());
  BlkBatch batch;
  int errors = 0, answered = 0;
  for (int round = 0; round < 3000; ++round) {
    randomise_ring();
    SplitQueue queue;
    const uint64_t avail = kRing + 16ull * kSize;
    const uint64_t used = (avail + 6 + 2 * kSize + 4095) & ~4095ull;
    ASSERT_TRUE(queue.activate(ram_.memory, {kSize, kRing, avail, used}, {true, true}).ok());
    ram_.put<uint16_t>(avail + 2, static_cast<uint16_t>(rng_() % (kSize + 4)));
    DescriptorChain chain;
    batch.clear();
    bool broken = false;
    while (!batch.full()) {
      auto popped = queue.pop(chain);
      if (!popped.ok() || (*popped && !engine.parse(chain, batch).ok())) {
        broken = true;
        break;
      }
      if (!*popped) break;
    }
    engine.execute(batch);
    for (const BlkRequest& r : batch.requests()) {
      EXPECT_GE(r.written, 1u);
      queue.push_used(r.head, r.written);
    }
    answered += static_cast<int>(batch.size());
    errors += broken ? 1 : 0;
    queue.should_notify();
    queue.prepare_to_sleep();
  }
  EXPECT_GT(errors, 100);
  EXPECT_GT(answered, 100);
}

}  // namespace
}  // namespace amber::hv::virtio
