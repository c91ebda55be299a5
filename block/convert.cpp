// SPDX-License-Identifier: GPL-2.0-or-later
// The copy loop of `amber-img convert`: see convert.h.
//
// The concatenated sources are cut into kSegment pieces that workers take
// in turn. A worker asks block_status what each part of its segment is,
// reads the data parts into its buffer, splits off zero runs, then (in
// order mode, once the segment before it is written) writes. So reads of
// one segment overlap writes of another, and a new qcow2 target still gets
// its clusters laid out in guest order.
//
// With -c (kCompressed) each worker also compresses its segment's clusters
// (into a second 2 MiB buffer, one slot per cluster) before its turn, so
// the compression runs on every worker at once and the turn only stores.
#include "block/convert.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "block/qcow2/compressed.h"
#include "block/qcow2/image.h"
#include "common/bytes.h"

namespace amber::block {
namespace {

// Bytes one worker handles at a time: qemu-img's 2 MiB buffer, a multiple
// of every qcow2 cluster size, so a segment never splits a target cluster.
constexpr uint64_t kSegment = 2u << 20;
// Buffers are page-aligned so O_DIRECT targets need no bounce buffer.
constexpr size_t kBufferAlignment = 4096;

enum class Kind { kData, kZero, kSkip };

struct Op {
  uint64_t offset;  // in the concatenated guest space (= target offset)
  uint64_t length;
  Kind kind;
};

// A source's size rounded up to whole sectors: a raw file of 1000 bytes is
// copied as two sectors, the tail read as zeros (qemu-img does the same).
uint64_t sector_size(const Image& image) {
  return (image.size() + kSectorSize - 1) / kSectorSize * kSectorSize;
}

void append(std::vector<Op>& ops, Op op) {
  if (op.length == 0) return;
  if (!ops.empty() && ops.back().kind == op.kind &&
      ops.back().offset + ops.back().length == op.offset) {
    ops.back().length += op.length;
    return;
  }
  ops.push_back(op);
}

// One target cluster of a compressed convert: `packed` bytes of compressed
// data in the worker's output slot, or 0: written as it is (it did not
// shrink).
struct ClusterJob {
  uint64_t offset;
  uint64_t length;  // guest bytes (the last cluster of the copy may be short)
  size_t packed;
};

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

class Converter {
 public:
  Converter(std::span<Image* const> sources, Image& target, const ConvertOptions& options)
      : sources_(sources), target_(target), options_(options) {
    uint64_t start = 0;
    for (Image* source : sources_) {
      starts_.push_back(start);
      start += sector_size(*source);
    }
    total_ = start;
  }

  Result<void> run() {
    if (target_.size() < total_)
      return Error(ErrorKind::kOutOfRange, "output file is smaller than input file");
    if (options_.workers == 0 || options_.workers > kMaxConvertWorkers)
      return Error(ErrorKind::kInvalidArgument, "bad number of convert workers");
    if (options_.compression == ConvertCompression::kCompressed) {
      compressed_target_ = dynamic_cast<qcow2::Qcow2Image*>(&target_);
      if (target_.format() != ImageFormat::kQcow2 || compressed_target_ == nullptr)
        return Error(ErrorKind::kUnsupported, "Compression not supported for this file format");
      cluster_size_ = compressed_target_->cluster_size();
      if (kSegment % cluster_size_ != 0)
        return Error(ErrorKind::kUnsupported, "cluster size too large for compressed convert");
    }
    segments_ = (total_ + kSegment - 1) / kSegment;
    if (options_.progress) {
      AMBER_TRY_ASSIGN(work_total_, count_work());
    }
    std::vector<std::thread> threads;
    const uint64_t count = std::clamp<uint64_t>(segments_, 1, options_.workers);
    for (uint64_t i = 1; i < count; ++i) threads.emplace_back([this] { worker(); });
    worker();
    for (auto& thread : threads) thread.join();
    if (first_error_) return *first_error_;
    if (compressed_target_ != nullptr) return compressed_target_->finish_compressed_writes();
    return ok();
  }

 private:
  // What [offset, offset + at most max_length) of the concatenation is,
  // before zero detection inside data; never crosses a source boundary.
  Result<Op> classify(uint64_t offset, uint64_t max_length) {
    size_t index = 0;
    while (index + 1 < sources_.size() && starts_[index + 1] <= offset) ++index;
    Image& source = *sources_[index];
    const uint64_t local = offset - starts_[index];
    const uint64_t limit = std::min(max_length, sector_size(source) - local);
    auto queried = source.block_status(local, limit);
    if (!queried.ok() && options_.salvage) {
      // Salvage: up to the next granule boundary counts as data, so its
      // read is tried (and salvaged) sector by sector.
      const uint64_t granule = std::max<uint64_t>(options_.granularity, kSectorSize);
      return Op{offset, std::min(limit, granule - local % granule), Kind::kData};
    }
    AMBER_TRY_ASSIGN(BlockStatus status, std::move(queried));
    uint64_t length = std::min(status.length, limit);
    if (local + length >= source.size()) length = limit;  // through the partial last sector
    if (length == 0) return Error(ErrorKind::kInternal, "block_status made no progress");
    Kind kind = status.present && !status.zero ? Kind::kData : Kind::kZero;
    if (options_.backing == ConvertBacking::kAboveSourceBacking && source.backing() != nullptr &&
        (!status.present || status.depth > 0))
      kind = Kind::kSkip;  // the target's backing file answers here
    if (kind == Kind::kZero) {
      if (options_.min_sparse == 0)
        kind = Kind::kData;  // -S 0: zeros are written as data
      else if (options_.target == TargetContents::kZeroes ||
               (options_.backing == ConvertBacking::kAboveSourceBacking &&
                offset >= options_.target_backing_size))
        kind = Kind::kSkip;
    }
    return Op{offset, length, kind};
  }

  // Bytes the copy will read or write, for the progress share (qemu-img
  // counts its allocated sectors first in the same way).
  Result<uint64_t> count_work() {
    uint64_t work = 0;
    for (uint64_t offset = 0; offset < total_;) {
      AMBER_TRY_ASSIGN(Op op, classify(offset, std::min(kSegment * 64, total_ - offset)));
      if (op.kind != Kind::kSkip) work += op.length;
      offset += op.length;
    }
    return work;
  }

  // Splits a data range already in `buffer` (at segment-relative offsets)
  // into data and zero runs: a run of whole zero granules of at least
  // min_sparse bytes is a zero run.
  void split_zeroes(const std::byte* buffer, uint64_t segment, Op data, std::vector<Op>& ops) {
    if (options_.min_sparse == 0) {
      append(ops, data);
      return;
    }
    const uint64_t granule = std::max<uint64_t>(options_.granularity, kSectorSize);
    const Kind zero_kind = options_.target == TargetContents::kZeroes ? Kind::kSkip : Kind::kZero;
    const uint64_t end = data.offset + data.length;
    uint64_t run_start = data.offset;  // start of the current zero run
    uint64_t pos = data.offset;
    auto flush_run = [&](uint64_t run_end) {
      if (run_end - run_start >= options_.min_sparse) {
        append(ops, {run_start, run_end - run_start, zero_kind});
      } else {
        append(ops, {run_start, run_end - run_start, Kind::kData});
      }
    };
    while (pos < end) {
      const uint64_t next = std::min(end, (pos / granule + 1) * granule);
      const bool whole = pos % granule == 0 && next % granule == 0;
      if (whole && all_zero(buffer + (pos - segment), static_cast<size_t>(next - pos))) {
        pos = next;
        continue;
      }
      flush_run(pos);
      append(ops, {pos, next - pos, Kind::kData});
      pos = next;
      run_start = pos;
    }
    flush_run(end);
  }

  Result<void> read_segment(uint64_t segment, std::byte* buffer, std::vector<Op>& ops,
                            uint64_t& work) {
    const uint64_t end = std::min(total_, segment + kSegment);
    for (uint64_t offset = segment; offset < end;) {
      AMBER_TRY_ASSIGN(Op op, classify(offset, end - offset));
      if (op.kind != Kind::kSkip) work += op.length;
      if (op.kind == Kind::kData) {
        std::byte* into = buffer + (offset - segment);
        size_t index = 0;
        while (index + 1 < sources_.size() && starts_[index + 1] <= offset) ++index;
        AMBER_TRY(read_source(index, offset - starts_[index], into, op.length));
        split_zeroes(buffer, segment, op, ops);
      } else {
        append(ops, op);
      }
      offset += op.length;
    }
    return ok();
  }

  // Reads [local, local + length) of source `index`. A failure is
  // qemu-img's "error while reading at byte N" (N in the concatenation);
  // with salvage the range is read again sector by sector and each sector
  // that still fails reads as zeros, reported through on_read_error.
  Result<void> read_source(size_t index, uint64_t local, std::byte* into, uint64_t length) {
    Image& source = *sources_[index];
    auto first = source.read(local, std::span(into, static_cast<size_t>(length)));
    if (first.ok()) return first;
    if (!options_.salvage)
      return Error(first.error().kind(), std::string(kConvertReadError) +
                                             std::to_string(starts_[index] + local) + ": " +
                                             first.error().message());
    for (uint64_t pos = 0; pos < length; pos += kSectorSize) {
      const uint64_t n = std::min(kSectorSize, length - pos);
      auto r = source.read(local + pos, std::span(into + pos, static_cast<size_t>(n)));
      if (r.ok()) continue;
      std::memset(into + pos, 0, static_cast<size_t>(n));
      if (options_.on_read_error) {
        std::lock_guard lock(mutex_);
        options_.on_read_error(starts_[index] + local + pos, r.error());
      }
    }
    return ok();
  }

  // Reads [offset, offset + length) of the concatenation, across sources.
  Result<void> read_concat(uint64_t offset, uint64_t length, std::byte* into) {
    while (length != 0) {
      size_t index = 0;
      while (index + 1 < sources_.size() && starts_[index + 1] <= offset) ++index;
      const uint64_t local = offset - starts_[index];
      const uint64_t n = std::min(length, sector_size(*sources_[index]) - local);
      AMBER_TRY(read_source(index, local, into, n));
      offset += n;
      into += n;
      length -= n;
    }
    return ok();
  }

  // Compressed mode: reads the segment cluster by cluster and compresses
  // each that holds data into its slot of `out`. A cluster with any data
  // is read whole (QEMU writes compressed clusters only whole); an
  // all-zero one becomes a zero op unless -S 0. Clusters without data keep
  // their zero / skip ops.
  Result<void> read_compressed(uint64_t segment, std::byte* buffer, std::byte* out,
                               qcow2::ClusterCompressor& compressor, std::vector<Op>& ops,
                               std::vector<ClusterJob>& jobs, uint64_t& work) {
    const uint64_t end = std::min(total_, segment + kSegment);
    std::vector<Op>& parts = parts_scratch();
    parts.clear();
    for (uint64_t offset = segment; offset < end;) {
      AMBER_TRY_ASSIGN(Op op, classify(offset, end - offset));
      if (op.kind != Kind::kSkip) work += op.length;
      if (op.kind == Kind::kData)
        AMBER_TRY(read_concat(offset, op.length, buffer + (offset - segment)));
      append(parts, op);
      offset += op.length;
    }
    const Kind zero_kind = options_.target == TargetContents::kZeroes ? Kind::kSkip : Kind::kZero;
    size_t p = 0;
    for (uint64_t c = segment; c < end; c += cluster_size_) {
      const uint64_t ce = std::min(end, c + cluster_size_);
      while (parts[p].offset + parts[p].length <= c) ++p;
      bool has_data = false;
      bool all_data = false;
      for (size_t q = p; q < parts.size() && parts[q].offset < ce; ++q) {
        if (parts[q].kind != Kind::kData) continue;
        has_data = true;
        all_data = parts[q].offset <= c && parts[q].offset + parts[q].length >= ce;
      }
      std::byte* in = buffer + (c - segment);
      if (!has_data) {
        for (size_t q = p; q < parts.size() && parts[q].offset < ce; ++q) {
          const uint64_t from = std::max(c, parts[q].offset);
          const uint64_t to = std::min(ce, parts[q].offset + parts[q].length);
          append(ops, {from, to - from, parts[q].kind});
        }
        continue;
      }
      if (!all_data) AMBER_TRY(read_concat(c, ce - c, in));
      if (options_.min_sparse != 0 && all_zero(in, static_cast<size_t>(ce - c))) {
        append(ops, {c, ce - c, zero_kind});
        continue;
      }
      // A short last cluster is compressed padded with zeros, as QEMU does.
      if (ce - c < cluster_size_) std::memset(in + (ce - c), 0, cluster_size_ - (ce - c));
      AMBER_TRY_ASSIGN(
          size_t packed,
          compressor.compress(
              std::span(reinterpret_cast<const uint8_t*>(in), cluster_size_),
              std::span(reinterpret_cast<uint8_t*>(out + (c - segment)), cluster_size_)));
      jobs.push_back({c, ce - c, packed});
    }
    return ok();
  }

  // Compressed mode's turn: the ops and jobs in guest order; clusters that
  // did not shrink and follow each other go as one write.
  Result<void> write_compressed(uint64_t segment, const std::byte* buffer, const std::byte* out,
                                const std::vector<Op>& ops, const std::vector<ClusterJob>& jobs) {
    size_t o = 0;
    for (size_t j = 0; j < jobs.size();) {
      while (o < ops.size() && ops[o].offset < jobs[j].offset)
        AMBER_TRY(write_op(segment, buffer, ops[o++]));
      if (jobs[j].packed != 0) {
        const ClusterJob& job = jobs[j++];
        AMBER_TRY(compressed_target_->store_compressed(
            job.offset,
            std::span(reinterpret_cast<const uint8_t*>(out + (job.offset - segment)), job.packed)));
        continue;
      }
      const uint64_t start = jobs[j].offset;
      uint64_t stop = start;
      while (j < jobs.size() && jobs[j].packed == 0 && jobs[j].offset == stop)
        stop += jobs[j++].length;
      AMBER_TRY(target_.write(
          start, std::span(buffer + (start - segment), static_cast<size_t>(stop - start))));
    }
    while (o < ops.size()) AMBER_TRY(write_op(segment, buffer, ops[o++]));
    return ok();
  }

  Result<void> write_op(uint64_t segment, const std::byte* buffer, const Op& op) {
    if (op.kind == Kind::kData)
      return target_.write(
          op.offset, std::span(buffer + (op.offset - segment), static_cast<size_t>(op.length)));
    if (op.kind == Kind::kZero)
      return target_.write_zeroes(op.offset, op.length, ZeroMode::kMayUnmap);
    return ok();
  }

  // The per-thread list of a segment's parts (compressed mode).
  static std::vector<Op>& parts_scratch() {
    thread_local std::vector<Op> parts;
    return parts;
  }

  Result<void> write_ops(uint64_t segment, const std::byte* buffer, const std::vector<Op>& ops) {
    for (const Op& op : ops) {
      if (op.kind == Kind::kData) {
        AMBER_TRY(target_.write(
            op.offset, std::span(buffer + (op.offset - segment), static_cast<size_t>(op.length))));
      } else if (op.kind == Kind::kZero) {
        AMBER_TRY(target_.write_zeroes(op.offset, op.length, ZeroMode::kMayUnmap));
      }
    }
    return ok();
  }

  // In order mode: blocks until every segment before `index` is written
  // (or a worker failed).
  void wait_turn(uint64_t index) {
    if (options_.order == WriteOrder::kOutOfOrder) return;
    std::unique_lock lock(mutex_);
    turn_changed_.wait(lock, [&] { return written_ == index || failed_.load(); });
  }

  void finish_segment(uint64_t work) {
    std::lock_guard lock(mutex_);
    ++written_;
    turn_changed_.notify_all();
    if (options_.progress && work > 0) {
      work_done_ += work;
      options_.progress(work_total_ == 0 ? 100.0
                                         : 100.0 * double(work_done_) / double(work_total_));
    }
  }

  void fail(Error error) {
    std::lock_guard lock(mutex_);
    if (!first_error_) first_error_ = std::move(error);
    failed_.store(true);
    turn_changed_.notify_all();
  }

  void worker() {
    std::unique_ptr<std::byte, FreeDeleter> memory(
        static_cast<std::byte*>(std::aligned_alloc(kBufferAlignment, kSegment)));
    if (!memory) {
      fail(Error(ErrorKind::kNoSpace, "out of memory for a 2 MiB convert buffer"));
      return;
    }
    const bool compressed = compressed_target_ != nullptr;
    std::unique_ptr<std::byte, FreeDeleter> packed;
    std::optional<qcow2::ClusterCompressor> compressor;
    if (compressed) {
      packed.reset(static_cast<std::byte*>(std::aligned_alloc(kBufferAlignment, kSegment)));
      if (!packed) {
        fail(Error(ErrorKind::kNoSpace, "out of memory for a 2 MiB convert buffer"));
        return;
      }
      compressor.emplace(compressed_target_->compression(), cluster_size_);
    }
    std::vector<Op> ops;
    std::vector<ClusterJob> jobs;
    for (uint64_t index = next_++; index < segments_ && !failed_.load(); index = next_++) {
      const uint64_t segment = index * kSegment;
      ops.clear();
      jobs.clear();
      uint64_t work = 0;
      auto r = compressed ? read_compressed(segment, memory.get(), packed.get(), *compressor, ops,
                                            jobs, work)
                          : read_segment(segment, memory.get(), ops, work);
      if (!r.ok()) {
        fail(r.error());
        return;
      }
      wait_turn(index);
      if (failed_.load()) return;
      r = compressed ? write_compressed(segment, memory.get(), packed.get(), ops, jobs)
                     : write_ops(segment, memory.get(), ops);
      if (!r.ok()) {
        fail(r.error());
        return;
      }
      finish_segment(work);
    }
  }

  std::span<Image* const> sources_;
  Image& target_;
  const ConvertOptions& options_;
  std::vector<uint64_t> starts_;  // each source's first byte in the concatenation
  uint64_t total_ = 0;
  uint64_t segments_ = 0;
  qcow2::Qcow2Image* compressed_target_ = nullptr;  // compressed mode's target
  uint64_t cluster_size_ = 0;                       // its cluster size
  uint64_t work_total_ = 0;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;  // guards the fields below and progress calls
  std::condition_variable turn_changed_;
  uint64_t written_ = 0;  // segments written, in order mode the next turn
  uint64_t work_done_ = 0;
  std::optional<Error> first_error_;
};

}  // namespace

Result<void> convert_images(std::span<Image* const> sources, Image& target,
                            const ConvertOptions& options) {
  if (sources.empty()) return Error(ErrorKind::kInvalidArgument, "no source image");
  Converter converter(sources, target, options);
  return converter.run();
}

}  // namespace amber::block
