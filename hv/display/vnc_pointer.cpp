// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/display/vnc_pointer.h"

#include <algorithm>

namespace amber::hv::display {
namespace {

constexpr unsigned kRfbLeft = 0x01, kRfbMiddle = 0x02, kRfbRight = 0x04;
constexpr unsigned kRfbWheelUp = 0x08, kRfbWheelDown = 0x10;

unsigned buttons_of(unsigned mask) {
  return ((mask & kRfbLeft) ? kPointerLeft : 0) | ((mask & kRfbRight) ? kPointerRight : 0) |
         ((mask & kRfbMiddle) ? kPointerMiddle : 0);
}

}  // namespace

void VncPointer::event(unsigned mask, int x, int y, unsigned width, unsigned height) {
  const int max_x = width ? static_cast<int>(width) - 1 : 0;
  const int max_y = height ? static_cast<int>(height) - 1 : 0;
  x = std::clamp(x, 0, max_x);
  y = std::clamp(y, 0, max_y);
  const unsigned pressed = mask & ~last_mask_;
  const unsigned changed = mask ^ last_mask_;
  last_mask_ = mask;
  const unsigned buttons = buttons_of(mask);
  if (sinks_.absolute) {
    last_ = std::pair{x, y};
    const unsigned wheel = ((mask & kRfbWheelUp) ? kPointerWheelUp : 0) |
                           ((mask & kRfbWheelDown) ? kPointerWheelDown : 0);
    // Clamped to [0, max] above, so the casts keep the values.
    sinks_.absolute(static_cast<unsigned>(x), static_cast<unsigned>(y), width, height,
                    buttons | wheel);
    return;
  }
  if (!sinks_.relative) return;
  int dx = 0, dy = 0;
  if (last_) {
    dx = x - last_->first;
    dy = y - last_->second;
  }
  last_ = std::pair{x, y};
  const int dz = ((pressed & kRfbWheelDown) ? 1 : 0) - ((pressed & kRfbWheelUp) ? 1 : 0);
  const bool buttons_changed = (changed & (kRfbLeft | kRfbMiddle | kRfbRight)) != 0;
  if (dx == 0 && dy == 0 && dz == 0 && !buttons_changed) return;
  sinks_.relative(dx, dy, dz, buttons);
}

}  // namespace amber::hv::display
