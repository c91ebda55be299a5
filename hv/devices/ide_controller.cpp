// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/ide_controller.h"

#include "hv/devices/piix.h"

namespace amber::hv::devices {
namespace {
constexpr unsigned kBusMasterBar = 4;
constexpr unsigned kIdeTiming = 0x40;

uint32_t gather(std::span<const uint8_t> data) {
  uint32_t value = 0;
  for (size_t i = 0; i < data.size() && i < 4; ++i)
    value |= static_cast<uint32_t>(data[i]) << (8 * i);
  return value;
}
void scatter(std::span<uint8_t> data, uint32_t value) {
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = i < 4 ? static_cast<uint8_t>(value >> (8 * i)) : 0;
}
}  // namespace

Piix3Ide::Piix3Ide(const GuestMemory& memory, IdeBus::IrqSink primary_irq,
                   IdeBus::IrqSink secondary_irq)
    : PciConfigSpace({0x8086, 0x7010, 0x00, 0x010180, kQemuSubsystemVendor, kQemuSubsystem, 0x00}) {
  buses_[0] = std::make_unique<IdeBus>(0, memory, std::move(primary_irq));
  buses_[1] = std::make_unique<IdeBus>(1, memory, std::move(secondary_irq));
  (void)set_bar(kBusMasterBar, pci::BarKind::kIo, 16);
  // Device-specific registers are plain writable storage, as QEMU's
  // default write mask (IDETIM/SIDETIM at 0x40-0x44; drivers may probe more).
  for (unsigned offset = kIdeTiming; offset < pci::kConfigSize; offset += 4)
    set_writable(offset, 4, 0xFFFFFFFF);
  snapshot_reset_state();
}

void Piix3Ide::bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) {
  if (index != kBusMasterBar || offset >= 16 || data.size() > 4) {
    scatter(data, 0xFFFFFFFF);
    return;
  }
  scatter(data,
          buses_[offset / 8]->read_bus_master(offset % 8, static_cast<unsigned>(data.size())));
}

void Piix3Ide::bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) {
  if (index != kBusMasterBar || offset >= 16 || data.size() > 4) return;
  buses_[offset / 8]->write_bus_master(offset % 8, static_cast<unsigned>(data.size()),
                                       gather(data));
}

void Piix3Ide::reset() {
  PciConfigSpace::reset();
  buses_[0]->reset();
  buses_[1]->reset();
}

void IdeCommandPorts::io_read(uint64_t offset, std::span<uint8_t> data) {
  if (offset == 0 && data.size() <= 4) {
    scatter(data, bus_.read_command_block(0, static_cast<unsigned>(data.size())));
    return;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    data[i] =
        at < 8 ? static_cast<uint8_t>(bus_.read_command_block(static_cast<unsigned>(at), 1)) : 0xFF;
  }
}

void IdeCommandPorts::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == 0 && data.size() <= 4) {
    bus_.write_command_block(0, static_cast<unsigned>(data.size()), gather(data));
    return;
  }
  for (size_t i = 0; i < data.size(); ++i)
    if (offset + i < 8) bus_.write_command_block(static_cast<unsigned>(offset + i), 1, data[i]);
}

void IdeControlPort::io_read(uint64_t, std::span<uint8_t> data) {
  const uint8_t status = bus_.read_alt_status();
  for (uint8_t& byte : data) byte = status;
}

void IdeControlPort::io_write(uint64_t, std::span<const uint8_t> data) {
  if (!data.empty()) bus_.write_device_control(data[0]);
}

}  // namespace amber::hv::devices
