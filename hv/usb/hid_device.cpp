// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/usb/hid_device.h"

#include <algorithm>
#include <cstring>

#include "hv/usb/hid_keymap.h"

namespace amber::hv::usb {
namespace {

// bmRequestType << 8 | bRequest of the HID class requests (HID 1.11 7.2).
constexpr uint16_t kGetReport = 0xA101;
constexpr uint16_t kGetIdle = 0xA102;
constexpr uint16_t kGetProtocol = 0xA103;
constexpr uint16_t kSetReport = 0x2109;
constexpr uint16_t kSetIdle = 0x210A;
constexpr uint16_t kSetProtocol = 0x210B;
constexpr uint16_t kInterfaceGetDescriptor = 0x8100 | kRequestGetDescriptor;
constexpr uint8_t kDescriptorReport = 0x22;
// A boot keyboard's "too many keys pressed" usage (ErrorRollOver).
constexpr uint8_t kRollover = 0x01;
constexpr unsigned kBootKeys = 6;
constexpr auto kIdleUnit = std::chrono::milliseconds(4);

constexpr unsigned wrap(unsigned index) {
  return index % kHidQueueLength;
}

uint8_t button_bit(PointerButton button) {
  switch (button) {
    case PointerButton::kLeft:
      return 0x01;
    case PointerButton::kRight:
      return 0x02;
    case PointerButton::kMiddle:
      return 0x04;
    default:
      return 0;
  }
}

}  // namespace

HidDevice::HidDevice(HidKind kind, const std::string& serial_suffix)
    : ControlPipeDevice(hid_descriptors(kind, serial_suffix)), kind_(kind) {}

void HidDevice::reset() {
  ControlPipeDevice::reset();
  std::lock_guard lock(mutex_);
  queue_ = {};
  head_ = pending_ = 0;
  keys_ = {};
  key_head_ = key_count_ = 0;
  modifiers_ = 0;
  pressed_ = {};
  pressed_count_ = 0;
  protocol_ = 1;
  idle_ = 0;
}

void HidDevice::move_absolute(PointerAxis axis, int value) {
  if (kind_ == HidKind::kKeyboard) return;
  value = std::clamp(value, 0, kAbsoluteMax);
  std::lock_guard lock(mutex_);
  PointerState& current = queue_[wrap(head_ + pending_)];
  // On a relative mouse an absolute event means nothing (QEMU routes
  // absolute events to absolute devices only).
  if (kind_ != HidKind::kTablet) return;
  (axis == PointerAxis::kX ? current.x : current.y) = value;
}

void HidDevice::move_relative(PointerAxis axis, int delta) {
  if (kind_ != HidKind::kMouse) return;
  std::lock_guard lock(mutex_);
  PointerState& current = queue_[wrap(head_ + pending_)];
  int& field = axis == PointerAxis::kX ? current.x : current.y;
  // Saturate rather than overflow when a client sends huge deltas.
  field = static_cast<int>(
      std::clamp<int64_t>(static_cast<int64_t>(field) + delta, -(1 << 24), 1 << 24));
}

void HidDevice::button(PointerButton button, bool down) {
  if (kind_ == HidKind::kKeyboard) return;
  std::lock_guard lock(mutex_);
  PointerState& current = queue_[wrap(head_ + pending_)];
  if (down) {
    current.buttons |= button_bit(button);
    if (button == PointerButton::kWheelUp && current.z > -(1 << 24)) --current.z;
    if (button == PointerButton::kWheelDown && current.z < (1 << 24)) ++current.z;
  } else {
    current.buttons &= static_cast<uint8_t>(~button_bit(button));
  }
}

bool HidDevice::key(unsigned linux_keycode, bool down) {
  if (kind_ != HidKind::kKeyboard) return false;
  const uint8_t usage = hid_usage_for_keycode(linux_keycode);
  if (usage == 0) return false;
  {
    std::lock_guard lock(mutex_);
    // A full queue drops the key, as QEMU ("queue full").
    if (key_count_ == kHidQueueLength) return true;
    keys_[wrap(key_head_ + key_count_)] = {usage, down};
    ++key_count_;
  }
  if (remote_wakeup()) request_wakeup();
  return true;
}

void HidDevice::sync() {
  if (kind_ == HidKind::kKeyboard) return;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    changed = sync_locked();
  }
  // A suspended host learns of the new report (QEMU's usb_wakeup).
  if (changed && remote_wakeup()) request_wakeup();
}

bool HidDevice::sync_locked() {
  // Full: the current entry keeps accumulating (only the newest position
  // survives), as QEMU.
  if (pending_ == kHidQueueLength - 1) return false;
  PointerState& current = queue_[wrap(head_ + pending_)];
  if (pending_ > 0) {
    PointerState& previous = queue_[wrap(head_ + pending_ - 1)];
    if (previous.buttons == current.buttons) {
      // Motion only since a report the guest has not read: merge.
      if (kind_ == HidKind::kMouse) {
        previous.x += current.x;
        previous.y += current.y;
        current.x = current.y = 0;
      } else {
        previous.x = current.x;
        previous.y = current.y;
      }
      previous.z += current.z;
      current.z = 0;
      return true;
    }
  }
  PointerState& next = queue_[wrap(head_ + pending_ + 1)];
  next = current;
  next.z = 0;
  if (kind_ == HidKind::kMouse) next.x = next.y = 0;
  ++pending_;
  return true;
}

uint8_t HidDevice::leds() const {
  std::lock_guard lock(mutex_);
  return leds_;
}

bool HidDevice::has_report_locked() {
  if (kind_ == HidKind::kKeyboard ? key_count_ > 0 : pending_ > 0) return true;
  return idle_ != 0 && std::chrono::steady_clock::now() >= next_idle_;
}

void HidDevice::arm_idle_locked() {
  if (idle_ != 0) next_idle_ = std::chrono::steady_clock::now() + idle_ * kIdleUnit;
}

size_t HidDevice::pointer_report_locked(std::span<uint8_t> out) {
  // Nothing new: the last report again (relative motion then is zero).
  PointerState& e = queue_[wrap(pending_ > 0 ? head_ : head_ + kHidQueueLength - 1)];
  int dx = e.x, dy = e.y;
  if (kind_ == HidKind::kMouse) {
    dx = std::clamp(e.x, -127, 127);
    dy = std::clamp(e.y, -127, 127);
    e.x -= dx;
    e.y -= dy;
  }
  int dz = std::clamp(e.z, -127, 127);
  e.z -= dz;
  if (pending_ > 0 && e.z == 0 && (kind_ == HidKind::kTablet || (e.x == 0 && e.y == 0))) {
    head_ = wrap(head_ + 1);
    --pending_;
  }
  dz = -dz;  // HID's wheel counts up as positive
  uint8_t report[6];
  size_t length = 0;
  report[length++] = e.buttons;
  if (kind_ == HidKind::kMouse) {
    report[length++] = static_cast<uint8_t>(static_cast<int8_t>(dx));
    report[length++] = static_cast<uint8_t>(static_cast<int8_t>(dy));
  } else {
    report[length++] = static_cast<uint8_t>(dx);
    report[length++] = static_cast<uint8_t>(dx >> 8);
    report[length++] = static_cast<uint8_t>(dy);
    report[length++] = static_cast<uint8_t>(dy >> 8);
  }
  report[length++] = static_cast<uint8_t>(static_cast<int8_t>(dz));
  length = std::min(length, out.size());
  std::memcpy(out.data(), report, length);
  return length;
}

void HidDevice::apply_key_locked(const KeyEvent& event) {
  if (event.usage >= kHidFirstModifier && event.usage <= kHidLastModifier) {
    const uint8_t bit = static_cast<uint8_t>(1u << (event.usage - kHidFirstModifier));
    modifiers_ = event.down ? static_cast<uint8_t>(modifiers_ | bit)
                            : static_cast<uint8_t>(modifiers_ & ~bit);
    return;
  }
  unsigned i = 0;
  const unsigned held = std::min<unsigned>(pressed_count_, kBootKeys);
  while (i < held && pressed_[i] != event.usage) ++i;
  if (event.down) {
    if (i < held) return;
    if (pressed_count_ < kBootKeys) pressed_[pressed_count_] = event.usage;
    // Beyond six keys only the count is kept: reports say "rollover".
    if (pressed_count_ < kHidQueueLength) ++pressed_count_;
  } else {
    if (i < held) {
      // The last key takes the released one's slot, as QEMU.
      pressed_[i] = pressed_[held - 1];
      pressed_[held - 1] = 0;
    }
    if (i < held || pressed_count_ > kBootKeys) --pressed_count_;
  }
}

size_t HidDevice::keyboard_report_locked(std::span<uint8_t> out) {
  if (out.size() < 2) return 0;
  if (key_count_ > 0) {
    apply_key_locked(keys_[key_head_]);
    key_head_ = wrap(key_head_ + 1);
    --key_count_;
  }
  uint8_t report[8] = {modifiers_, 0};
  if (pressed_count_ > kBootKeys)
    std::fill(report + 2, report + 8, kRollover);
  else
    std::copy(pressed_.begin(), pressed_.end(), report + 2);
  const size_t length = std::min<size_t>(8, out.size());
  std::memcpy(out.data(), report, length);
  return length;
}

int HidDevice::handle_class_request(const SetupPacket& setup, std::span<uint8_t> data) {
  const uint16_t request = static_cast<uint16_t>(setup.request_type << 8 | setup.request);
  std::lock_guard lock(mutex_);
  switch (request) {
    case kInterfaceGetDescriptor: {
      if ((setup.value >> 8) != kDescriptorReport) return -1;
      const std::span<const uint8_t> report = hid_report_descriptor(kind_);
      const size_t length = std::min(report.size(), data.size());
      std::memcpy(data.data(), report.data(), length);
      return static_cast<int>(length);
    }
    case kGetReport:
      return static_cast<int>(kind_ == HidKind::kKeyboard ? keyboard_report_locked(data)
                                                          : pointer_report_locked(data));
    case kSetReport:
      if (kind_ != HidKind::kKeyboard) return -1;
      if (!data.empty()) leds_ = data[0];
      return 0;
    case kGetProtocol:
      if (kind_ == HidKind::kTablet) return -1;
      if (data.empty()) return 0;  // wLength 0: nothing to send, no error (QEMU)
      data[0] = protocol_;
      return 1;
    case kSetProtocol:
      if (kind_ == HidKind::kTablet) return -1;
      protocol_ = static_cast<uint8_t>(setup.value);
      return 0;
    case kGetIdle:
      if (data.empty()) return 0;
      data[0] = idle_;
      return 1;
    case kSetIdle:
      idle_ = static_cast<uint8_t>(setup.value >> 8);
      arm_idle_locked();
      return 0;
    default:
      return -1;
  }
}

UsbResult HidDevice::handle_data(UsbPid pid, unsigned endpoint, std::span<uint8_t> data) {
  if (pid != UsbPid::kIn || endpoint != 1) return {UsbStatus::kStall, 0};
  std::lock_guard lock(mutex_);
  if (!has_report_locked()) return {UsbStatus::kNak, 0};
  arm_idle_locked();
  const size_t length =
      kind_ == HidKind::kKeyboard ? keyboard_report_locked(data) : pointer_report_locked(data);
  return {UsbStatus::kOk, length};
}

namespace {
int scale_to_axis(unsigned value, unsigned size) {
  if (size == 0) return kAbsoluteMax / 2;
  value = std::min(value, size);
  return static_cast<int>(static_cast<uint64_t>(value) * kAbsoluteMax / size);
}
}  // namespace

void send_screen_pointer(HidDevice& tablet, unsigned x, unsigned y, unsigned width, unsigned height,
                         unsigned buttons) {
  tablet.move_absolute(PointerAxis::kX, scale_to_axis(x, width));
  tablet.move_absolute(PointerAxis::kY, scale_to_axis(y, height));
  tablet.button(PointerButton::kLeft, (buttons & 1) != 0);
  tablet.button(PointerButton::kMiddle, (buttons & 2) != 0);
  tablet.button(PointerButton::kRight, (buttons & 4) != 0);
  if (buttons & 8) {
    tablet.button(PointerButton::kWheelUp, true);
    tablet.button(PointerButton::kWheelUp, false);
  }
  if (buttons & 16) {
    tablet.button(PointerButton::kWheelDown, true);
    tablet.button(PointerButton::kWheelDown, false);
  }
  tablet.sync();
}

}  // namespace amber::hv::usb
