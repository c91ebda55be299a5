// SPDX-License-Identifier: GPL-2.0-or-later
// VncPointer: turns RFB PointerEvents (absolute x, y and a button mask)
// into what the machine's pointing device takes: an absolute pointer
// (a USB tablet) when the machine has one, else PS/2 relative motion
// (dx, dy from the previous position, wheel clicks as the IntelliMouse z).
//
// RFB's mask (RFC 6143 7.5.5): bit 0 left, 1 middle, 2 right, 3 wheel up,
// 4 wheel down; a wheel click is a press and a release of bit 3 or 4.
//
// Thread-safety: one instance per VNC client, used by the VNC server's
// thread only; the sinks must be safe from that thread.
#pragma once

#include <functional>
#include <optional>
#include <utility>

namespace amber::hv::display {

// Buttons as the sinks get them: PS/2 (and USB HID) order.
inline constexpr unsigned kPointerLeft = 0x01, kPointerRight = 0x02, kPointerMiddle = 0x04;
// Held wheel "buttons", given to the absolute sink as RFB has them.
inline constexpr unsigned kPointerWheelUp = 0x08, kPointerWheelDown = 0x10;

struct PointerSinks {
  // dx right, dy down, dz wheel clicks towards the user (down), buttons
  // kPointerLeft/Right/Middle held.
  std::function<void(int dx, int dy, int dz, unsigned buttons)> relative;
  // x < width, y < height on the screen the client sees; buttons as
  // relative's plus kPointerWheelUp/Down while held. Empty: no such device.
  std::function<void(unsigned x, unsigned y, unsigned width, unsigned height, unsigned buttons)>
      absolute;
};

class VncPointer {
 public:
  explicit VncPointer(PointerSinks sinks) : sinks_(std::move(sinks)) {}

  // One PointerEvent on a screen of width x height (coordinates past it
  // are clamped to its edge).
  void event(unsigned mask, int x, int y, unsigned width, unsigned height);

 private:
  PointerSinks sinks_;
  std::optional<std::pair<int, int>> last_;  // none before the first event
  unsigned last_mask_ = 0;
};

}  // namespace amber::hv::display
