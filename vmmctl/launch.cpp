// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/launch.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "vmmctl/option_list.h"

namespace amber::vmmctl {
namespace {

Error bad(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

Result<block::DiscardMode> parse_discard(std::string_view value) {
  if (value == "unmap" || value == "on") return block::DiscardMode::kUnmap;
  if (value == "ignore" || value == "off") return block::DiscardMode::kIgnore;
  return bad("--disk discard: '" + std::string(value) + "' is not unmap or ignore");
}

std::string_view to_string(block::DiscardMode mode) {
  return mode == block::DiscardMode::kUnmap ? "unmap" : "ignore";
}

constexpr std::pair<DiskErrorPolicy, std::string_view> kErrorPolicies[] = {
    {DiskErrorPolicy::kEnospc, "enospc"},
    {DiskErrorPolicy::kStop, "stop"},
    {DiskErrorPolicy::kReport, "report"},
    {DiskErrorPolicy::kIgnore, "ignore"},
};

// Wraps block's own message ("Invalid cache option: x") with the option.
template <typename T>
Result<T> with_option(Result<T> parsed, std::string_view option) {
  if (parsed.ok()) return parsed;
  return Error(ErrorKind::kInvalidArgument,
               std::string(option) + ": " + std::move(parsed).error().message());
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data())
    return bad("size '" + std::string(text) + "' is not a number");
  const std::string_view suffix(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  unsigned shift = 20;  // bare numbers are MiB, like QEMU's -m
  if (suffix == "K" || suffix == "k")
    shift = 10;
  else if (suffix == "M" || suffix == "m")
    shift = 20;
  else if (suffix == "G" || suffix == "g")
    shift = 30;
  else if (suffix == "T" || suffix == "t")
    shift = 40;
  else if (suffix == "B" || suffix == "b")
    shift = 0;
  else if (!suffix.empty())
    return bad("size '" + std::string(text) + "': unknown suffix (K, M, G, T, B)");
  if (number > (UINT64_MAX >> shift)) return bad("size '" + std::string(text) + "' is too large");
  return number << shift;
}

std::string format_size(uint64_t bytes) {
  static constexpr std::pair<unsigned, char> kUnits[] = {
      {40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  for (const auto& [shift, suffix] : kUnits) {
    const uint64_t unit = 1ULL << shift;
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes >> shift) + suffix;
  }
  return std::to_string(bytes) + "B";
}

std::string_view to_string(DiskErrorPolicy policy) {
  for (const auto& [value, name] : kErrorPolicies)
    if (value == policy) return name;
  return "report";
}

Result<DiskErrorPolicy> parse_write_error_policy(std::string_view name) {
  for (const auto& [value, known] : kErrorPolicies)
    if (known == name) return value;
  return bad("--disk werror: '" + std::string(name) + "' is not enospc, stop, report or ignore");
}

Result<DiskErrorPolicy> parse_read_error_policy(std::string_view name) {
  for (const auto& [value, known] : kErrorPolicies)
    if (known == name && value != DiskErrorPolicy::kEnospc) return value;
  return bad("--disk rerror: '" + std::string(name) + "' is not stop, report or ignore");
}

Result<DiskSettings> parse_disk(std::string_view text) {
  DiskSettings disk;
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--disk"));
  for (auto& [key, value] : items) {
    if (key == "path" || key.empty()) {
      disk.path = value;
    } else if (key == "format") {
      AMBER_TRY_ASSIGN(disk.format, with_option(block::parse_format(value), "--disk format"));
    } else if (key == "cache") {
      AMBER_TRY_ASSIGN(disk.cache, with_option(block::io::parse_cache_mode(value), "--disk cache"));
    } else if (key == "aio") {
      AMBER_TRY_ASSIGN(disk.aio, with_option(block::io::parse_aio_backend(value), "--disk aio"));
    } else if (key == "queues") {
      AMBER_TRY_ASSIGN(disk.queues, parse_unsigned(value, "--disk queues", 1, kMaxDiskQueues));
    } else if (key == "discard") {
      AMBER_TRY_ASSIGN(disk.discard, parse_discard(value));
    } else if (key == "serial") {
      if (value.size() > kMaxDiskSerial) return bad("--disk serial: at most 20 characters");
      disk.serial = value;
    } else if (key == "readonly") {
      AMBER_TRY_ASSIGN(const bool read_only, parse_on_off(value, "--disk readonly"));
      disk.access = read_only ? DiskAccess::kReadOnly : DiskAccess::kReadWrite;
    } else if (key == "werror") {
      AMBER_TRY_ASSIGN(disk.write_error, parse_write_error_policy(value));
    } else if (key == "rerror") {
      AMBER_TRY_ASSIGN(disk.read_error, parse_read_error_policy(value));
    } else if (key == "secret-fd") {
      AMBER_TRY_ASSIGN(const unsigned fd,
                       parse_unsigned(value, "--disk secret-fd", 3, kMaxSecretFd));
      disk.secret_fd = static_cast<int>(fd);
    } else if (key == "addr") {
      AMBER_TRY_ASSIGN(disk.addr, parse_pci_slot(value, "--disk addr"));
    } else {
      return bad("--disk: unknown key '" + key +
                 "' (path, format, cache, aio, queues, discard, serial, readonly, werror, "
                 "rerror, secret-fd, addr)");
    }
  }
  if (disk.path.empty()) return bad("--disk: path=FILE is required");
  return disk;
}

std::string format_disk(const DiskSettings& disk) {
  std::string out = "path=" + escape_option_value(disk.path);
  if (disk.format) out += ",format=" + std::string(block::to_string(*disk.format));
  out += ",cache=" + std::string(block::io::to_string(disk.cache));
  out += ",aio=" + std::string(block::io::to_string(disk.aio));
  out += ",queues=" + std::to_string(disk.queues);
  out += ",discard=" + std::string(to_string(disk.discard));
  if (!disk.serial.empty()) out += ",serial=" + escape_option_value(disk.serial);
  out += disk.access == DiskAccess::kReadOnly ? ",readonly=on" : ",readonly=off";
  // Only when not the default: command lines of disks without a policy stay
  // what they were before werror/rerror existed.
  if (disk.write_error != DiskSettings{}.write_error)
    out += ",werror=" + std::string(to_string(disk.write_error));
  if (disk.read_error != DiskSettings{}.read_error)
    out += ",rerror=" + std::string(to_string(disk.read_error));
  if (disk.secret_fd >= 0) out += ",secret-fd=" + std::to_string(disk.secret_fd);
  if (disk.addr) out += ",addr=" + format_pci_slot(*disk.addr);
  return out;
}

Result<IdeDriveSettings> parse_ide(std::string_view text) {
  IdeDriveSettings drive;
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--ide"));
  bool have_path = false;
  for (auto& [key, value] : items) {
    if (key == "path" || key.empty()) {
      drive.path = value;
      have_path = true;
    } else if (key == "bus") {
      AMBER_TRY_ASSIGN(drive.bus, parse_unsigned(value, "--ide bus", 0, 1));
    } else if (key == "unit") {
      AMBER_TRY_ASSIGN(drive.unit, parse_unsigned(value, "--ide unit", 0, 1));
    } else if (key == "media") {
      if (value == "disk")
        drive.media = IdeMedia::kDisk;
      else if (value == "cdrom")
        drive.media = IdeMedia::kCdrom;
      else
        return bad("--ide media: '" + value + "' is not disk or cdrom");
    } else if (key == "format") {
      AMBER_TRY_ASSIGN(drive.format, with_option(block::parse_format(value), "--ide format"));
    } else if (key == "cache") {
      AMBER_TRY_ASSIGN(drive.cache, with_option(block::io::parse_cache_mode(value), "--ide cache"));
    } else if (key == "readonly") {
      AMBER_TRY_ASSIGN(const bool read_only, parse_on_off(value, "--ide readonly"));
      drive.access = read_only ? DiskAccess::kReadOnly : DiskAccess::kReadWrite;
    } else if (key == "serial") {
      if (value.size() > kMaxDiskSerial) return bad("--ide serial: at most 20 characters");
      drive.serial = value;
    } else if (key == "werror") {
      AMBER_TRY_ASSIGN(drive.write_error, parse_write_error_policy(value));
    } else if (key == "rerror") {
      AMBER_TRY_ASSIGN(drive.read_error, parse_read_error_policy(value));
    } else {
      return bad("--ide: unknown key '" + key +
                 "' (bus, unit, media, path, format, cache, readonly, serial, werror, rerror)");
    }
  }
  if (drive.media == IdeMedia::kDisk && drive.path.empty())
    return bad("--ide: path=FILE is required for a disk");
  (void)have_path;
  if (drive.media == IdeMedia::kCdrom) drive.access = DiskAccess::kReadOnly;
  return drive;
}

std::string format_ide(const IdeDriveSettings& drive) {
  std::string out = "bus=" + std::to_string(drive.bus) + ",unit=" + std::to_string(drive.unit);
  out += drive.media == IdeMedia::kCdrom ? ",media=cdrom" : ",media=disk";
  if (!drive.path.empty()) out += ",path=" + escape_option_value(drive.path);
  if (drive.format) out += ",format=" + std::string(block::to_string(*drive.format));
  out += ",cache=" + std::string(block::io::to_string(drive.cache));
  out += drive.access == DiskAccess::kReadOnly ? ",readonly=on" : ",readonly=off";
  if (!drive.serial.empty()) out += ",serial=" + escape_option_value(drive.serial);
  if (drive.write_error != IdeDriveSettings{}.write_error)
    out += ",werror=" + std::string(to_string(drive.write_error));
  if (drive.read_error != IdeDriveSettings{}.read_error)
    out += ",rerror=" + std::string(to_string(drive.read_error));
  return out;
}

Result<ScsiDiskSettings> parse_scsi(std::string_view text) {
  ScsiDiskSettings disk;
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--scsi"));
  for (auto& [key, value] : items) {
    if (key == "path" || key.empty()) {
      disk.path = value;
    } else if (key == "format") {
      AMBER_TRY_ASSIGN(disk.format, with_option(block::parse_format(value), "--scsi format"));
    } else if (key == "cache") {
      AMBER_TRY_ASSIGN(disk.cache, with_option(block::io::parse_cache_mode(value), "--scsi cache"));
    } else if (key == "discard") {
      if (value == "unmap" || value == "on")
        disk.discard = block::DiscardMode::kUnmap;
      else if (value == "ignore" || value == "off")
        disk.discard = block::DiscardMode::kIgnore;
      else
        return bad("--scsi discard: '" + value + "' is not unmap or ignore");
    } else if (key == "target") {
      AMBER_TRY_ASSIGN(disk.target, parse_unsigned(value, "--scsi target", 0, kMaxScsiTarget));
    } else if (key == "lun") {
      AMBER_TRY_ASSIGN(disk.lun, parse_unsigned(value, "--scsi lun", 0, kMaxScsiLun));
    } else if (key == "readonly") {
      AMBER_TRY_ASSIGN(const bool read_only, parse_on_off(value, "--scsi readonly"));
      disk.access = read_only ? DiskAccess::kReadOnly : DiskAccess::kReadWrite;
    } else if (key == "serial") {
      if (value.size() > kMaxDiskSerial) return bad("--scsi serial: at most 20 characters");
      disk.serial = value;
    } else if (key == "werror") {
      AMBER_TRY_ASSIGN(disk.write_error, parse_write_error_policy(value));
    } else if (key == "rerror") {
      AMBER_TRY_ASSIGN(disk.read_error, parse_read_error_policy(value));
    } else {
      return bad("--scsi: unknown key '" + key +
                 "' (path, format, cache, discard, target, lun, readonly, serial, werror, "
                 "rerror)");
    }
  }
  if (disk.path.empty()) return bad("--scsi: path=FILE is required");
  return disk;
}

std::string format_scsi(const ScsiDiskSettings& disk) {
  std::string out = "path=" + escape_option_value(disk.path);
  if (disk.format) out += ",format=" + std::string(block::to_string(*disk.format));
  out += ",cache=" + std::string(block::io::to_string(disk.cache));
  out += ",discard=" + std::string(to_string(disk.discard));
  out += ",target=" + std::to_string(disk.target) + ",lun=" + std::to_string(disk.lun);
  out += disk.access == DiskAccess::kReadOnly ? ",readonly=on" : ",readonly=off";
  if (!disk.serial.empty()) out += ",serial=" + escape_option_value(disk.serial);
  if (disk.write_error != ScsiDiskSettings{}.write_error)
    out += ",werror=" + std::string(to_string(disk.write_error));
  if (disk.read_error != ScsiDiskSettings{}.read_error)
    out += ",rerror=" + std::string(to_string(disk.read_error));
  return out;
}

std::string_view to_string(SerialKind kind) {
  switch (kind) {
    case SerialKind::kNone:
      return "none";
    case SerialKind::kStdio:
      return "stdio";
    case SerialKind::kPty:
      return "pty";
    case SerialKind::kFile:
      return "file";
    case SerialKind::kUnix:
      return "unix";
  }
  return "none";
}

Result<SerialSettings> parse_serial(std::string_view text) {
  for (const SerialKind kind : {SerialKind::kNone, SerialKind::kStdio, SerialKind::kPty})
    if (text == to_string(kind)) return SerialSettings{kind, ""};
  for (const SerialKind kind : {SerialKind::kFile, SerialKind::kUnix}) {
    const std::string prefix = std::string(to_string(kind)) + ":";
    if (text.substr(0, prefix.size()) != prefix) continue;
    if (text.size() == prefix.size())
      return bad("--serial " + std::string(text) + ": missing path");
    return SerialSettings{kind, std::string(text.substr(prefix.size()))};
  }
  return bad("--serial: '" + std::string(text) +
             "' is not one of pty, stdio, file:PATH, unix:PATH, none");
}

std::string format_serial(const SerialSettings& serial) {
  if (serial.kind == SerialKind::kFile || serial.kind == SerialKind::kUnix)
    return std::string(to_string(serial.kind)) + ":" + serial.path;
  return std::string(to_string(serial.kind));
}

namespace {

// The host part of --vnc as inet_pton reads it: an IPv4 address, an IPv6
// address (without brackets), or empty.
Result<void> check_vnc_host(const std::string& host) {
  if (host.empty()) return ok();
  unsigned char address[16];
  const int family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (::inet_pton(family, host.c_str(), address) != 1)
    return bad("--vnc: '" + host + "' is not an IPv4 address or a bracketed IPv6 address");
  return ok();
}

}  // namespace

Result<VncSettings> parse_vnc(std::string_view text) {
  VncSettings vnc;
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--vnc"));
  bool have_address = false;
  for (auto& [key, value] : items) {
    if (key.empty() && !have_address) {
      have_address = true;
      std::string_view rest = value;
      if (!rest.empty() && rest.front() == '[') {
        const size_t close = rest.find(']');
        if (close == std::string_view::npos)
          return bad("--vnc: '" + value + "' has no ']' after the IPv6 address");
        vnc.host = std::string(rest.substr(1, close - 1));
        if (vnc.host.find(':') == std::string::npos)
          return bad("--vnc: '" + vnc.host + "' in brackets is not an IPv6 address");
        rest.remove_prefix(close + 1);
        if (rest.empty() || rest.front() != ':')
          return bad("--vnc: '" + value + "' needs ':DISPLAY' after the address");
        rest.remove_prefix(1);
      } else {
        const size_t colon = rest.find(':');
        if (colon == std::string_view::npos)
          return bad("--vnc: '" + value + "' is not HOST:DISPLAY");
        vnc.host = std::string(rest.substr(0, colon));
        if (vnc.host.find(':') != std::string::npos)
          return bad("--vnc: an IPv6 address is written in brackets ([::1]:0)");
        rest.remove_prefix(colon + 1);
      }
      AMBER_TRY_ASSIGN(vnc.display, parse_unsigned(rest, "--vnc display", 0, kMaxVncDisplay));
      AMBER_TRY(check_vnc_host(vnc.host));
    } else if (key == "password") {
      AMBER_TRY_ASSIGN(vnc.password, parse_on_off(value, "--vnc password"));
    } else {
      return bad("--vnc: unknown key '" + (key.empty() ? value : key) +
                 "' (HOST:DISPLAY first, then password=on|off)");
    }
  }
  if (!have_address) return bad("--vnc: HOST:DISPLAY is required");
  return vnc;
}

std::string format_vnc(const VncSettings& vnc) {
  const bool v6 = vnc.host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + vnc.host + "]" : vnc.host;
  out += ":" + std::to_string(vnc.display);
  if (vnc.password) out += ",password=on";
  return out;
}

namespace {

constexpr std::pair<UsbDeviceKind, std::string_view> kUsbDeviceNames[] = {
    {UsbDeviceKind::kTablet, "tablet"},
    {UsbDeviceKind::kKeyboard, "keyboard"},
    {UsbDeviceKind::kMouse, "mouse"},
};
}  // namespace

std::string_view to_string(UsbDeviceKind kind) {
  for (const auto& [value, name] : kUsbDeviceNames)
    if (value == kind) return name;
  return "tablet";
}

namespace {

// "uhci" or "ehci[,addr=SLOT]" (SLOT hex, QEMU's addr=0x5 or 05).
Result<void> parse_usb_model(std::string_view text, LaunchSettings& settings) {
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--usb"));
  bool first = true;
  for (auto& [key, value] : items) {
    if (first && key.empty()) {
      first = false;
      if (value == "uhci") {
        settings.usb_model = UsbModel::kPiix3Uhci;
      } else if (value == "ehci") {
        settings.usb_model = UsbModel::kIch9Ehci;
      } else {
        return bad("--usb: '" + std::string(value) + "' is not uhci or ehci");
      }
      continue;
    }
    first = false;
    if (key == "addr") {
      std::string digits(value);
      if (digits.rfind("0x", 0) == 0 || digits.rfind("0X", 0) == 0) digits = digits.substr(2);
      // QEMU's SLOT.FN: the EHCI set always takes functions 0-2 and 7.
      if (const size_t dot = digits.find('.'); dot != std::string::npos) digits.resize(dot);
      char* end = nullptr;
      const unsigned long slot = std::strtoul(digits.c_str(), &end, 16);
      if (digits.empty() || *end != '\0' || slot > 31)
        return bad("--usb: addr='" + std::string(value) + "' is not a PCI slot (hex, 0x0..0x1f)");
      settings.usb_slot = static_cast<unsigned>(slot);
      continue;
    }
    return bad("--usb: unknown key '" + std::string(key) + "' (model, addr=)");
  }
  return ok();
}

}  // namespace

Result<UsbDeviceKind> parse_usb_device(std::string_view name) {
  for (const auto& [value, known] : kUsbDeviceNames)
    if (known == name) return value;
  return bad("--usb-device: '" + std::string(name) + "' is not tablet, keyboard or mouse");
}

int machine_pci_root_uid(const std::string& machine) {
  if (machine == "pc") return 0;
  unsigned major = 0, minor = 0;
  char tail = 0;
  if (std::sscanf(machine.c_str(), "pc-i440fx-%u.%u%c", &major, &minor, &tail) == 2 &&
      machine[10] >= '0' && machine[10] <= '9')
    return major > 5 || (major == 5 && minor >= 2) ? 0 : 1;
  // The oldest names (pc-0.x, pc-1.0 .. pc-1.3) are i440FX machines too.
  if (std::sscanf(machine.c_str(), "pc-%u.%u%c", &major, &minor, &tail) == 2 && major <= 1 &&
      machine[3] >= '0' && machine[3] <= '9')
    return 1;
  return -1;
}

std::string firmware_path(const LaunchSettings& settings) {
  return settings.firmware.empty() ? std::string(kDefaultFirmware) : settings.firmware;
}

Result<void> validate(const LaunchSettings& settings) {
  if (settings.name.empty()) return bad("--name: must not be empty");
  if (settings.vga_vram < (1ULL << 20) || settings.vga_vram > (256ULL << 20) ||
      (settings.vga_vram & (settings.vga_vram - 1)) != 0)
    return bad("--vga vram: must be a power of two from 1M to 256M");
  if (settings.memory < kMinMemory) return bad("--memory: at least 16M is needed");
  if (settings.memory > kMaxMemory) return bad("--memory: at most 1T is supported");
  if (settings.memory % kMemoryGranule != 0)
    return bad("--memory: the size must be a multiple of 1M");
  if (settings.cpus < 1 || settings.cpus > kMaxCpus)
    return bad("--cpus: '" + std::to_string(settings.cpus) + "' is not a number from 1 to 64");
  if (settings.disks.size() > kMaxDisks) return bad("--disk: at most 16 disks");
  for (const DiskSettings& disk : settings.disks) {
    if (disk.path.empty()) return bad("--disk: path=FILE is required");
    if (disk.queues < 1 || disk.queues > kMaxDiskQueues)
      return bad("--disk queues: '" + std::to_string(disk.queues) +
                 "' is not a number from 1 to 64");
    if (disk.serial.size() > kMaxDiskSerial) return bad("--disk serial: at most 20 characters");
    if (disk.read_error == DiskErrorPolicy::kEnospc)
      return bad("--disk rerror: 'enospc' is a werror policy only");
    if (disk.secret_fd != -1 &&
        (disk.secret_fd < 3 || disk.secret_fd > static_cast<int>(kMaxSecretFd)))
      return bad("--disk secret-fd: '" + std::to_string(disk.secret_fd) +
                 "' is not a file descriptor from 3 to " + std::to_string(kMaxSecretFd));
    if (disk.addr) AMBER_TRY(validate_device_slot(*disk.addr, "--disk addr"));
  }
  if (settings.ide.size() > kMaxIdeDrives) return bad("--ide: at most 4 drives");
  for (size_t i = 0; i < settings.ide.size(); ++i) {
    const IdeDriveSettings& drive = settings.ide[i];
    if (drive.bus > 1 || drive.unit > 1) return bad("--ide: bus and unit are 0 or 1");
    if (drive.media == IdeMedia::kDisk && drive.path.empty())
      return bad("--ide: path=FILE is required for a disk");
    if (drive.media == IdeMedia::kCdrom && drive.access != DiskAccess::kReadOnly)
      return bad("--ide: a cdrom is read-only");
    if (drive.serial.size() > kMaxDiskSerial) return bad("--ide serial: at most 20 characters");
    if (drive.read_error == DiskErrorPolicy::kEnospc)
      return bad("--ide rerror: 'enospc' is a werror policy only");
    for (size_t j = 0; j < i; ++j)
      if (settings.ide[j].bus == drive.bus && settings.ide[j].unit == drive.unit)
        return bad("--ide: bus " + std::to_string(drive.bus) + " unit " +
                   std::to_string(drive.unit) + " is used twice");
  }
  if (settings.scsi.size() > kMaxScsiDisks) return bad("--scsi: at most 16 disks");
  if (!settings.scsi.empty() && settings.disks.size() >= kMaxDisks)
    return bad("--scsi: no PCI slot left after 16 --disk");
  if (settings.scsi_addr) {
    if (settings.scsi.empty())
      return bad("--scsi-controller: there is no controller without a --scsi disk");
    AMBER_TRY(validate_device_slot(*settings.scsi_addr, "--scsi-controller addr"));
  }
  if (settings.vga_addr) {
    if (!settings.vga) return bad("--vga addr: only with --vga std");
    AMBER_TRY(validate_device_slot(*settings.vga_addr, "--vga addr"));
  }
  for (size_t i = 0; i < settings.scsi.size(); ++i) {
    const ScsiDiskSettings& disk = settings.scsi[i];
    if (disk.path.empty()) return bad("--scsi: path=FILE is required");
    if (disk.target > kMaxScsiTarget || disk.lun > kMaxScsiLun)
      return bad("--scsi: target is 0..255 and lun 0..16383");
    if (disk.serial.size() > kMaxDiskSerial) return bad("--scsi serial: at most 20 characters");
    if (disk.read_error == DiskErrorPolicy::kEnospc)
      return bad("--scsi rerror: 'enospc' is a werror policy only");
    for (size_t j = 0; j < i; ++j)
      if (settings.scsi[j].target == disk.target && settings.scsi[j].lun == disk.lun)
        return bad("--scsi: target " + std::to_string(disk.target) + " lun " +
                   std::to_string(disk.lun) + " is used twice");
  }
  if (settings.scsi_queues < 1 || settings.scsi_queues > kMaxScsiQueues)
    return bad("--scsi-queues: '" + std::to_string(settings.scsi_queues) +
               "' is not a number from 1 to 62");
  if (settings.scsi_queues != 1 && settings.scsi.empty())
    return bad("--scsi-queues: there is no --scsi disk (no virtio-scsi controller)");
  const bool with_path =
      settings.serial.kind == SerialKind::kFile || settings.serial.kind == SerialKind::kUnix;
  if (with_path == settings.serial.path.empty())
    return bad("--serial: a path is needed with file: and unix:, and only there");
  if (!settings.machine.empty() && machine_pci_root_uid(settings.machine) < 0)
    return bad("--machine: '" + settings.machine +
               "' is not an i440FX machine type (pc, pc-i440fx-X.Y)");
  if (!settings.kernel.empty() && !settings.firmware.empty())
    return bad("--kernel and --firmware cannot be used together");
  if (!settings.uuid.empty()) {
    AMBER_TRY_ASSIGN(auto bytes, parse_uuid(settings.uuid));
    if (format_uuid(bytes) != settings.uuid)
      return bad("--uuid: '" + settings.uuid + "' is not lowercase");
  }
  if (settings.kernel.empty() && (!settings.initrd.empty() || !settings.cmdline.empty()))
    return bad("--initrd and --cmdline need --kernel");
  if (settings.vnc) {
    if (!settings.vga) return bad("--vnc needs --vga std (the display it shows)");
    if (settings.vnc->display > kMaxVncDisplay)
      return bad("--vnc: display " + std::to_string(settings.vnc->display) +
                 " puts the port above 65535 (5900+DISPLAY; at most " +
                 std::to_string(kMaxVncDisplay) + ")");
    AMBER_TRY(check_vnc_host(settings.vnc->host));
  }
  if (!settings.usb_devices.empty() && !settings.usb)
    return bad("--usb-device needs --usb (the UHCI controller)");
  if (settings.usb_model == UsbModel::kPiix3Uhci && settings.usb_devices.size() > kMaxUsbDevices)
    return bad("--usb-device: at most 2 devices (the UHCI root hub has two ports)");
  if (settings.usb_devices.size() > kMaxEhciUsbDevices)
    return bad("--usb-device: at most 6 devices (the EHCI root hub has six ports)");
  if (settings.usb_slot && settings.usb_model != UsbModel::kIch9Ehci)
    return bad("--usb: addr= is for the EHCI (the UHCI is at 00:01.2)");
  if (settings.usb_slot && (*settings.usb_slot < 3 || *settings.usb_slot > 31))
    return bad("--usb ehci,addr=: slot 0x3..0x1f (0-2 are the host bridge, PIIX3 and VGA)");
  if (settings.nics.size() > kMaxNics) return bad("--nic: at most 4 network cards");
  for (const NicSettings& nic : settings.nics) AMBER_TRY(validate_nic(nic));
  return ok();
}

Result<std::vector<std::string>> to_argv(const LaunchSettings& settings) {
  AMBER_TRY(validate(settings));
  std::vector<std::string> argv = {"--name",
                                   settings.name,
                                   "--memory",
                                   "size=" + format_size(settings.memory) + ",hugepages=" +
                                       (settings.hugepages == Hugepages::kOn ? "on" : "off"),
                                   "--cpus",
                                   std::to_string(settings.cpus)};
  auto add = [&argv](std::string_view option, const std::string& value) {
    if (value.empty()) return;
    argv.emplace_back(option);
    argv.push_back(value);
  };
  add("--firmware", settings.firmware);
  add("--kernel", settings.kernel);
  add("--initrd", settings.initrd);
  add("--cmdline", settings.cmdline);
  for (const IdeDriveSettings& drive : settings.ide) add("--ide", format_ide(drive));
  for (const DiskSettings& disk : settings.disks) add("--disk", format_disk(disk));
  for (const ScsiDiskSettings& disk : settings.scsi) add("--scsi", format_scsi(disk));
  if (settings.scsi_addr) add("--scsi-controller", "addr=" + format_pci_slot(*settings.scsi_addr));
  if (settings.scsi_queues != 1) add("--scsi-queues", std::to_string(settings.scsi_queues));
  add("--serial", format_serial(settings.serial));
  add("--control", settings.control);
  add("--machine", settings.machine);
  if (!settings.debugcon.empty()) add("--debugcon", "file:" + settings.debugcon);
  add("--uuid", settings.uuid);
  for (const std::string& value : format_smbios(settings.smbios)) add("--smbios", value);
  if (!settings.hpet) add("--hpet", "off");
  if (!settings.acpi) add("--acpi", "off");
  if (settings.rtc_localtime || settings.rtc_catchup)
    add("--rtc", std::string("base=") + (settings.rtc_localtime ? "localtime" : "utc") +
                     ",driftfix=" + (settings.rtc_catchup ? "slew" : "none"));
  if (settings.pit_discard) add("--pit", "lost_tick_policy=discard");
  if (settings.vga) {
    std::string vga = "std";
    if (settings.vga_vram != (16ULL << 20))
      vga += ",vram=" + std::to_string(settings.vga_vram >> 20) + "M";
    if (!settings.vga_romfile.empty())
      vga += ",romfile=" + escape_option_value(settings.vga_romfile);
    if (settings.vga_addr) vga += ",addr=" + format_pci_slot(*settings.vga_addr);
    add("--vga", vga);
  }
  if (settings.vnc) add("--vnc", format_vnc(*settings.vnc));
  if (settings.usb && settings.usb_model == UsbModel::kPiix3Uhci) argv.emplace_back("--usb");
  if (settings.usb && settings.usb_model == UsbModel::kIch9Ehci) {
    std::string usb = "ehci";
    if (settings.usb_slot) {
      char slot[16];
      std::snprintf(slot, sizeof(slot), ",addr=0x%x", *settings.usb_slot);
      usb += slot;
    }
    add("--usb", usb);
  }
  for (const UsbDeviceKind kind : settings.usb_devices)
    add("--usb-device", std::string(to_string(kind)));
  for (const NicSettings& nic : settings.nics) add("--nic", format_nic(nic));
  add("--hyperv", format_hyperv(settings.hyperv));
  if (settings.on_reboot == RebootAction::kExit) argv.emplace_back("--no-reboot");
  return argv;
}

namespace {

// The options that take a value (all but --no-reboot and --usb), with their
// aliases.
constexpr std::string_view kValueOptions[] = {"--name",
                                              "--memory",
                                              "-m",
                                              "--cpus",
                                              "--smp",
                                              "--firmware",
                                              "--disk",
                                              "--ide",
                                              "--scsi",
                                              "--serial",
                                              "--control",
                                              "--kernel",
                                              "--initrd",
                                              "--cmdline",
                                              "--append",
                                              "--debugcon",
                                              "--machine",
                                              "--uuid",
                                              "--smbios",
                                              "--hpet",
                                              "--acpi",
                                              "--rtc",
                                              "--pit",
                                              "--vga",
                                              "--vnc",
                                              "--usb-device",
                                              "--nic",
                                              "--hyperv",
                                              "--scsi-controller",
                                              "--scsi-queues"};

Result<void> parse_memory(std::string_view text, LaunchSettings& settings) {
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--memory"));
  for (auto& [key, value] : items) {
    if (key.empty() || key == "size") {
      AMBER_TRY_ASSIGN(settings.memory, parse_size(value));
    } else if (key == "hugepages") {
      AMBER_TRY_ASSIGN(const bool on, parse_on_off(value, "--memory hugepages"));
      settings.hugepages = on ? Hugepages::kOn : Hugepages::kOff;
    } else {
      return bad("--memory: unknown key '" + key + "' (size, hugepages)");
    }
  }
  return ok();
}

Result<void> parse_vga(std::string_view text, LaunchSettings& settings) {
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--vga"));
  for (auto& [key, value] : items) {
    if (key.empty() || key == "type") {
      if (value == "none") {
        settings.vga = false;
        continue;
      }
      if (value != "std") return bad("--vga: '" + value + "' is not std or none");
      settings.vga = true;
    } else if (key == "vram") {
      AMBER_TRY_ASSIGN(settings.vga_vram, parse_size(value));
    } else if (key == "romfile") {
      if (value.empty()) return bad("--vga romfile: must not be empty");
      settings.vga_romfile = value;
    } else if (key == "addr") {
      AMBER_TRY_ASSIGN(settings.vga_addr, parse_pci_slot(value, "--vga addr"));
    } else {
      return bad("--vga: unknown key '" + key + "' (vram, romfile, addr)");
    }
  }
  return ok();
}

Result<void> parse_rtc(std::string_view text, LaunchSettings& settings) {
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--rtc"));
  for (auto& [key, value] : items) {
    if (key == "base") {
      if (value != "utc" && value != "localtime")
        return bad("--rtc base: '" + value + "' is not utc or localtime");
      settings.rtc_localtime = value == "localtime";
    } else if (key == "driftfix") {
      if (value != "none" && value != "slew")
        return bad("--rtc driftfix: '" + value + "' is not none or slew");
      settings.rtc_catchup = value == "slew";
    } else {
      return bad("--rtc: unknown key '" + key + "' (base, driftfix)");
    }
  }
  return ok();
}

// One option with its value; `option` is the spelling on the command line.
Result<void> apply_option(std::string_view option, const std::string& value,
                          LaunchSettings& settings) {
  if (option == "--name") {
    settings.name = value;
  } else if (option == "--memory" || option == "-m") {
    AMBER_TRY(parse_memory(value, settings));
  } else if (option == "--cpus" || option == "--smp") {
    AMBER_TRY_ASSIGN(settings.cpus, parse_unsigned(value, "--cpus", 1, kMaxCpus));
  } else if (option == "--firmware") {
    if (value.empty()) return bad("--firmware: path must not be empty");
    settings.firmware = value;
  } else if (option == "--disk") {
    if (settings.disks.size() == kMaxDisks) return bad("--disk: at most 16 disks");
    AMBER_TRY_ASSIGN(DiskSettings disk, parse_disk(value));
    settings.disks.push_back(std::move(disk));
  } else if (option == "--ide") {
    if (settings.ide.size() == kMaxIdeDrives) return bad("--ide: at most 4 drives");
    AMBER_TRY_ASSIGN(IdeDriveSettings drive, parse_ide(value));
    settings.ide.push_back(std::move(drive));
  } else if (option == "--scsi") {
    if (settings.scsi.size() == kMaxScsiDisks) return bad("--scsi: at most 16 disks");
    AMBER_TRY_ASSIGN(ScsiDiskSettings disk, parse_scsi(value));
    settings.scsi.push_back(std::move(disk));
  } else if (option == "--scsi-controller") {
    AMBER_TRY_ASSIGN(auto items, split_option_list(value, "--scsi-controller"));
    for (auto& [key, v] : items) {
      if (key != "addr") return bad("--scsi-controller: unknown key '" + key + "' (addr)");
      AMBER_TRY_ASSIGN(settings.scsi_addr, parse_pci_slot(v, "--scsi-controller addr"));
    }
  } else if (option == "--scsi-queues") {
    AMBER_TRY_ASSIGN(settings.scsi_queues,
                     parse_unsigned(value, "--scsi-queues", 1, kMaxScsiQueues));
  } else if (option == "--serial") {
    AMBER_TRY_ASSIGN(settings.serial, parse_serial(value));
  } else if (option == "--control") {
    if (value.empty()) return bad("--control: path must not be empty");
    settings.control = value;
  } else if (option == "--kernel") {
    settings.kernel = value;
  } else if (option == "--initrd") {
    settings.initrd = value;
  } else if (option == "--cmdline" || option == "--append") {
    settings.cmdline = value;
  } else if (option == "--machine") {
    if (value.empty()) return bad("--machine: must not be empty");
    settings.machine = value;
  } else if (option == "--hpet") {
    AMBER_TRY_ASSIGN(settings.hpet, parse_on_off(value, "--hpet"));
  } else if (option == "--acpi") {
    AMBER_TRY_ASSIGN(settings.acpi, parse_on_off(value, "--acpi"));
  } else if (option == "--rtc") {
    AMBER_TRY(parse_rtc(value, settings));
  } else if (option == "--vga") {
    AMBER_TRY(parse_vga(value, settings));
  } else if (option == "--vnc") {
    AMBER_TRY_ASSIGN(settings.vnc, parse_vnc(value));
  } else if (option == "--pit") {
    AMBER_TRY_ASSIGN(auto items, split_option_list(value, "--pit"));
    for (auto& [key, v] : items) {
      if (key != "lost_tick_policy")
        return bad("--pit: unknown key '" + key + "' (lost_tick_policy)");
      if (v != "delay" && v != "discard")
        return bad("--pit lost_tick_policy: '" + v + "' is not delay or discard");
      settings.pit_discard = v == "discard";
    }
  } else if (option == "--usb-device") {
    if (settings.usb_devices.size() == kMaxEhciUsbDevices)
      return bad("--usb-device: at most 6 devices (the EHCI root hub has six ports)");
    AMBER_TRY_ASSIGN(const UsbDeviceKind kind, parse_usb_device(value));
    settings.usb_devices.push_back(kind);
  } else if (option == "--nic") {
    if (settings.nics.size() == kMaxNics) return bad("--nic: at most 4 network cards");
    AMBER_TRY_ASSIGN(NicSettings nic, parse_nic(value));
    settings.nics.push_back(std::move(nic));
  } else if (option == "--hyperv") {
    AMBER_TRY_ASSIGN(settings.hyperv, parse_hyperv(value));
  } else if (option == "--uuid") {
    AMBER_TRY_ASSIGN(auto bytes, parse_uuid(value));
    settings.uuid = format_uuid(bytes);
  } else if (option == "--smbios") {
    AMBER_TRY(apply_smbios(value, settings.smbios, settings.uuid));
  } else if (option == "--debugcon") {
    if (value.rfind("file:", 0) == 0 && value.size() > 5)
      settings.debugcon = value.substr(5);
    else if (value == "none")
      settings.debugcon.clear();
    else
      return bad("--debugcon: '" + value + "' is not file:PATH or none");
  } else {
    return bad("unknown option '" + std::string(option) + "' (see --help)");
  }
  return ok();
}

}  // namespace

Result<LaunchSettings> parse_argv(std::span<const std::string> args) {
  LaunchSettings settings;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string option = args[i];
    if (option == "--no-reboot") {
      settings.on_reboot = RebootAction::kExit;
      continue;
    }
    if (option == "--usb" || option.rfind("--usb=", 0) == 0) {
      // A flag (the UHCI), or with a model: --usb=MODEL or --usb MODEL
      // (a next argument that is not an option).
      settings.usb = true;
      std::string model;
      if (option.size() > 5) {
        model = option.substr(6);
      } else if (i + 1 < args.size() && !args[i + 1].empty() && args[i + 1][0] != '-') {
        model = args[++i];
      }
      if (!model.empty()) AMBER_TRY(parse_usb_model(model, settings));
      continue;
    }
    std::optional<std::string> value;  // from --option=value
    if (const size_t equals = option.find('=');
        option.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = option.substr(equals + 1);
      option.resize(equals);
    }
    if (std::find(std::begin(kValueOptions), std::end(kValueOptions), option) ==
        std::end(kValueOptions))
      return bad("unknown option '" + option + "' (see --help)");
    if (!value) {
      if (i + 1 == args.size()) return bad(option + ": missing value");
      value = args[++i];
    }
    AMBER_TRY(apply_option(option, *value, settings));
  }
  AMBER_TRY(validate(settings));
  return settings;
}

}  // namespace amber::vmmctl
