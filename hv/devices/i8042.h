// SPDX-License-Identifier: GPL-2.0-or-later
// i8042 keyboard controller with a PS/2 keyboard (IRQ 1) and a PS/2 mouse
// on the aux port (IRQ 12), modelled on QEMU's pckbd + ps2 devices:
//  - port 0x64: status (OBF, SYSFLAG, CMD, UNLOCKED, AUXB) and the
//    controller commands (0x20/0x60 command byte, 0xA7/0xA8/0xAD/0xAE port
//    disable/enable, 0xA9/0xAA/0xAB tests, 0xC0 input port, 0xD0/0xD1
//    output port, 0xD2/0xD3 fake keyboard/aux bytes, 0xD4 write to the
//    mouse, 0xDD/0xDF A20, 0xF0..0xFF reset pulse);
//  - port 0x60: the one-byte output buffer and bytes for the keyboard (or
//    the mouse after 0xD4, or a command's argument);
//  - the command byte's interrupt enables (bit 0 kbd, bit 1 aux), port
//    disables (bits 4, 5) and XLATE (bit 6: the keyboard's set 2 codes
//    reach the guest as set 1);
//  - the keyboard answers reset, identify, echo, LEDs, typematic, scan code
//    set get/set (sets 1 and 2; set 3 is accepted and sends set 2 codes),
//    enable/disable/defaults; the mouse answers reset, identify (00, or 03
//    after the IntelliMouse sample-rate knock 200,100,80; 04 after
//    200,200,80), sample rate, resolution, scaling, status, stream/remote,
//    read data, wrap, enable/disable and defaults, and sends 3-byte motion
//    packets (4 with a wheel).
// Output is bounded: the keyboard holds 16 bytes of key events (a whole
// sequence or nothing), the mouse 256 bytes; command replies stop at 256.
// An interrupt line is high while the output buffer holds a byte from its
// port and that port's interrupt is enabled; reading the byte lowers it,
// and the next byte (controller replies first, then keyboard, then mouse)
// raises it again, so an edge-triggered PIC sees one edge per byte.
//
// Thread-safety: one mutex; port I/O from any vCPU thread, key_event and
// mouse_event from any other thread. The callbacks run under the mutex and
// must not call back into the device.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "hv/bus/io_bus.h"

namespace amber::hv::devices {

inline constexpr unsigned kKeyboardIrq = 1;
inline constexpr unsigned kMouseIrq = 12;

// PS/2 packet button bits (as mouse_event's `buttons`).
inline constexpr unsigned kMouseLeft = 0x01, kMouseRight = 0x02, kMouseMiddle = 0x04;

class I8042 : public bus::IoDevice {
 public:
  using IrqLine = std::function<void(bool level)>;
  explicit I8042(std::function<void()> reset, IrqLine keyboard_irq = {}, IrqLine mouse_irq = {});
  // Registered twice: offset 0 = port 0x60, offset 4 = port 0x64 (one range
  // 0x60..0x64 would swallow 0x61, which belongs to the PIT).
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset_state();

  // A key of the PC keyboard, by Linux input keycode (KEY_*), pressed or
  // released. False when the key was not sent: no such key, scanning
  // disabled, or the keyboard's buffer full.
  bool key_event(unsigned linux_keycode, bool down);
  // Pointer motion as a host reports it (dx right, dy down, dz wheel
  // clicks towards the user) and the buttons now held (kMouse*). Dropped
  // while the guest has not enabled reporting (0xF4).
  void mouse_event(int dx, int dy, int dz, unsigned buttons);

 private:
  struct Port {
    std::deque<uint8_t> queue;
    uint8_t command = 0;  // command waiting for its argument byte
  };
  // All under mutex_.
  void reset_locked();
  void reset_keyboard();
  void reset_mouse_settings();
  void push(Port& port, uint8_t byte);
  void controller_reply(uint8_t byte, bool aux);
  void controller_command(uint8_t value, bool& reset);
  void controller_data(uint8_t value, bool& reset);
  void keyboard_write(uint8_t value);
  void mouse_write(uint8_t value);
  void mouse_packet();
  void mouse_sync();
  void update();      // load the output buffer if empty, then the lines
  void update_irq();  // the two lines from the buffer's state

  std::mutex mutex_;
  std::function<void()> reset_;
  IrqLine keyboard_irq_, mouse_irq_;
  bool keyboard_level_ = false, mouse_level_ = false;

  // Controller.
  uint8_t mode_ = 0;  // the command byte
  uint8_t outport_ = 0;
  uint8_t pending_command_ = 0;  // controller command waiting for its data byte
  bool last_write_command_ = true;
  bool controller_pending_ = false, controller_aux_ = false;
  uint8_t controller_byte_ = 0;
  bool ob_full_ = false, ob_aux_ = false;
  uint8_t ob_ = 0;

  // Keyboard.
  Port keyboard_;
  bool scan_enabled_ = true;
  uint8_t scancode_set_ = 2;
  uint8_t leds_ = 0;

  // Mouse.
  Port mouse_;
  uint8_t mouse_status_ = 0;  // REMOTE 0x40, ENABLED 0x20, SCALE21 0x10
  uint8_t mouse_resolution_ = 2, mouse_sample_rate_ = 100;
  bool mouse_wrap_ = false;
  uint8_t mouse_type_ = 0;  // 0 PS/2, 3 IntelliMouse, 4 IntelliMouse Explorer
  uint8_t mouse_detect_ = 0;
  int mouse_dx_ = 0, mouse_dy_ = 0, mouse_dz_ = 0;
  uint8_t mouse_buttons_ = 0;
};

// Adapter: registers one port of a device with a fixed offset.
class PortAlias : public bus::IoDevice {
 public:
  PortAlias(bus::IoDevice* target, uint64_t offset) : target_(target), offset_(offset) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    target_->io_read(offset_ + offset, data);
  }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override {
    target_->io_write(offset_ + offset, data);
  }

 private:
  bus::IoDevice* target_;
  uint64_t offset_;
};

}  // namespace amber::hv::devices
