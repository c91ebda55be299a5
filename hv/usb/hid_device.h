// SPDX-License-Identifier: GPL-2.0-or-later
// HidDevice: QEMU's usb-tablet, usb-mouse and usb-kbd (hw/usb/dev-hid.c
// over hw/input/hid.c): the descriptors of hid_descriptors.h, the HID
// class requests (GET_DESCRIPTOR report, GET_REPORT, SET_REPORT for the
// keyboard LEDs, GET/SET_IDLE, GET/SET_PROTOCOL) and the interrupt IN
// endpoint 1, which NAKs while there is nothing new to report.
//
// Input follows QEMU's model: events (absolute or relative motion, button
// changes, keys) accumulate until sync(); each sync makes one report
// visible to the guest (a queue of 16, as QEMU's; when the queue is full
// the newest motion still lands in the last report). Reports:
//  - tablet: buttons, X lo/hi, Y lo/hi (0..0x7FFF), wheel (6 bytes);
//  - mouse: buttons, dx, dy, wheel, each -127..127 (the rest carries over);
//  - keyboard: the 8-byte boot report (modifiers, 0, six keys), one key
//    event per report.
// Buttons: 1 left, 2 right, 4 middle; a wheel-up press is one step up.
//
// Thread-safety: the input methods may be called from any thread; the
// packet side is called by the controller (one at a time). One internal
// mutex guards the state both touch.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "hv/usb/hid_descriptors.h"
#include "hv/usb/usb_device.h"

namespace amber::hv::usb {

enum class PointerAxis { kX, kY };
enum class PointerButton { kLeft, kRight, kMiddle, kWheelUp, kWheelDown };

// QEMU's absolute axis range (INPUT_EVENT_ABS_MIN/MAX).
inline constexpr int kAbsoluteMax = 0x7FFF;
// hw/input/hid.c QUEUE_LENGTH.
inline constexpr unsigned kHidQueueLength = 16;

class HidDevice : public ControlPipeDevice {
 public:
  // serial_suffix: see hid_descriptors().
  explicit HidDevice(HidKind kind, const std::string& serial_suffix = "");

  HidKind kind() const { return kind_; }

  // --- input, any thread ---
  void move_absolute(PointerAxis axis, int value);  // clamped to 0..kAbsoluteMax
  void move_relative(PointerAxis axis, int delta);
  void button(PointerButton button, bool down);
  // Linux keycode; false if the keyboard has no such key (or this is not
  // a keyboard).
  bool key(unsigned linux_keycode, bool down);
  // Ends one input event: the accumulated state becomes a report.
  void sync();
  // The keyboard LEDs the guest set last (bit 0 num, 1 caps, 2 scroll).
  uint8_t leds() const;

  void reset() override;

 protected:
  int handle_class_request(const SetupPacket& setup, std::span<uint8_t> data) override;
  UsbResult handle_data(UsbPid pid, unsigned endpoint, std::span<uint8_t> data) override;

 private:
  struct PointerState {
    int x = 0, y = 0;  // tablet: position; mouse: pending motion
    int z = 0;         // wheel steps, positive = down (QEMU's dz)
    uint8_t buttons = 0;
  };
  struct KeyEvent {
    uint8_t usage = 0;
    bool down = false;
  };

  bool sync_locked();  // true when the guest has a new report
  bool has_report_locked();
  size_t pointer_report_locked(std::span<uint8_t> out);
  size_t keyboard_report_locked(std::span<uint8_t> out);
  void apply_key_locked(const KeyEvent& event);
  void arm_idle_locked();

  const HidKind kind_;
  mutable std::mutex mutex_;
  // Pointer: queue_[head_ .. head_ + pending_) are reports the guest has
  // not read; queue_[head_ + pending_] accumulates the next one.
  std::array<PointerState, kHidQueueLength> queue_{};
  unsigned head_ = 0;
  unsigned pending_ = 0;
  // Keyboard.
  std::array<KeyEvent, kHidQueueLength> keys_{};
  unsigned key_head_ = 0, key_count_ = 0;
  uint8_t modifiers_ = 0;
  std::array<uint8_t, 6> pressed_{};
  unsigned pressed_count_ = 0;  // may exceed 6: rollover error report
  uint8_t leds_ = 0;
  // HID class state.
  uint8_t protocol_ = 1;  // 1 = report protocol, 0 = boot
  uint8_t idle_ = 0;      // in 4 ms units; 0 = report only on change
  std::chrono::steady_clock::time_point next_idle_{};
};

// One pointer event of a screen (a VNC client's): x, y in a width x height
// screen scaled to 0..kAbsoluteMax as QEMU scales (value * 0x7FFF / size);
// buttons bit 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel down (one
// wheel step per call with the bit set); then sync. Any thread.
void send_screen_pointer(HidDevice& tablet, unsigned x, unsigned y, unsigned width, unsigned height,
                         unsigned buttons);

}  // namespace amber::hv::usb
