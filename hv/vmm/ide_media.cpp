// SPDX-License-Identifier: GPL-2.0-or-later
// IDE drive ids, query-block rows and the removable-media commands.
#include "hv/vmm/ide_media.h"

#include <memory>
#include <utility>

#include "block/image.h"

namespace amber::hv::vmm {
namespace {

Error device_error(ErrorKind kind, const std::string& id, std::string_view what) {
  return Error(kind, "Device '" + id + "' " + std::string(what));
}

// The bus's refusal in QEMU's words.
Error from_bus(const IdeDriveHandle& drive, const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kLocked:
      return device_error(ErrorKind::kLocked, drive.id,
                          "is locked and force was not specified, wait for tray to open and "
                          "try again");
    case ErrorKind::kUnsupported:
      return device_error(ErrorKind::kUnsupported, drive.id, "is not removable");
    default:
      return device_error(error.kind(), drive.id, error.message());
  }
}

}  // namespace

std::string ide_drive_id(unsigned bus, unsigned unit) {
  return "ide0-" + std::to_string(bus) + "-" + std::to_string(unit);
}

void set_block_counters(vmmctl::BlockInfo& info, const virtio::BlkStats& s) {
  auto copy = [](const virtio::OpStats& from) {
    return vmmctl::BlockOpCounters{from.ops, from.bytes, from.total_ns, from.failed};
  };
  info.read = copy(s.read);
  info.write = copy(s.write);
  info.flush = copy(s.flush);
  info.discard = copy(s.discard);
  auto errors = [&s](virtio::BlkOperation operation) {
    using virtio::IoErrorClass;
    return vmmctl::BlockErrorCounters{s.io_error_count(operation, IoErrorClass::kEio),
                                      s.io_error_count(operation, IoErrorClass::kEnospc),
                                      s.io_error_count(operation, IoErrorClass::kOther)};
  };
  info.io_errors = {errors(virtio::BlkOperation::kRead), errors(virtio::BlkOperation::kWrite),
                    errors(virtio::BlkOperation::kFlush), errors(virtio::BlkOperation::kDiscard),
                    errors(virtio::BlkOperation::kWriteZeroes)};
}

vmmctl::BlockInfo ide_block_info(const IdeDriveHandle& drive) {
  vmmctl::BlockInfo info;
  info.device = drive.id;
  info.path = drive.path;
  info.slot = 1;
  if (drive.ide_bus != nullptr) set_block_counters(info, drive.ide_bus->stats(drive.unit));
  if (drive.cdrom && drive.ide_bus != nullptr) {
    info.removable = true;
    if (auto state = drive.ide_bus->medium(drive.unit)) {
      info.tray_open = state->tray_open;
      info.locked = state->locked;
    }
  }
  return info;
}

Result<void> ide_eject(IdeDriveHandle& drive, bool force) {
  if (!drive.cdrom) return device_error(ErrorKind::kUnsupported, drive.id, "is not removable");
  if (auto done = drive.ide_bus->eject_medium(drive.unit, force); !done.ok())
    return from_bus(drive, done.error());
  drive.path.clear();
  return ok();
}

Result<void> ide_change_medium(IdeDriveHandle& drive, const vmmctl::ChangeMediumRequest& request) {
  if (!drive.cdrom) return device_error(ErrorKind::kUnsupported, drive.id, "is not removable");
  const std::string& mode = request.read_only_mode;
  if (!mode.empty() && mode != "retain" && mode != "read-only" && mode != "read-write")
    return Error(ErrorKind::kInvalidArgument,
                 "Parameter 'read-only-mode' does not accept value '" + mode + "'");
  if (mode == "read-write")
    return device_error(ErrorKind::kReadOnly, drive.id, "is a CD-ROM: its medium is read-only");
  block::OpenOptions open;
  if (!request.format.empty()) {
    auto format = block::parse_format(request.format);
    if (!format.ok())
      return Error(ErrorKind::kInvalidArgument, "Unknown driver '" + request.format + "'");
    open.format = *format;
  }
  open.cache = drive.cache;
  open.discard = block::DiscardMode::kIgnore;
  open.access = block::io::Access::kReadOnly;
  // Locking and sharing as the --ide drives: a shared lock, other readers welcome.
  auto image = block::open_image(request.filename, open);
  if (!image.ok())
    return Error(image.error().kind(),
                 "Could not open '" + request.filename + "': " + image.error().message());
  std::shared_ptr<block::Image> medium(std::move(image).value());
  if (auto done = drive.ide_bus->insert_medium(drive.unit, std::move(medium)); !done.ok())
    return from_bus(drive, done.error());
  drive.path = request.filename;
  return ok();
}

}  // namespace amber::hv::vmm
