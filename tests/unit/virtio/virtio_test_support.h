// SPDX-License-Identifier: GPL-2.0-or-later
// Test doubles for the virtio unit tests: vector-backed guest RAM, a
// driver-side view of a split ring, an in-memory block::Image and fake
// interrupt / ioeventfd sinks that count what the device does.
//
// Thread-safety: the fakes that the device's iothreads call (MemImage,
// FakeInterrupts) lock or use atomics; the rest is test-thread only.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "block/image.h"
#include "hv/memory/guest_memory.h"
#include "hv/pci/interrupts.h"
#include "hv/virtio/virtio_spec.h"

namespace amber::hv::virtio::test {

// Two adjacent 1 MiB RAM regions at guest 0 and 1 MiB (separate host
// allocations, so a buffer that straddles them must be refused).
class GuestRam {
 public:
  static constexpr uint64_t kRegionSize = 1 << 20;
  static constexpr uint64_t kRamEnd = 2 * kRegionSize;
  GuestRam() {
    for (auto& r : regions_) {
      r.reset(static_cast<uint8_t*>(std::aligned_alloc(4096, kRegionSize)));
      std::memset(r.get(), 0, kRegionSize);
    }
    memory.add_region(0, kRegionSize, regions_[0].get());
    memory.add_region(kRegionSize, kRegionSize, regions_[1].get());
  }
  uint8_t* at(uint64_t gpa) { return memory.translate(gpa, 1); }
  template <typename T>
  void put(uint64_t gpa, T value) {
    std::memcpy(memory.translate(gpa, sizeof value), &value, sizeof value);
  }
  template <typename T>
  T get(uint64_t gpa) {
    T v;
    std::memcpy(&v, memory.translate(gpa, sizeof v), sizeof v);
    return v;
  }
  uint16_t get_atomic16(uint64_t gpa) {
    return __atomic_load_n(reinterpret_cast<uint16_t*>(memory.translate(gpa, 2)), __ATOMIC_ACQUIRE);
  }
  // Bump allocator for data buffers in [512 KiB, 1 MiB); wraps around
  // (long tests reuse old buffers).
  uint64_t alloc(uint64_t length, uint64_t align = 16) {
    next_ = (next_ + align - 1) & ~(align - 1);
    if (next_ + length > kRegionSize) next_ = kAllocStart;
    const uint64_t gpa = next_;
    next_ += length;
    return gpa;
  }
  GuestMemory memory;

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> regions_[2];
  static constexpr uint64_t kAllocStart = 0x80000;
  uint64_t next_ = kAllocStart;
};

struct Buf {
  uint64_t gpa;
  uint32_t len;
  bool writable;
};

// The driver's side of one split ring.
class TestRing {
 public:
  TestRing(GuestRam& ram, uint64_t desc, uint16_t size, uint64_t avail = 0, uint64_t used = 0)
      : ram_(ram),
        size_(size),
        desc_(desc),
        avail_(avail ? avail : desc + 16ull * size),
        used_(used ? used : ((desc + 16ull * size + 6 + 2ull * size + 4095) & ~4095ull)) {}
  uint64_t desc() const { return desc_; }
  uint64_t avail() const { return avail_; }
  uint64_t used() const { return used_; }
  uint16_t size() const { return size_; }

  void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    write_desc(desc_ + 16ull * i, addr, len, flags, next);
  }
  static void write_desc_at(GuestRam& ram, uint64_t gpa, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next) {
    ram.put<uint64_t>(gpa, addr);
    ram.put<uint32_t>(gpa + 8, len);
    ram.put<uint16_t>(gpa + 12, flags);
    ram.put<uint16_t>(gpa + 14, next);
  }
  // Builds a direct chain from free descriptors; returns its head (not yet
  // published).
  uint16_t build(const std::vector<Buf>& bufs) {
    const uint16_t head = next_free_;
    for (size_t i = 0; i < bufs.size(); ++i) {
      const uint16_t idx = static_cast<uint16_t>((head + i) % size_);
      const bool last = i + 1 == bufs.size();
      set_desc(idx, bufs[i].gpa, bufs[i].len,
               static_cast<uint16_t>((bufs[i].writable ? kDescFlagWrite : 0) |
                                     (last ? 0 : kDescFlagNext)),
               static_cast<uint16_t>((idx + 1) % size_));
    }
    next_free_ = static_cast<uint16_t>((head + bufs.size()) % size_);
    return head;
  }
  // One descriptor pointing at an indirect table at `table` holding bufs.
  uint16_t build_indirect(uint64_t table, const std::vector<Buf>& bufs) {
    for (size_t i = 0; i < bufs.size(); ++i) {
      const bool last = i + 1 == bufs.size();
      write_desc_at(ram_, table + 16 * i, bufs[i].gpa, bufs[i].len,
                    static_cast<uint16_t>((bufs[i].writable ? kDescFlagWrite : 0) |
                                          (last ? 0 : kDescFlagNext)),
                    static_cast<uint16_t>(i + 1));
    }
    const uint16_t head = next_free_;
    set_desc(head, table, static_cast<uint32_t>(16 * bufs.size()), kDescFlagIndirect, 0);
    next_free_ = static_cast<uint16_t>((head + 1) % size_);
    return head;
  }
  void publish(uint16_t head) {
    ram_.put<uint16_t>(avail_ + 4 + 2ull * (avail_idx_ % size_), head);
    ++avail_idx_;
    __atomic_store_n(reinterpret_cast<uint16_t*>(ram_.at(avail_ + 2)), avail_idx_,
                     __ATOMIC_RELEASE);
  }
  void set_avail_idx(uint16_t v) {
    avail_idx_ = v;
    ram_.put<uint16_t>(avail_ + 2, v);
  }
  void set_avail_flags(uint16_t v) { ram_.put<uint16_t>(avail_, v); }
  void set_used_event(uint16_t v) { ram_.put<uint16_t>(avail_ + 4 + 2ull * size_, v); }
  uint16_t avail_event() { return ram_.get<uint16_t>(used_ + 4 + 8ull * size_); }
  uint16_t used_idx() { return ram_.get_atomic16(used_ + 2); }
  uint16_t used_flags() { return ram_.get_atomic16(used_); }
  uint32_t used_id(uint16_t i) { return ram_.get<uint32_t>(used_ + 4 + 8ull * (i % size_)); }
  uint32_t used_len(uint16_t i) { return ram_.get<uint32_t>(used_ + 8 + 8ull * (i % size_)); }
  // Waits (up to 5 s) until the device has used `count` entries.
  bool wait_used(uint16_t count) {
    for (int i = 0; i < 5000; ++i) {
      if (static_cast<uint16_t>(used_idx()) == count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

 private:
  void write_desc(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    write_desc_at(ram_, gpa, addr, len, flags, next);
  }
  GuestRam& ram_;
  uint16_t size_;
  uint64_t desc_, avail_, used_;
  uint16_t next_free_ = 0;
  uint16_t avail_idx_ = 0;
};

// A disk in a vector, counting the calls the device makes and logging
// the data calls and flushes in order. Reads and writes that touch
// [fail_offset, fail_offset + fail_length) fail with an I/O error (the
// fault a merged request must survive).
class MemImage final : public block::Image {
 public:
  enum class CallKind { kRead, kWrite, kFlush };
  struct Call {
    CallKind kind;
    uint64_t offset = 0;
    uint64_t length = 0;
    size_t iovecs = 0;
  };

  explicit MemImage(uint64_t size, bool read_only = false) : data_(size), read_only_(read_only) {}
  block::ImageFormat format() const override { return block::ImageFormat::kRaw; }
  uint64_t size() const override { return data_.size(); }
  const std::string& filename() const override { return name_; }
  bool read_only() const override { return read_only_; }
  Result<void> readv(uint64_t offset, std::span<const iovec> iov) override {
    std::lock_guard lock(mutex_);
    calls_.push_back({CallKind::kRead, offset, total(iov), iov.size()});
    AMBER_TRY(check(offset, total(iov)));
    for (const auto& v : iov) {
      std::memcpy(v.iov_base, data_.data() + offset, v.iov_len);
      offset += v.iov_len;
    }
    return ok();
  }
  Result<void> writev(uint64_t offset, std::span<const iovec> iov) override {
    std::lock_guard lock(mutex_);
    calls_.push_back({CallKind::kWrite, offset, total(iov), iov.size()});
    AMBER_TRY(check(offset, total(iov)));
    ++writes;
    for (const auto& v : iov) {
      std::memcpy(data_.data() + offset, v.iov_base, v.iov_len);
      offset += v.iov_len;
    }
    return ok();
  }
  Result<void> flush() override {
    std::lock_guard lock(mutex_);
    calls_.push_back({CallKind::kFlush});
    ++flushes;
    return ok();
  }
  Result<void> discard(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(mutex_);
    AMBER_TRY(check(offset, length));
    ++discards;
    std::memset(data_.data() + offset, 0, length);
    return ok();
  }
  Result<void> write_zeroes(uint64_t offset, uint64_t length, block::ZeroMode mode) override {
    std::lock_guard lock(mutex_);
    AMBER_TRY(check(offset, length));
    ++zeroes;
    last_zero_mode = mode;
    std::memset(data_.data() + offset, 0, length);
    return ok();
  }
  Result<block::BlockStatus> block_status(uint64_t, uint64_t) override {
    return Error(ErrorKind::kUnsupported, "test image");
  }
  Result<void> resize(uint64_t, block::Preallocation) override {
    return Error(ErrorKind::kUnsupported, "test image");
  }
  Result<block::ImageInfo> info() override { return block::ImageInfo{}; }
  block::Image* backing() override { return nullptr; }
  Result<void> close() override { return ok(); }

  uint8_t byte(uint64_t offset) {
    std::lock_guard lock(mutex_);
    return static_cast<uint8_t>(data_[offset]);
  }
  std::vector<Call> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  void clear_calls() {
    std::lock_guard lock(mutex_);
    calls_.clear();
  }
  void fail_range(uint64_t offset, uint64_t length) {
    std::lock_guard lock(mutex_);
    fail_offset_ = offset;
    fail_length_ = length;
  }
  void fill(uint64_t offset, uint64_t length, uint8_t value) {
    std::lock_guard lock(mutex_);
    std::memset(data_.data() + offset, value, length);
  }

  std::atomic<int> writes{0}, flushes{0}, discards{0}, zeroes{0};
  block::ZeroMode last_zero_mode = block::ZeroMode::kAllocate;

 private:
  static uint64_t total(std::span<const iovec> iov) {
    uint64_t t = 0;
    for (const auto& v : iov) t += v.iov_len;
    return t;
  }
  Result<void> check(uint64_t offset, uint64_t length) const {
    if (offset % 512 || length % 512 || offset > data_.size() || length > data_.size() - offset)
      return Error(ErrorKind::kOutOfRange, "test image range");
    if (fail_length_ != 0 && offset < fail_offset_ + fail_length_ && fail_offset_ < offset + length)
      return Error::from_errno(EIO, "test image: injected fault");
    return ok();
  }
  std::mutex mutex_;
  std::vector<Call> calls_;
  uint64_t fail_offset_ = 0;
  uint64_t fail_length_ = 0;
  std::vector<std::byte> data_;
  bool read_only_;
  std::string name_ = "mem";
};

class FakeInterrupts final : public InterruptController {
 public:
  Result<void> signal_msi(const MsiMessage& message) override {
    std::lock_guard lock(mutex_);
    msis.push_back(message);
    return ok();
  }
  Result<void> set_intx(unsigned, unsigned pin, bool level) override {
    EXPECT_EQ(pin, 1u);
    if (level) ++intx_raised;
    intx_level = level;
    return ok();
  }
  size_t msi_count(uint32_t data) {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& m : msis) n += m.data == data;
    return n;
  }
  std::mutex mutex_;
  std::vector<MsiMessage> msis;
  std::atomic<int> intx_raised{0};
  std::atomic<bool> intx_level{false};
};

class FakeIoEvents final : public IoEventRegistry {
 public:
  struct Entry {
    IoSpace space;
    uint64_t address;
    unsigned length;
    int fd;
    std::optional<uint64_t> datamatch;
  };
  Result<void> add_ioeventfd(IoSpace space, uint64_t address, unsigned length, int fd,
                             std::optional<uint64_t> datamatch) override {
    entries.push_back({space, address, length, fd, datamatch});
    return ok();
  }
  Result<void> remove_ioeventfd(IoSpace space, uint64_t address, unsigned, int fd,
                                std::optional<uint64_t>) override {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->space == space && it->address == address && it->fd == fd) {
        entries.erase(it);
        return ok();
      }
    }
    return Error(ErrorKind::kNotFound, "no such ioeventfd");
  }
  std::vector<Entry> entries;
};

}  // namespace amber::hv::virtio::test
