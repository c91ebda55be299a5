// SPDX-License-Identifier: GPL-2.0-or-later
// amber-img bench with aio=io_uring/native: one thread keeps `depth`
// requests in flight on an IoRing, as qemu-img does with coroutines on its
// AioContext. A request whose bytes Image::map_direct() places in the
// image file goes to the ring on the benchmark's own descriptor of that
// file; any other (allocation, COW, backing, compressed, unaligned, or a
// short or failed ring transfer) is done by the synchronous engine API on a
// helper thread, started only when needed, which signals completion through
// an eventfd read that is itself queued on the ring. Page-cache writes
// (cache=writeback/writethrough/unsafe) are done inline with pwritev, as
// PosixFile's io_uring backend does them.
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "block/direct_map.h"
#include "block/io/io_ring.h"
#include "block/io/posix_file.h"
#include "block/tool/bench.h"
#include "common/unique_fd.h"

namespace amber::block::tool {
namespace {

// Requests in flight at most; deeper queues add nothing measurable on the
// hosts Amber targets and would only cost buffer memory.
constexpr uint64_t kMaxInFlight = 1024;
// Bound on the memory of all request buffers together.
constexpr uint64_t kMaxBufferBytes = uint64_t{1} << 30;
// Helper threads for the synchronous path, at most (as the thread runner).
constexpr uint64_t kMaxHelpers = 64;
// Ring tag of the eventfd read; request tags are slot numbers.
constexpr uint64_t kWakeTag = UINT64_MAX;

struct Slot {
  Slot(size_t size, int pattern) : buffer(size, pattern), iov{buffer.data, size} {}
  BenchBuffer buffer;
  iovec iov;
  uint64_t index = 0;
};

struct Finished {
  size_t slot;
  Result<void> result;
};

// Threads doing synchronous engine calls for requests the ring cannot take.
class Helpers {
 public:
  Helpers(Image& image, const BenchConfig& config, int wake_fd, uint64_t threads)
      : image_(image), config_(config), wake_fd_(wake_fd), max_threads_(threads) {}
  ~Helpers() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  Helpers(const Helpers&) = delete;
  Helpers& operator=(const Helpers&) = delete;

  void post(size_t slot, Slot& s, uint64_t offset) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back({slot, &s, offset});
      if (threads_.size() < std::min<uint64_t>(max_threads_, jobs_.size() + busy_))
        threads_.emplace_back([this] { work(); });
    }
    cv_.notify_one();
  }

  void take_finished(std::vector<Finished>& out) {
    std::lock_guard lock(mutex_);
    for (auto& f : finished_) out.push_back(std::move(f));
    finished_.clear();
  }

 private:
  struct Job {
    size_t slot;
    Slot* s;
    uint64_t offset;
  };

  void work() {
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      Job job = jobs_.front();
      jobs_.pop_front();
      ++busy_;
      lock.unlock();
      auto* bytes = static_cast<std::byte*>(job.s->buffer.data);
      const size_t length = config_.buffer_size;
      Result<void> r = config_.write
                           ? image_.write(job.offset, std::span<const std::byte>(bytes, length))
                           : image_.read(job.offset, std::span<std::byte>(bytes, length));
      lock.lock();
      --busy_;
      finished_.push_back({job.slot, std::move(r)});
      const uint64_t one = 1;
      // An eventfd write only fails when the counter would overflow.
      (void)!::write(wake_fd_, &one, sizeof(one));
    }
  }

  Image& image_;
  const BenchConfig& config_;
  int wake_fd_;
  uint64_t max_threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<Finished> finished_;
  std::vector<std::thread> threads_;
  uint64_t busy_ = 0;
  bool quit_ = false;
};

class RingBench {
 public:
  RingBench(Image& image, const BenchConfig& config, uint64_t step, io::PosixFile& file,
            io::IoRing& ring, size_t slots, int wake_fd)
      : image_(image),
        config_(config),
        step_(step),
        size_(image.size()),
        file_(file),
        ring_(ring),
        map_(image),
        wake_fd_(wake_fd),
        helpers_(image, config, wake_fd, std::min<uint64_t>(slots, kMaxHelpers)) {
    slots_.reserve(slots);
    for (size_t i = 0; i < slots; ++i) {
      slots_.push_back(std::make_unique<Slot>(config.buffer_size, config.pattern));
      free_.push_back(slots - 1 - i);
    }
  }

  std::string run() {
    for (const auto& s : slots_)
      if (s->buffer.data == nullptr) return "out of memory";
    std::vector<io::IoCompletion> completions;
    std::vector<Finished> finished;
    while (true) {
      if (draining_ && in_flight_ == 0) {
        draining_ = false;
        flush();
      }
      while (!stop_ && !draining_ && !free_.empty() && next_ < config_.count) start(next_++);
      if (in_flight_ == 0) {
        if (draining_) continue;  // flush at the top, then go on
        break;
      }
      if (helper_jobs_ > 0 && !wake_armed_) {
        wake_iov_ = {&wake_count_, sizeof(wake_count_)};
        wake_armed_ = ring_.queue(wake_fd_, io::IoOp::kRead, 0, &wake_iov_, 1, kWakeTag);
      }
      if (Result<void> r = ring_.submit_and_wait(1, completions); !r.ok()) {
        // The ring itself failed: nothing more can be reaped from it.
        fail(r.error());
        return error_;
      }
      for (const io::IoCompletion& c : completions) {
        if (c.tag == kWakeTag) {
          wake_armed_ = false;
          finished.clear();
          helpers_.take_finished(finished);
          for (Finished& f : finished) {
            --helper_jobs_;
            finish(f.slot, f.result);
          }
          continue;
        }
        const size_t slot = static_cast<size_t>(c.tag);
        if (c.result == static_cast<int64_t>(config_.buffer_size)) {
          finish(slot, ok());
        } else {
          // Short, interrupted or failed: the engine redoes it and reports
          // any error in its own words.
          to_helpers(slot);
        }
      }
    }
    return error_;
  }

 private:
  void start(uint64_t index) {
    const size_t slot = free_.back();
    free_.pop_back();
    Slot& s = *slots_[slot];
    s.index = index;
    ++in_flight_;
    const uint64_t offset = bench_offset(config_, step_, size_, index);
    const std::optional<uint64_t> host =
        map_.map(offset, config_.buffer_size,
                 config_.write ? DirectAccess::kOverwrite : DirectAccess::kRead);
    if (host && config_.write && !file_.direct()) {
      // A page-cache write: done here (see PosixFile::transfer on why the
      // ring would be slower); it completes before the next is started.
      finish(slot, file_.writev_at(*host, std::span(&s.iov, 1)));
      return;
    }
    if (host && file_.aligned(*host, std::span(&s.iov, 1)) &&
        ring_.queue(file_.fd(), config_.write ? io::IoOp::kWrite : io::IoOp::kRead, *host, &s.iov,
                    1, slot))
      return;
    to_helpers(slot);
  }

  void to_helpers(size_t slot) {
    ++helper_jobs_;
    Slot& s = *slots_[slot];
    helpers_.post(slot, s, bench_offset(config_, step_, size_, s.index));
  }

  void finish(size_t slot, const Result<void>& result) {
    --in_flight_;
    free_.push_back(slot);
    if (!result.ok()) {
      fail(result.error());
      return;
    }
    ++completed_;
    if (config_.flush_interval != 0 && completed_ % config_.flush_interval == 0) {
      if (config_.drain) {
        draining_ = true;  // run() flushes once nothing is in flight
      } else {
        flush();
      }
    }
  }

  void flush() {
    if (Result<void> f = image_.flush(); !f.ok()) fail(f.error());
  }

  void fail(const Error& error) {
    if (error_.empty()) error_ = bench_error_message(error);
    stop_ = true;
  }

  Image& image_;
  const BenchConfig& config_;
  uint64_t step_;
  uint64_t size_;
  io::PosixFile& file_;
  io::IoRing& ring_;
  DirectMap map_;
  int wake_fd_;
  uint64_t wake_count_ = 0;
  iovec wake_iov_{};
  bool wake_armed_ = false;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<size_t> free_;
  uint64_t next_ = 0;
  uint64_t completed_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t helper_jobs_ = 0;
  bool draining_ = false;
  bool stop_ = false;
  std::string error_;
  Helpers helpers_;  // last: its threads are joined before the slots go
};

}  // namespace

std::optional<std::string> run_ring_bench(Image& image, const BenchConfig& config, uint64_t step,
                                          io::CacheMode cache) {
  uint64_t slots = std::min({config.depth, kMaxInFlight, std::max<uint64_t>(config.count, 1)});
  slots = std::max<uint64_t>(
      1, std::min(slots, kMaxBufferBytes / std::max<uint64_t>(config.buffer_size, 1)));
  // The benchmark's own descriptor of the image file: the image keeps its
  // locks; the kernel keeps data coherent per inode, so Image::flush()
  // covers what is written here.
  io::PosixOpenOptions fo;
  fo.access = config.write ? io::Access::kReadWrite : io::Access::kReadOnly;
  fo.cache = cache;
  fo.aio = io::AioBackend::kIoUring;
  auto file = io::PosixFile::open(image.filename(), fo);
  if (!file.ok()) return std::nullopt;
  auto ring = io::IoRing::create(static_cast<unsigned>(slots + 1));  // + the eventfd read
  if (!ring.ok()) return std::nullopt;
  const UniqueFd wake_fd(eventfd(0, EFD_CLOEXEC));
  if (!wake_fd) return std::nullopt;
  std::string error;
  {
    RingBench bench(image, config, step, **file, **ring, static_cast<size_t>(slots), wake_fd.get());
    error = bench.run();
  }
  return error;
}

}  // namespace amber::block::tool
