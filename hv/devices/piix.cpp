// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/piix.h"

namespace amber::hv::devices {
namespace {
constexpr unsigned kPam0 = 0x59;
constexpr unsigned kSmram = 0x72;
constexpr unsigned kPirqRoute = 0x60;
}  // namespace

I440fxHost::I440fxHost()
    : PciConfigSpace({0x8086, 0x1237, 0x02, 0x060000, kQemuSubsystemVendor, kQemuSubsystem, 0x00}) {
  set_writable(kPam0, 4, 0xFFFFFFFF);
  set_writable(kPam0 + 4, 3, 0xFFFFFF);
  store(kSmram, 1, 0x02);
  set_writable(kSmram, 1, 0xFF);
  snapshot_reset_state();
}

Piix3Isa::Piix3Isa(RouteSink sink)
    : PciConfigSpace({0x8086, 0x7000, 0x00, 0x060100, kQemuSubsystemVendor, kQemuSubsystem, 0x80}),
      sink_(std::move(sink)) {
  store(kPirqRoute, 4, 0x80808080);
  set_writable(kPirqRoute, 4, 0x8F8F8F8F);
  // Reset values QEMU gives the rest of the PIIX3 registers the BIOS reads.
  store(0x69, 1, 0x02);
  store(0x70, 1, 0x80);
  store(0x76, 1, 0x0C);
  store(0x77, 1, 0x0C);
  store(0x78, 1, 0x02);
  for (unsigned offset = 0x40; offset < 0x60; offset += 4) set_writable(offset, 4, 0xFFFFFFFF);
  for (unsigned offset = 0x64; offset < 0x100; offset += 4) set_writable(offset, 4, 0xFFFFFFFF);
  snapshot_reset_state();
}

void Piix3Isa::publish() {
  std::array<uint8_t, 4> routes{};
  for (unsigned i = 0; i < 4; ++i) routes[i] = static_cast<uint8_t>(load(kPirqRoute + i, 1));
  if (sink_) sink_(routes);
}

void Piix3Isa::device_config_write(unsigned offset, unsigned size, uint32_t value) {
  masked_write(offset, size, value);
  if (offset < kPirqRoute + 4 && offset + size > kPirqRoute) publish();
}

void Piix3Isa::reset() {
  PciConfigSpace::reset();
  publish();
}

}  // namespace amber::hv::devices
