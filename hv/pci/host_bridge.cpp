// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/pci/host_bridge.h"

#include <algorithm>
#include <cstdio>

namespace amber::hv::pci {
namespace {
constexpr uint32_t kEnableBit = 0x80000000u;
}  // namespace

Result<void> HostBridge::attach(unsigned slot, unsigned function, PciDevice* device) {
  if (slot >= kSlots || function >= kFunctions)
    return Error(ErrorKind::kInvalidArgument, "PCI slot/function out of range");
  Function& f = functions_[slot * kFunctions + function];
  if (f.device != nullptr)
    return Error(ErrorKind::kInvalidArgument, "PCI slot " + std::to_string(slot) + "." +
                                                  std::to_string(function) + " is already taken");
  f.device = device;
  for (unsigned i = 0; i < kBarIndexCount; ++i)
    f.windows[i] = std::make_unique<BarWindow>(device, i);
  return ok();
}

void HostBridge::unmap(Function& function, unsigned index) {
  BarInfo& old = function.mapped[index];
  if (!old.enabled) return;
  (old.kind == BarKind::kIo ? pio_ : mmio_).remove(old.address);
  old = BarInfo{};
}

void HostBridge::remap(Function& function) {
  for (unsigned i = 0; i < kBarIndexCount; ++i) {
    const BarInfo now = function.device->bar(i);
    const BarInfo& old = function.mapped[i];
    if (now.enabled == old.enabled && now.address == old.address && now.size == old.size) continue;
    const bool was_enabled = old.enabled;
    unmap(function, i);
    if (now.enabled) {
      bus::IoBus& target = now.kind == BarKind::kIo ? pio_ : mmio_;
      if (auto r = target.add(now.address, now.size, function.windows[i].get(), "PCI BAR");
          r.ok()) {
        function.mapped[i] = now;
      } else if (const auto suppressed = refused_log_.allow()) {
        std::fprintf(stderr, "amber-vmm: PCI BAR %u at 0x%llx not mapped: %s%s\n", i,
                     static_cast<unsigned long long>(now.address), r.error().message().c_str(),
                     suppressed_note(*suppressed).c_str());
      }
    }
    if (was_enabled || function.mapped[i].enabled)
      function.device->bar_remapped(i, function.mapped[i]);
  }
}

void HostBridge::reset() {
  std::lock_guard lock(mutex_);
  address_ = 0;
  for (Function& f : functions_) {
    if (f.device == nullptr) continue;
    f.device->reset();
    remap(f);
  }
}

uint32_t HostBridge::config_read(unsigned devfn, unsigned offset, unsigned size) {
  Function& f = functions_[devfn % functions_.size()];
  // A missing function 0 must read all-ones so the bus scan skips the slot.
  if (f.device == nullptr) return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  return f.device->config_read(offset, size);
}

void HostBridge::config_write(unsigned devfn, unsigned offset, unsigned size, uint32_t value) {
  Function& f = functions_[devfn % functions_.size()];
  if (f.device == nullptr) return;
  f.device->config_write(offset, size, value);
  remap(f);
}

void HostBridge::io_read(uint64_t offset, std::span<uint8_t> data) {
  const size_t size = data.size();
  if (offset == 1 && size == 1 && reset_control_ != nullptr) {
    reset_control_->io_read(0, data);
    return;
  }
  std::lock_guard lock(mutex_);
  uint32_t value = 0xFFFFFFFF;
  if (offset == 0 && size == 4) {
    value = address_;
  } else if (offset >= 4) {
    const unsigned reg = (address_ & 0xFC) + static_cast<unsigned>(offset - 4);
    // Bus 0 only; the function number and register come from the guest and
    // index the 256-entry table and the 256-byte space, both masked here.
    if ((address_ & kEnableBit) && ((address_ >> 16) & 0xFF) == 0 && reg % size == 0)
      value = config_read((address_ >> 8) & 0xFF, reg, static_cast<unsigned>(size));
  }
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(value >> (8 * i));
}

void HostBridge::io_write(uint64_t offset, std::span<const uint8_t> data) {
  const size_t size = data.size();
  if (offset == 1 && size == 1 && reset_control_ != nullptr) {
    reset_control_->io_write(0, data);
    return;
  }
  uint32_t value = 0;
  for (size_t i = 0; i < size && i < 4; ++i) value |= static_cast<uint32_t>(data[i]) << (8 * i);
  std::lock_guard lock(mutex_);
  if (offset == 0 && size == 4) {
    address_ = value;
    return;
  }
  if (offset < 4) return;
  const unsigned reg = (address_ & 0xFC) + static_cast<unsigned>(offset - 4);
  if ((address_ & kEnableBit) && ((address_ >> 16) & 0xFF) == 0 && reg % size == 0)
    config_write((address_ >> 8) & 0xFF, reg, static_cast<unsigned>(size), value);
}

}  // namespace amber::hv::pci
