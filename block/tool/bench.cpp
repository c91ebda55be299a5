// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img bench`: qemu-img bench's options and output. With aio=threads,
// `depth` requests are kept in flight by a pool of worker threads (at most
// kMaxWorkers), each doing synchronous engine calls on request indexes
// taken from one atomic counter; with aio=io_uring or native, by one thread
// on an io_uring (bench_ring.cpp; Linux AIO is not used: io_uring serves
// "native" too). Offsets as in bench.h.
#include "block/tool/bench.h"

#include <getopt.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <thread>
#include <vector>

#include "block/check.h"
#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/image_args.h"
#include "block/tool/options.h"

namespace amber::block::tool {

BenchBuffer::BenchBuffer(size_t size, int pattern) {
  const size_t bytes = std::max<size_t>(size, kBenchBufferAlignment);
  if (posix_memalign(&data, kBenchBufferAlignment, bytes) != 0) {
    data = nullptr;
    return;
  }
  std::memset(data, pattern, bytes);
}

namespace {

// More threads than this only add context switches on the hosts Amber
// targets; deeper queues are still "in flight" from the caller's view.
constexpr uint64_t kMaxWorkers = 64;

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

class BenchRun {
 public:
  BenchRun(Image& image, const BenchConfig& config, uint64_t step)
      : image_(image), config_(config), step_(step), size_(image.size()) {}

  // Runs every request; returns the first error message, or "".
  std::string run() {
    const uint64_t workers =
        std::min({config_.depth, kMaxWorkers, std::max<uint64_t>(config_.count, 1)});
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (uint64_t i = 0; i < workers; ++i) threads.emplace_back([this] { work(); });
    for (auto& t : threads) t.join();
    return error_;
  }

 private:
  uint64_t offset_of(uint64_t index) const { return bench_offset(config_, step_, size_, index); }

  void fail(const Error& error) {
    std::lock_guard lock(error_mutex_);
    if (error_.empty()) error_ = bench_error_message(error);
    stop_.store(true, std::memory_order_relaxed);
  }

  void work() {
    BenchBuffer buffer(config_.buffer_size, config_.pattern);
    if (buffer.data == nullptr) {
      fail(Error(ErrorKind::kNoSpace, "out of memory"));
      return;
    }
    auto* bytes = static_cast<std::byte*>(buffer.data);
    const size_t length = config_.buffer_size;
    while (!stop_.load(std::memory_order_relaxed)) {
      const uint64_t index = next_.fetch_add(1, std::memory_order_relaxed);
      if (index >= config_.count) return;
      const uint64_t offset = offset_of(index);
      Result<void> r = ok();
      {
        std::shared_lock in_flight(drain_mutex_);
        r = config_.write ? image_.write(offset, std::span<const std::byte>(bytes, length))
                          : image_.read(offset, std::span<std::byte>(bytes, length));
      }
      if (!r.ok()) {
        fail(std::move(r).error());
        return;
      }
      const uint64_t done = completed_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (config_.flush_interval != 0 && done % config_.flush_interval == 0) {
        Result<void> f = ok();
        if (config_.drain) {
          std::unique_lock drained(drain_mutex_);  // waits for requests in flight
          f = image_.flush();
        } else {
          f = image_.flush();
        }
        if (!f.ok()) {
          fail(std::move(f).error());
          return;
        }
      }
    }
  }

  Image& image_;
  const BenchConfig& config_;
  uint64_t step_;
  uint64_t size_;
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<bool> stop_{false};
  std::shared_mutex drain_mutex_;
  std::mutex error_mutex_;
  std::string error_;
};

}  // namespace

// --object has no short form ('-o' is bench's offset).
constexpr int kObjectOption = 256;

int run_bench(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"flush-interval", required_argument, nullptr, 'F'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"pattern", required_argument, nullptr, 'P'},
                                 {"no-drain", no_argument, nullptr, 'D'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"object", required_argument, nullptr, kObjectOption},
                                 {nullptr, 0, nullptr, 0}};
  BenchConfig config;
  bool image_opts = false;
  Secrets secrets;
  std::string format, aio = "threads";
  io::CacheMode cache = io::CacheMode::kWriteback;
  bool force_share = false;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'c': {
        auto v = parse_number(optarg);
        if (!v.ok() || *v > INT32_MAX) return report_error("Invalid request count specified");
        config.count = *v;
        break;
      }
      case 'd': {
        auto v = parse_number(optarg);
        if (!v.ok() || *v == 0 || *v > INT32_MAX)
          return report_error("Invalid queue depth specified");
        config.depth = *v;
        break;
      }
      case 'f':
        format = optarg;
        break;
      case 'n':
        aio = "native";
        break;
      case 'i':
        aio = optarg;
        if (aio != "threads" && aio != "native" && aio != "io_uring")
          return report_error("Invalid aio option: " + aio);
        break;
      case 'o': {
        auto v = parse_size(optarg);
        if (!v.ok() || *v > kMaxImageSize)
          return report_error_lines(invalid_size_message("offset"));
        config.offset = *v;
        break;
      }
      case 'q':
        break;  // qemu-img 7.2 bench prints its summary even with -q
      case 's': {
        auto v = parse_size(optarg);
        if (!v.ok() || *v > INT32_MAX)
          return report_error_lines(invalid_size_message("buffer size"));
        config.buffer_size = *v;
        break;
      }
      case 'S': {
        auto v = parse_size(optarg);
        if (!v.ok() || *v > INT32_MAX) return report_error_lines(invalid_size_message("step_size"));
        config.step = *v;
        break;
      }
      case 't': {
        auto m = io::parse_cache_mode(optarg);
        if (!m.ok()) return report_error("Invalid cache mode");
        cache = *m;
        break;
      }
      case 'w':
        config.write = true;
        break;
      case 'U':
        force_share = true;
        break;
      case 'F': {
        auto v = parse_number(optarg);
        if (!v.ok() || *v == 0 || *v > INT32_MAX)
          return report_error("Invalid flush interval specified");
        config.flush_interval = *v;
        break;
      }
      case 'P': {
        auto v = parse_number(optarg);
        if (!v.ok() || *v > 0xff) return report_error("Invalid pattern byte specified");
        config.pattern = static_cast<int>(*v);
        break;
      }
      case 'D':
        config.drain = false;
        break;
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'I':
        image_opts = true;
        break;
      case kObjectOption:
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (int status = check_single_image_args(argc); status != 0) return status;
  if (config.flush_interval && config.flush_interval < config.depth && !config.drain)
    return report_error("Flush interval can't be smaller than depth");
  auto ref = resolve_image(argv[optind], image_opts, format, secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string filename = ref->path;

  OpenOptions o;
  o.access = config.write ? io::Access::kReadWrite : io::Access::kReadOnly;
  o.cache = cache;
  apply(*ref, o);
  const bool direct = cache == io::CacheMode::kNone || cache == io::CacheMode::kDirectSync;
  if (aio == "native" && !direct)
    return report_error("Could not open '" + filename +
                        "': aio=native was specified, but it requires cache.direct=on, which was "
                        "not specified.");
  if (force_share && config.write)
    return report_error("Could not open '" + filename +
                        "': force-share=on can only be used with read-only images");
  if (force_share) o.sharing = Sharing::kForceShare;
  // Linux AIO ("native") is served by io_uring, its successor.
  o.aio = aio == "threads" ? io::AioBackend::kThreads : io::AioBackend::kIoUring;
  auto image = open_image(filename, o);
  if (!image.ok())
    return report_error("Could not open '" + filename + "': " + error_text(image.error()));

  if (!o.format && (*image)->format() == ImageFormat::kRaw && o.access == io::Access::kReadWrite)
    warn_probed_raw(filename);
  const uint64_t step = config.step.value_or(config.buffer_size);
  if (!config.quiet) {
    std::printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64
                " in parallel (starting at offset %" PRIu64 ", step size %" PRIu64 ")\n",
                config.count, config.write ? "write" : "read", config.buffer_size, config.depth,
                config.offset, step);
    if (config.flush_interval)
      std::printf("Sending flush every %" PRIu64 " requests\n", config.flush_interval);
    std::fflush(stdout);
  }
  const double start = now_seconds();
  std::optional<std::string> error;
  if (o.aio == io::AioBackend::kIoUring) error = run_ring_bench(**image, config, step, cache);
  if (!error) error = BenchRun(**image, config, step).run();
  const double elapsed = now_seconds() - start;
  if (!error->empty()) return report_error("Failed request: " + *error);
  if (!config.quiet) std::printf("Run completed in %3.3f seconds.\n", elapsed);
  if (auto r = (*image)->close(); !r.ok()) return report_error(r.error());
  return 0;
}

}  // namespace amber::block::tool
