// SPDX-License-Identifier: GPL-2.0-or-later
// IdeBus: host-side removable media of an ATAPI CD-ROM (eject, insert),
// as QEMU's blockdev.c do_open_tray / blockdev-change-medium and
// hw/ide/core.c ide_cd_change_cb / ide_cd_eject_request_cb.
//
// Thread-safety: each call takes the bus's mutex, like the register
// accesses of the vCPU threads; a replaced image is destroyed after the
// mutex is released.
#include <utility>

#include "hv/devices/ide_bus.h"

namespace amber::hv::devices {
namespace {
// GESN media event codes.
constexpr uint8_t kEventEjectRequest = 0x01, kEventNewMedia = 0x02, kEventMediaRemoval = 0x03;
}  // namespace

std::optional<IdeBus::MediumState> IdeBus::medium(unsigned unit) const {
  std::lock_guard lock(mutex_);
  const Drive& d = drives_[unit & 1];
  if (unit > 1 || !d.present) return std::nullopt;
  MediumState state;
  state.cdrom = d.config.kind == IdeMediaKind::kCdrom;
  state.tray_open = d.tray_open;
  state.locked = d.locked;
  state.inserted = d.config.image != nullptr;
  return state;
}

Result<void> IdeBus::eject_medium(unsigned unit, bool force) {
  std::shared_ptr<block::Image> old;  // released after the lock
  std::lock_guard lock(mutex_);
  Drive& d = drives_[unit & 1];
  if (unit > 1 || !d.present) return Error(ErrorKind::kNotFound, "no such drive");
  if (d.config.kind != IdeMediaKind::kCdrom) return Error(ErrorKind::kUnsupported, "not removable");
  if (!d.tray_open) {
    if (d.locked) {
      // The guest is asked to let the medium go (GESN: eject request).
      d.media_event = true;
      d.media_event_code = kEventEjectRequest;
      if (!force) {
        set_irq();
        return Error(ErrorKind::kLocked, "locked");
      }
      d.locked = false;
    }
    d.tray_open = true;
    d.media_changed = 1;
    d.media_event = true;
    d.media_event_code = kEventMediaRemoval;
    set_irq();
  }
  old = std::move(d.config.image);
  d.config.image = nullptr;
  d.sectors = 0;
  return ok();
}

Result<void> IdeBus::insert_medium(unsigned unit, std::shared_ptr<block::Image> image) {
  std::shared_ptr<block::Image> old;  // released after the lock
  if (!image) return Error(ErrorKind::kInvalidArgument, "no image");
  std::lock_guard lock(mutex_);
  Drive& d = drives_[unit & 1];
  if (unit > 1 || !d.present) return Error(ErrorKind::kNotFound, "no such drive");
  if (d.config.kind != IdeMediaKind::kCdrom) return Error(ErrorKind::kUnsupported, "not removable");
  if (!d.tray_open && d.locked) {
    d.media_event = true;
    d.media_event_code = kEventEjectRequest;
    set_irq();
    return Error(ErrorKind::kLocked, "locked");
  }
  old = std::move(d.config.image);
  d.config.image = std::move(image);
  d.sectors = d.config.image->size() / 2048;
  d.tray_open = false;
  d.media_changed = 1;
  d.media_event = true;
  d.media_event_code = kEventNewMedia;
  set_irq();
  return ok();
}

}  // namespace amber::hv::devices
