// Config: everything on amber-vmm's command line, parsed and validated
// before anything is created. Every bad value gives one Error whose
// message is the line main() prints (see doc/amber-vmm.md for the syntax).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "block/image.h"
#include "common/result.h"
#include "hv/devices/serial_backend.h"
#include "hv/memory/ram.h"

namespace amber::hv::vmm {

// Limits: KVM on x86 supports far more, but a PC with SeaBIOS's MADT and
// CMOS byte for the count is bounded by 255; 64 is what we test.
inline constexpr unsigned kMaxCpus = 64;
inline constexpr unsigned kMaxDisks = 16;        // PCI slots 3.. on bus 0
inline constexpr unsigned kMaxDiskQueues = 64;   // virtio kMaxQueues
inline constexpr uint64_t kMaxMemory = 1ULL << 40;

struct DiskSpec {
  std::string path;
  std::optional<block::ImageFormat> format;
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  block::io::AioBackend aio = block::io::AioBackend::kThreads;
  unsigned queues = 1;
  block::DiscardMode discard = block::DiscardMode::kIgnore;
  std::string serial;
  bool readonly = false;
};

struct Config {
  std::string name = "amber";
  uint64_t memory = 512ULL << 20;
  Hugepages hugepages = Hugepages::kOff;
  unsigned cpus = 1;
  std::string firmware;  // empty with --kernel
  std::vector<DiskSpec> disks;
  devices::SerialSpec serial{devices::SerialSpec::Kind::kNone, ""};
  std::string control;
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::string debugcon;  // file path, empty = none
  bool no_reboot = false;
  bool help = false;
  bool version = false;
};

Result<Config> parse_command_line(int argc, const char* const* argv);
std::string help_text();

// Exposed for tests.
Result<uint64_t> parse_size(std::string_view text);
Result<DiskSpec> parse_disk(std::string_view text);

}  // namespace amber::hv::vmm
