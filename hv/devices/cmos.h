// CMOS / RTC (MC146818) at 0x70 (index; bit 7 = NMI mask, ignored) and 0x71
// (data). The clock registers read the host's UTC time (BCD, 24-hour, as
// the BIOS sets register B); the NVRAM bytes carry what SeaBIOS reads:
// memory sizes and the CPU count, in QEMU's encoding (cmos_platform_bytes).
// The periodic/alarm interrupts are not implemented yet (register C reads
// 0): SeaBIOS uses the PIT; Windows will need them.
//
// Thread-safety: one mutex; any vCPU thread.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "hv/bus/io_bus.h"
#include "hv/memory/ram.h"

namespace amber::hv::devices {

// (index, value) pairs QEMU's pc machine writes for this RAM / CPU count.
std::vector<std::pair<uint8_t, uint8_t>> cmos_platform_bytes(const RamLayout& layout, unsigned cpus);

class Cmos : public bus::IoDevice {
 public:
  static constexpr unsigned kSize = 128;
  Cmos();
  void set(uint8_t index, uint8_t value);
  uint8_t get(uint8_t index);  // as the guest would read it (time included)
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint8_t read_register(uint8_t index);
  std::mutex mutex_;
  std::array<uint8_t, kSize> bytes_{};
  uint8_t index_ = 0;
};

}  // namespace amber::hv::devices
