// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/i8042.h"

#include <algorithm>

#include "hv/devices/ps2_keymap.h"

namespace amber::hv::devices {
namespace {

constexpr uint64_t kDataOffset = 0;

// Status register.
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;
constexpr uint8_t kStatusCommand = 0x08;
constexpr uint8_t kStatusUnlocked = 0x10;
constexpr uint8_t kStatusAuxData = 0x20;

// Command byte.
constexpr uint8_t kModeKeyboardInt = 0x01;
constexpr uint8_t kModeMouseInt = 0x02;
constexpr uint8_t kModeDisableKeyboard = 0x10;
constexpr uint8_t kModeDisableMouse = 0x20;
constexpr uint8_t kModeTranslate = 0x40;

// Output port: reset line (active low), A20, and the two OBF copies.
constexpr uint8_t kOutportReset = 0x01;
constexpr uint8_t kOutportA20 = 0x02;
constexpr uint8_t kOutportDefault = 0xCF;
constexpr uint8_t kOutportFull = 0x10, kOutportAuxFull = 0x20;

constexpr uint8_t kAck = 0xFA, kResend = 0xFE;
constexpr uint8_t kMouseRemote = 0x40, kMouseEnabled = 0x20, kMouseScale21 = 0x10;

// Bytes a port holds: key events stop at 16 (PS/2's buffer), replies and
// mouse packets at 256.
constexpr size_t kKeyboardEventLimit = 16;
constexpr size_t kQueueLimit = 256;
// Motion kept for later packets (a host cannot make us loop for long).
constexpr int kMaxPendingMotion = 1 << 16;

int clamp_motion(long value) {
  return static_cast<int>(std::clamp<long>(value, -kMaxPendingMotion, kMaxPendingMotion));
}

}  // namespace

I8042::I8042(std::function<void()> reset, IrqLine keyboard_irq, IrqLine mouse_irq)
    : reset_(std::move(reset)),
      keyboard_irq_(std::move(keyboard_irq)),
      mouse_irq_(std::move(mouse_irq)) {
  reset_locked();
}

void I8042::reset_keyboard() {
  scan_enabled_ = true;
  scancode_set_ = 2;
  leds_ = 0;
}

void I8042::reset_mouse_settings() {
  mouse_sample_rate_ = 100;
  mouse_resolution_ = 2;
  mouse_status_ = 0;
}

void I8042::reset_locked() {
  mode_ = kModeKeyboardInt | kModeMouseInt;
  outport_ = kOutportDefault;
  pending_command_ = 0;
  last_write_command_ = true;
  controller_pending_ = controller_aux_ = false;
  ob_full_ = ob_aux_ = false;
  ob_ = 0;
  keyboard_ = {};
  mouse_ = {};
  reset_keyboard();
  reset_mouse_settings();
  mouse_wrap_ = false;
  mouse_type_ = mouse_detect_ = 0;
  mouse_dx_ = mouse_dy_ = mouse_dz_ = 0;
  mouse_buttons_ = 0;
  update_irq();
}

void I8042::reset_state() {
  std::lock_guard lock(mutex_);
  reset_locked();
}

void I8042::push(Port& port, uint8_t byte) {
  if (port.queue.size() < kQueueLimit) port.queue.push_back(byte);
}

void I8042::controller_reply(uint8_t byte, bool aux) {
  controller_byte_ = byte;  // one latch: a second reply replaces the first
  controller_pending_ = true;
  controller_aux_ = aux;
}

void I8042::update_irq() {
  const bool keyboard = ob_full_ && !ob_aux_ && (mode_ & kModeKeyboardInt) != 0 &&
                        (mode_ & kModeDisableKeyboard) == 0;
  const bool mouse = ob_full_ && ob_aux_ && (mode_ & kModeMouseInt) != 0;
  if (keyboard != keyboard_level_) {
    keyboard_level_ = keyboard;
    if (keyboard_irq_) keyboard_irq_(keyboard);
  }
  if (mouse != mouse_level_) {
    mouse_level_ = mouse;
    if (mouse_irq_) mouse_irq_(mouse);
  }
}

void I8042::update() {
  if (!ob_full_) {
    if (controller_pending_) {
      ob_ = controller_byte_;
      ob_aux_ = controller_aux_;
      controller_pending_ = false;
      ob_full_ = true;
    } else if (!keyboard_.queue.empty() && (mode_ & kModeDisableKeyboard) == 0) {
      ob_ = keyboard_.queue.front();
      keyboard_.queue.pop_front();
      ob_aux_ = false;
      ob_full_ = true;
    } else if (!mouse_.queue.empty() && (mode_ & kModeDisableMouse) == 0) {
      ob_ = mouse_.queue.front();
      mouse_.queue.pop_front();
      ob_aux_ = true;
      ob_full_ = true;
      mouse_sync();  // room again for motion held back
    }
  }
  update_irq();
}

void I8042::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  uint8_t value;
  if (offset == kDataOffset) {
    value = ob_;  // an empty buffer reads the last byte again, as QEMU
    if (ob_full_) {
      ob_full_ = false;
      update_irq();  // the line drops before the next byte raises it
      update();
    }
  } else {
    value = static_cast<uint8_t>(
        kStatusSystemFlag | kStatusUnlocked | (last_write_command_ ? kStatusCommand : 0) |
        (ob_full_ ? kStatusOutputFull : 0) | (ob_full_ && ob_aux_ ? kStatusAuxData : 0));
  }
  std::fill(data.begin(), data.end(), value);
}

void I8042::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  const uint8_t value = data[0];
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    if (offset != kDataOffset) {
      last_write_command_ = true;
      controller_command(value, reset);
    } else {
      last_write_command_ = false;
      controller_data(value, reset);
    }
    update();
  }
  if (reset) reset_();
}

void I8042::controller_command(uint8_t value, bool& reset) {
  // 0xF0..0xFF pulse output-port bits 3..0 (0 = pulse); only bit 0, the
  // reset line, does anything.
  if ((value & 0xF0) == 0xF0) {
    if ((value & 1) == 0) reset = true;
    return;
  }
  switch (value) {
    case 0x20:
      controller_reply(mode_, false);
      break;
    case 0x60:
    case 0xD1:
    case 0xD2:
    case 0xD3:
    case 0xD4:
      pending_command_ = value;
      break;
    case 0xA7:
      mode_ |= kModeDisableMouse;
      break;
    case 0xA8:
      mode_ &= ~kModeDisableMouse;
      break;
    case 0xA9:  // aux interface test: passed
    case 0xAB:  // keyboard interface test: passed
      controller_reply(0x00, false);
      break;
    case 0xAA:  // self test passed
      controller_reply(0x55, false);
      break;
    case 0xAD:
      mode_ |= kModeDisableKeyboard;
      break;
    case 0xAE:
      mode_ &= ~kModeDisableKeyboard;
      break;
    case 0xC0:  // input port: keyboard not inhibited
      controller_reply(0x80, false);
      break;
    case 0xD0: {
      uint8_t port = outport_ & ~(kOutportFull | kOutportAuxFull);
      if (ob_full_) port |= ob_aux_ ? kOutportAuxFull : kOutportFull;
      controller_reply(port, false);
      break;
    }
    case 0xDD:
      outport_ &= ~kOutportA20;
      break;
    case 0xDF:
      outport_ |= kOutportA20;
      break;
    default:
      break;  // unknown: ignored, as QEMU
  }
}

void I8042::controller_data(uint8_t value, bool& reset) {
  const uint8_t command = pending_command_;
  pending_command_ = 0;
  switch (command) {
    case 0x60:
      mode_ = value;
      break;
    case 0xD1:
      outport_ = value;
      if ((value & kOutportReset) == 0) reset = true;
      break;
    case 0xD2:
      controller_reply(value, false);
      break;
    case 0xD3:
      controller_reply(value, true);
      break;
    case 0xD4:
      mode_ &= ~kModeDisableMouse;  // talking to the mouse enables its port
      mouse_write(value);
      break;
    default:
      mode_ &= ~kModeDisableKeyboard;  // and to the keyboard, its port
      keyboard_write(value);
      break;
  }
}

void I8042::keyboard_write(uint8_t value) {
  const bool translate = (mode_ & kModeTranslate) != 0;
  const uint8_t command = keyboard_.command;
  keyboard_.command = 0;
  switch (command) {
    case 0xF0:  // scan code set: 0 asks, 1..3 sets
      if (value == 0) {
        push(keyboard_, kAck);
        push(keyboard_, translate ? translate_set2(scancode_set_) : scancode_set_);
      } else if (value <= 3) {
        scancode_set_ = value;
        push(keyboard_, kAck);
      } else {
        push(keyboard_, kResend);
      }
      return;
    case 0xED:
      leds_ = value & 0x07;
      push(keyboard_, kAck);
      return;
    case 0xF3:  // typematic rate and delay: no repeat is generated
      push(keyboard_, kAck);
      return;
    default:
      break;
  }
  switch (value) {
    case 0xFF:
      reset_keyboard();
      keyboard_.queue.clear();
      push(keyboard_, kAck);
      push(keyboard_, 0xAA);
      break;
    case 0xF2:  // MF2 keyboard; AB 41 when translated, as QEMU
      push(keyboard_, kAck);
      push(keyboard_, 0xAB);
      push(keyboard_, translate ? 0x41 : 0x83);
      break;
    case 0xEE:
      push(keyboard_, 0xEE);
      break;
    case 0xF4:
      scan_enabled_ = true;
      push(keyboard_, kAck);
      break;
    case 0xF5:
      reset_keyboard();
      scan_enabled_ = false;
      push(keyboard_, kAck);
      break;
    case 0xF6:
      reset_keyboard();
      push(keyboard_, kAck);
      break;
    case 0xF0:
    case 0xED:
    case 0xF3:
      keyboard_.command = value;
      push(keyboard_, kAck);
      break;
    case 0x00:
    case 0xF7:
    case 0xF8:
    case 0xF9:
    case 0xFA:
    case 0xFB:
    case 0xFC:
    case 0xFD:  // set 3 key types: acknowledged, no effect
      push(keyboard_, kAck);
      break;
    default:
      push(keyboard_, kResend);
      break;
  }
}

void I8042::mouse_write(uint8_t value) {
  const uint8_t command = mouse_.command;
  mouse_.command = 0;
  if (command == 0xF3) {
    mouse_sample_rate_ = value;
    // The IntelliMouse knocks: 200,100,80 -> wheel; 200,200,80 -> 5 buttons.
    switch (mouse_detect_) {
      case 1:
        mouse_detect_ = value == 100 ? 2 : value == 200 ? 3 : 0;
        break;
      case 2:
        if (value == 80) mouse_type_ = 3;
        mouse_detect_ = 0;
        break;
      case 3:
        if (value == 80) mouse_type_ = 4;
        mouse_detect_ = 0;
        break;
      default:
        mouse_detect_ = value == 200 ? 1 : 0;
        break;
    }
    push(mouse_, kAck);
    return;
  }
  if (command == 0xE8) {
    mouse_resolution_ = value;
    push(mouse_, kAck);
    return;
  }
  if (mouse_wrap_) {
    if (value == 0xEC) {
      mouse_wrap_ = false;
      push(mouse_, kAck);
      return;
    }
    if (value != 0xFF) {
      push(mouse_, value);
      return;
    }
  }
  switch (value) {
    case 0xE6:
      mouse_status_ &= ~kMouseScale21;
      push(mouse_, kAck);
      break;
    case 0xE7:
      mouse_status_ |= kMouseScale21;
      push(mouse_, kAck);
      break;
    case 0xE8:
    case 0xF3:
      mouse_.command = value;
      push(mouse_, kAck);
      break;
    case 0xE9:
      push(mouse_, kAck);
      push(mouse_, mouse_status_);
      push(mouse_, mouse_resolution_);
      push(mouse_, mouse_sample_rate_);
      break;
    case 0xEA:
      mouse_status_ &= ~kMouseRemote;
      push(mouse_, kAck);
      break;
    case 0xEB:
      push(mouse_, kAck);
      mouse_packet();
      break;
    case 0xEE:
      mouse_wrap_ = true;
      push(mouse_, kAck);
      break;
    case 0xF0:
      mouse_status_ |= kMouseRemote;
      push(mouse_, kAck);
      break;
    case 0xF2:
      push(mouse_, kAck);
      push(mouse_, mouse_type_);
      break;
    case 0xF4:
      mouse_status_ |= kMouseEnabled;
      push(mouse_, kAck);
      break;
    case 0xF5:
      mouse_status_ &= ~kMouseEnabled;
      push(mouse_, kAck);
      break;
    case 0xF6:
      reset_mouse_settings();
      push(mouse_, kAck);
      break;
    case 0xFF:
      reset_mouse_settings();
      mouse_type_ = 0;
      mouse_wrap_ = false;
      mouse_dx_ = mouse_dy_ = mouse_dz_ = 0;
      mouse_.queue.clear();
      push(mouse_, kAck);
      push(mouse_, 0xAA);
      push(mouse_, mouse_type_);
      break;
    default:
      break;  // unknown: no answer, as QEMU
  }
}

void I8042::mouse_packet() {
  const int dx = std::clamp(mouse_dx_, -127, 127);
  const int dy = std::clamp(mouse_dy_, -127, 127);
  int dz = 0;
  push(mouse_, static_cast<uint8_t>(0x08 | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0) |
                                    (mouse_buttons_ & 0x07)));
  push(mouse_, static_cast<uint8_t>(dx & 0xFF));
  push(mouse_, static_cast<uint8_t>(dy & 0xFF));
  if (mouse_type_ == 3) {
    dz = std::clamp(mouse_dz_, -127, 127);
    push(mouse_, static_cast<uint8_t>(dz & 0xFF));
  } else if (mouse_type_ == 4) {
    dz = std::clamp(mouse_dz_, -7, 7);
    push(mouse_, static_cast<uint8_t>((dz & 0x0F) | ((mouse_buttons_ & 0x18) << 1)));
  } else {
    mouse_dz_ = 0;  // a plain mouse has no wheel to report it later
  }
  mouse_dx_ -= dx;
  mouse_dy_ -= dy;
  mouse_dz_ -= dz;
}

void I8042::mouse_sync() {
  if ((mouse_status_ & kMouseRemote) != 0) return;
  const size_t needed = mouse_type_ != 0 ? 4 : 3;
  while (mouse_dx_ != 0 || mouse_dy_ != 0 || mouse_dz_ != 0) {
    if (mouse_.queue.size() + needed > kQueueLimit) return;
    mouse_packet();
  }
}

bool I8042::key_event(unsigned linux_keycode, bool down) {
  const ScancodeSequence set2 = set2_sequence(linux_keycode, down);
  if (set2.size == 0) return false;
  std::lock_guard lock(mutex_);
  if (!scan_enabled_) return false;
  // A keyboard in set 1 numbers keys as the translation does; XLATE then
  // translates whatever the keyboard sends (set 1 codes get mangled, as on
  // real hardware).
  auto translated = [](const uint8_t* in, size_t n, uint8_t* out) {
    size_t m = 0;
    bool release = false;
    for (size_t i = 0; i < n; ++i) {
      if (in[i] == 0xF0) {
        release = true;
        continue;
      }
      out[m++] = static_cast<uint8_t>(translate_set2(in[i]) | (release ? 0x80 : 0));
      release = false;
    }
    return m;
  };
  uint8_t bytes[kMaxScancodeBytes];
  size_t n = set2.size;
  std::copy_n(set2.bytes, n, bytes);
  if (scancode_set_ == 1) n = translated(bytes, n, bytes);
  if ((mode_ & kModeTranslate) != 0) n = translated(bytes, n, bytes);
  if (keyboard_.queue.size() + n > kKeyboardEventLimit) return false;
  keyboard_.queue.insert(keyboard_.queue.end(), bytes, bytes + n);
  update();
  return true;
}

void I8042::mouse_event(int dx, int dy, int dz, unsigned buttons) {
  std::lock_guard lock(mutex_);
  if ((mouse_status_ & kMouseEnabled) == 0) return;
  mouse_dx_ = clamp_motion(static_cast<long>(mouse_dx_) + dx);
  mouse_dy_ = clamp_motion(static_cast<long>(mouse_dy_) - dy);  // PS/2: up is positive
  mouse_dz_ = clamp_motion(static_cast<long>(mouse_dz_) + dz);
  const bool buttons_changed = (buttons & 0x1F) != mouse_buttons_;
  mouse_buttons_ = static_cast<uint8_t>(buttons & 0x1F);
  if ((mouse_status_ & kMouseRemote) == 0) {
    const size_t needed = mouse_type_ != 0 ? 4 : 3;
    // A button change alone is a packet too.
    if (buttons_changed && mouse_dx_ == 0 && mouse_dy_ == 0 && mouse_dz_ == 0 &&
        mouse_.queue.size() + needed <= kQueueLimit)
      mouse_packet();
    mouse_sync();
  }
  update();
}

}  // namespace amber::hv::devices
