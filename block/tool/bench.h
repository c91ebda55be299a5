// SPDX-License-Identifier: GPL-2.0-or-later
// What `amber-img bench`'s two runners share: the parsed options, request
// offsets and the I/O buffers. bench.cpp parses and prints; the runners
// keep `depth` requests in flight, either with a pool of threads doing
// synchronous engine calls (aio=threads) or with one thread and an
// io_uring (aio=io_uring/native, bench_ring.cpp).
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "block/image.h"
#include "common/uint128.h"

namespace amber::block::tool {

// Buffers are aligned for O_DIRECT on any device (4 KiB logical blocks).
inline constexpr size_t kBenchBufferAlignment = 4096;

struct BenchConfig {
  uint64_t count = 75000;
  uint64_t depth = 64;
  uint64_t offset = 0;
  uint64_t buffer_size = 4096;
  std::optional<uint64_t> step;
  uint64_t flush_interval = 0;
  bool drain = true;
  bool write = false;
  int pattern = 0;
  bool quiet = false;  // always false: qemu-img 7.2 prints its summary even with -q
};

// Request `index` goes to (offset + index * step) modulo the image size, as
// in qemu-img 7.2; request 0 to `offset` itself.
inline uint64_t bench_offset(const BenchConfig& config, uint64_t step, uint64_t image_size,
                             uint64_t index) {
  if (index == 0 || image_size == 0) return config.offset;
  const Uint128 raw = static_cast<Uint128>(config.offset) + static_cast<Uint128>(index) * step;
  return static_cast<uint64_t>(raw % image_size);
}

// qemu-img's text for a failed request (a request past the end is EIO).
inline std::string bench_error_message(const Error& error) {
  return error.kind() == ErrorKind::kOutOfRange ? "Input/output error" : error.message();
}

// One request buffer, filled with the pattern byte.
struct BenchBuffer {
  BenchBuffer(size_t size, int pattern);
  ~BenchBuffer() { std::free(data); }
  BenchBuffer(const BenchBuffer&) = delete;
  BenchBuffer& operator=(const BenchBuffer&) = delete;
  void* data = nullptr;  // null when out of memory
};

// Runs the benchmark with one thread and an io_uring; returns the first
// error message or "", or nullopt when io_uring cannot be used here (the
// caller then runs the thread pool).
std::optional<std::string> run_ring_bench(Image& image, const BenchConfig& config, uint64_t step,
                                          io::CacheMode cache);

}  // namespace amber::block::tool
