// SPDX-License-Identifier: GPL-2.0-or-later
// convert_images: copies the guest contents of one or more images,
// concatenated, into a target image, as `qemu-img convert` does: sparse
// (unallocated and zero runs are not written), with several worker
// threads, writes in order or out of order, and optionally only what the
// sources hold above their own backing files (qemu-img convert -B).
//
// Thread-safety: a free function; it starts and joins its own workers and
// calls `progress` from them one at a time (under an internal lock). The
// caller must not use the images while it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "block/image.h"
#include "common/result.h"

namespace amber::block {

// What the copy reads of each source.
enum class ConvertBacking {
  kFlatten,             // every level of each source's chain (no -B)
  kAboveSourceBacking,  // only the sources' own top level: the target's
                        // backing file holds the rest (qemu-img -B: the
                        // new backing must read as the sources' backing)
};
// What the target reads where nothing is written.
enum class TargetContents {
  kUnknown,  // zero runs are written as zeros (write_zeroes)
  kZeroes,   // a new image or --target-is-zero: zero runs are skipped
};
// Whether worker k+1's writes may land before worker k's (qemu-img -W).
enum class WriteOrder { kInOrder, kOutOfOrder };
// qemu-img convert -c: every cluster with data is written compressed (the
// workers compress in parallel, then store in order); a cluster that does
// not shrink is written uncompressed and an all-zero one not at all (or
// as zeros where the target is not known to read zeros). Only qcow2
// targets have it.
enum class ConvertCompression { kOff, kCompressed };

// The most worker threads convert_images runs (qemu-img's -m limit).
inline constexpr unsigned kMaxConvertWorkers = 16;

struct ConvertOptions {
  // Zero runs of at least this many bytes are not written as data (-S);
  // 0 writes every byte as data, zeros included (a fully allocated target).
  uint64_t min_sparse = 4096;
  // The target's allocation unit (qcow2 cluster size, 4 KiB for raw): zero
  // runs inside data are only skipped in whole, aligned units of it.
  uint64_t granularity = 4096;
  unsigned workers = 8;  // 1..kMaxConvertWorkers
  WriteOrder order = WriteOrder::kInOrder;
  ConvertCompression compression = ConvertCompression::kOff;
  ConvertBacking backing = ConvertBacking::kFlatten;
  TargetContents target = TargetContents::kZeroes;
  // With kAboveSourceBacking: the target's backing file size. Zeros past it
  // need no write (the target reads zeros there anyway).
  uint64_t target_backing_size = UINT64_MAX;
  // qemu-img convert --salvage: a read that fails is retried sector by
  // sector; sectors that still fail are copied as zeros and reported to
  // on_read_error (offset in the concatenation; called one at a time),
  // and the copy goes on. Without it the first read error stops the copy.
  bool salvage = false;
  std::function<void(uint64_t offset, const Error& error)> on_read_error;
  // Called with the share of the work done, 0 to 100, as it grows. May be
  // empty.
  std::function<void(double percent)> progress;
};

// How a read error's context starts (then the byte offset in the
// concatenation, ": " and the cause), as qemu-img words it.
inline constexpr std::string_view kConvertReadError = "error while reading at byte ";

// Copies sources[0], sources[1], ... back to back into target from offset 0.
// target->size() must be at least the sum of the sources' sizes. The first
// error stops every worker and is returned. Does not flush or close target.
// With kCompressed a target that is not qcow2 gets kUnsupported, and each
// worker holds two 2 MiB buffers (input and compressed output).
Result<void> convert_images(std::span<Image* const> sources, Image& target,
                            const ConvertOptions& options);

}  // namespace amber::block
