// SPDX-License-Identifier: GPL-2.0-or-later
// Launch settings: everything on amber-vmm's command line as plain values,
// with the two directions of the contract: to_argv() (what the daemon runs)
// and parse_argv() (what amber-vmm reads). parse_argv(to_argv(s)) == s for
// every valid s; the round trip is a unit test. The syntax is documented in
// doc/amber-vmm.md and in amber-vmm --help.
//
// Option values that hold a list (--memory, --disk) use QEMU's convention:
// items separated by ',', a literal ',' inside a value written as ',,'.
// Image formats, cache modes and aio backends use block's parsers, so every
// name block accepts (cache=off, aio=native, ...) is accepted here too.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "block/image.h"
#include "common/result.h"
#include "vmmctl/hyperv.h"
#include "vmmctl/pci_address.h"
#include "vmmctl/smbios.h"

namespace amber::vmmctl {

// Limits: KVM on x86 supports far more vCPUs, but a PC with SeaBIOS's MADT
// and the CMOS byte for the count is bounded by 255; 64 is what we test.
inline constexpr unsigned kMaxCpus = 64;
// Without addr= they take PCI bus 0 slots 3..18 (slot 0-2 are the host
// bridge, PIIX and VGA), so at most 16.
inline constexpr unsigned kMaxDisks = 16;
// virtio-blk's num_queues; one iothread each, so bounded by what we test.
inline constexpr unsigned kMaxDiskQueues = 64;
// virtio-blk GET_ID returns exactly 20 bytes.
inline constexpr size_t kMaxDiskSerial = 20;
// secret-fd=: descriptors 0-2 are stdio; above this is not a real launch.
inline constexpr unsigned kMaxSecretFd = 1023;
// Guest RAM: below 16 MiB SeaBIOS and the e820 layout do not fit; above
// 1 TiB is more than any host we target (and than 40-bit guest paths).
inline constexpr uint64_t kMinMemory = 16ULL << 20;
inline constexpr uint64_t kMaxMemory = 1ULL << 40;
// RAM is mapped in 1 MiB granules (the e820 map and CMOS count in MiB/KiB).
inline constexpr uint64_t kMemoryGranule = 1ULL << 20;

inline constexpr std::string_view kDefaultName = "amber";
inline constexpr uint64_t kDefaultMemory = 512ULL << 20;
// Used when neither --firmware nor --kernel is given.
inline constexpr std::string_view kDefaultFirmware = "/usr/share/seabios/bios.bin";
inline constexpr std::string_view kDefaultVgaRom = "/usr/share/seabios/vgabios-stdvga.bin";

enum class Hugepages { kOff, kOn };
enum class DiskAccess { kReadWrite, kReadOnly };
// What a guest reset does: reset the machine, or end the process
// (--no-reboot, SHUTDOWN reason guest-reset).
enum class RebootAction { kReset, kExit };
enum class SerialKind { kNone, kStdio, kPty, kFile, kUnix };
// What a disk does when the host fails a guest request (QEMU's werror= and
// rerror=, libvirt's error_policy and rerror_policy), with QEMU's meanings:
//  - kEnospc: stop the VM on ENOSPC (the host ran out of space), report
//    any other error (werror only; the werror default);
//  - kStop: stop the VM (run state "io-error") on any error; the request
//    is held and retried on resume;
//  - kReport: the guest gets VIRTIO_BLK_S_IOERR (the rerror default);
//  - kIgnore: the request completes as if it had succeeded. The guest's
//    data is then lost (a write) or garbage (a read) without its knowing.
enum class DiskErrorPolicy { kEnospc, kStop, kReport, kIgnore };

struct DiskSettings {
  std::string path;
  std::optional<block::ImageFormat> format;  // empty: probe
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  block::io::AioBackend aio = block::io::AioBackend::kThreads;
  block::DiscardMode discard = block::DiscardMode::kIgnore;
  DiskAccess access = DiskAccess::kReadWrite;
  unsigned queues = 1;
  std::string serial;  // empty: none (GET_ID answers zeros)
  // werror=: writes, flushes, discards and write-zeroes; rerror=: reads.
  // to_argv() writes them only when they differ from these defaults.
  DiskErrorPolicy write_error = DiskErrorPolicy::kEnospc;
  DiskErrorPolicy read_error = DiskErrorPolicy::kReport;  // never kEnospc
  // secret-fd=N: an inherited file descriptor holding the passphrase of an
  // encrypted (LUKS) image, read to its end and closed at start; the
  // passphrase itself is never on the command line. -1: none.
  int secret_fd = -1;
  // addr=SLOT: its PCI slot; empty: the first free one from slot 3.
  std::optional<PciSlot> addr;

  bool operator==(const DiskSettings&) const = default;
};

// An IDE drive on the PIIX3 controller (--ide): bus 0/1 (primary,
// secondary), unit 0/1 (master, slave); an ATA disk or an ATAPI CD-ROM
// (always read-only; path may be empty: no media).
enum class IdeMedia { kDisk, kCdrom };
inline constexpr unsigned kMaxIdeDrives = 4;

struct IdeDriveSettings {
  unsigned bus = 0;
  unsigned unit = 0;
  IdeMedia media = IdeMedia::kDisk;
  std::string path;
  std::optional<block::ImageFormat> format;  // empty: probe
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  DiskAccess access = DiskAccess::kReadWrite;  // a CD-ROM is read-only anyway
  std::string serial;                          // empty: QEMU's "QM0000N"
  // werror= / rerror= as --disk's (a CD-ROM takes them, but its reads
  // always report, as QEMU's ide-cd); written by to_argv() only when not
  // the defaults.
  DiskErrorPolicy write_error = DiskErrorPolicy::kEnospc;
  DiskErrorPolicy read_error = DiskErrorPolicy::kReport;

  bool operator==(const IdeDriveSettings&) const = default;
};

// A disk on the virtio-scsi controller (--scsi): target 0..255, LUN
// 0..16383, one controller for all of them (its own PCI slot: addr= of
// --scsi-controller, else the first free one after the virtio-blk disks).
inline constexpr unsigned kMaxScsiDisks = 16;
inline constexpr unsigned kMaxScsiTarget = 255;
inline constexpr unsigned kMaxScsiLun = 16383;
// --scsi-queues: the controller's request queues (virtio-scsi num_queues),
// one iothread each; the virtio-pci transport has 64 queues, two of them
// the control and event queues.
inline constexpr unsigned kMaxScsiQueues = 62;

struct ScsiDiskSettings {
  std::string path;
  std::optional<block::ImageFormat> format;  // empty: probe
  block::io::CacheMode cache = block::io::CacheMode::kWriteback;
  block::DiscardMode discard = block::DiscardMode::kIgnore;
  unsigned target = 0;
  unsigned lun = 0;
  DiskAccess access = DiskAccess::kReadWrite;
  std::string serial;  // empty: none (no VPD page 0x80)
  // werror= / rerror= as --disk's (QEMU's scsi-hd has them too).
  DiskErrorPolicy write_error = DiskErrorPolicy::kEnospc;
  DiskErrorPolicy read_error = DiskErrorPolicy::kReport;

  bool operator==(const ScsiDiskSettings&) const = default;
};

// A USB device on the PIIX3 UHCI controller's root ports (--usb-device),
// with QEMU's identities: usb-tablet (absolute pointer), usb-kbd, usb-mouse.
enum class UsbDeviceKind { kTablet, kKeyboard, kMouse };
// The UHCI root hub has two ports, one device each; the EHCI six.
inline constexpr unsigned kMaxUsbDevices = 2;
inline constexpr unsigned kMaxEhciUsbDevices = 6;
// The USB host controller of --usb: the PIIX3 UHCI (00:01.2), or ICH9's
// USB 2.0 set on one multi-function slot: EHCI1 (ich9-usb-ehci1) at
// function 7 and its companions UHCI1..3 at functions 0..2.
enum class UsbModel { kPiix3Uhci, kIch9Ehci };
// A network card (--nic): the model the guest sees and the host side its
// frames go to. At most kMaxNics; each takes one PCI slot (addr=, else the
// first free one after the disks and the SCSI controller).
inline constexpr unsigned kMaxNics = 4;
enum class NicModel { kE1000, kVirtio };
// virtio-net queue pairs (--nic queues=N): 1..kMaxNicQueues.
inline constexpr unsigned kMaxNicQueues = 8;
enum class NetBackend { kUser, kTap };

struct NicSettings {
  NicModel model = NicModel::kE1000;
  std::array<uint8_t, 6> mac{};
  NetBackend backend = NetBackend::kUser;
  int tap_fd = -1;  // kTap: an inherited fd of an attached tap device
  // kUser: QEMU -netdev user's net=, host=, dns=, dhcpstart=.
  std::string net = "10.0.2.0/24";
  std::string host = "10.0.2.2";
  std::string dns = "10.0.2.3";
  std::string dhcp_start = "10.0.2.15";
  std::vector<std::string> hostfwd;  // QEMU's hostfwd= syntax, e.g. "tcp:127.0.0.1:2222-:22"
  // Empty: /usr/lib/ipxe/qemu/efi-e1000.rom (efi-virtio.rom for
  // kVirtio) as QEMU 7.2's pc-i440fx-7.2 (skipped if absent); "none": no
  // ROM BAR.
  std::string romfile;
  // kVirtio only: RX/TX queue pairs (QEMU's virtio-net-pci mq/queues).
  unsigned queues = 1;
  // addr=SLOT: its PCI slot; empty: the first free one after the disks and
  // the SCSI controller.
  std::optional<PciSlot> addr;

  bool operator==(const NicSettings&) const = default;
};

// An IPv4 address in host byte order, and a network (QEMU's net=ADDR/BITS
// or ADDR/NETMASK).
struct Ipv4Net {
  uint32_t address = 0;
  uint32_t mask = 0;
};
// One hostfwd= rule: [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT;
// an empty address is 0 here (QEMU: any on the host, dhcpstart in the guest).
struct HostForward {
  bool udp = false;
  uint32_t host_address = 0;
  uint16_t host_port = 0;
  uint32_t guest_address = 0;
  uint16_t guest_port = 0;
};

struct SerialSettings {
  SerialKind kind = SerialKind::kNone;
  std::string path;  // kFile, kUnix

  bool operator==(const SerialSettings&) const = default;
};

// --vnc HOST:DISPLAY[,password=on|off] (QEMU's -vnc): a VNC server on TCP
// port 5900+DISPLAY showing the --vga display. host is an IPv4 address,
// an IPv6 address (written "[v6]" on the command line, held here without
// the brackets) or empty: every address. password=on: VNC authentication,
// and nobody gets in until change-vnc-password sets one.
inline constexpr unsigned kVncBasePort = 5900;
inline constexpr unsigned kMaxVncDisplay = 65535 - kVncBasePort;  // the port fits 16 bits

struct VncSettings {
  std::string host;
  unsigned display = 0;
  bool password = false;

  bool operator==(const VncSettings&) const = default;
};

struct LaunchSettings {
  std::string name = std::string(kDefaultName);
  uint64_t memory = kDefaultMemory;  // bytes
  Hugepages hugepages = Hugepages::kOff;
  unsigned cpus = 1;
  std::string firmware;  // empty: kDefaultFirmware, unless a kernel is given
  std::vector<DiskSettings> disks;
  // In boot order: the firmware tries IDE drives (in this order) before
  // the virtio disks.
  std::vector<IdeDriveSettings> ide;
  // In boot order, after the virtio-blk disks.
  std::vector<ScsiDiskSettings> scsi;
  // --scsi-controller addr=SLOT: the virtio-scsi controller's PCI slot
  // (needs a --scsi disk); empty: the first free one after the disks.
  std::optional<PciSlot> scsi_addr;
  // --scsi-queues N: request queues of the virtio-scsi controller (needs
  // --scsi); written by to_argv() only when not 1.
  unsigned scsi_queues = 1;
  SerialSettings serial;
  std::string control;  // control socket path; empty: none
  std::string kernel;   // direct boot (bzImage or PVH ELF); empty: firmware
  std::string initrd;
  std::string cmdline;
  std::string debugcon;  // port 0x402 log file; empty: none
  RebootAction on_reboot = RebootAction::kReset;
  // QEMU machine type the guest sees (ACPI \_SB.PCI0._UID); empty: "pc".
  std::string machine;
  // --uuid: the VM's UUID (canonical lowercase text; empty: none, SMBIOS
  // type 1 then holds zeros like QEMU without -uuid); --smbios strings.
  std::string uuid;
  SmbiosSettings smbios;
  // --hpet on|off: the HPET at 0xFED00000 and its ACPI table (QEMU pc's
  // -machine hpet=, on by default as there).
  bool hpet = true;
  // --acpi on|off: QEMU's -machine acpi=: off hands SeaBIOS no ACPI tables
  // (it then builds its own, as under QEMU -no-acpi).
  bool acpi = true;
  // --rtc base=utc|localtime,driftfix=none|slew (QEMU's -rtc): the clock
  // the RTC shows, and whether periodic interrupts the guest missed are
  // re-injected (slew: libvirt's tickpolicy='catchup').
  bool rtc_localtime = false;
  bool rtc_catchup = false;
  // --pit lost_tick_policy=delay|discard (QEMU's kvm-pit property): KVM's
  // PIT re-injects missed ticks (delay, the default) or drops them.
  bool pit_discard = false;
  // --vga std[,vram=SIZE][,romfile=PATH] (QEMU's -device VGA,vgamem_mb=):
  // the standard VGA on PCI slot 2 (addr=SLOT: that one); none without the
  // option. vram is a power of two, 1M..256M; romfile the VGA BIOS
  // (kDefaultVgaRom).
  bool vga = false;
  uint64_t vga_vram = 16ULL << 20;
  std::string vga_romfile;
  std::optional<PciSlot> vga_addr;
  // --vnc: needs --vga std (the screen it shows); empty: no VNC server.
  std::optional<VncSettings> vnc;
  // --usb: the PIIX3 UHCI controller at 00:01.2 (QEMU's piix3-usb-uhci);
  // --usb-device tablet|keyboard|mouse (repeatable, needs --usb): devices
  // attached to root ports 1, 2 in this order.
  // --usb ehci[,addr=SLOT]: the ICH9 EHCI set on SLOT (hex as QEMU's
  // addr=0x5; absent: the first slot after the NICs), devices on EHCI root
  // ports 1..6.
  bool usb = false;
  UsbModel usb_model = UsbModel::kPiix3Uhci;
  std::optional<unsigned> usb_slot;
  std::vector<UsbDeviceKind> usb_devices;
  // --nic, in order (net0, net1, ...; their slots from addr= or in this
  // order).
  std::vector<NicSettings> nics;
  // --hyperv: the Hyper-V enlightenments (vmmctl/hyperv.h); none by default.
  HyperVSettings hyperv;

  bool operator==(const LaunchSettings&) const = default;
};

// The firmware amber-vmm maps: settings.firmware, or the default.
std::string firmware_path(const LaunchSettings& settings);

// Checks the cross-option rules and every limit above; the message names
// the option, as amber-vmm prints it.
Result<void> validate(const LaunchSettings& settings);

// The command line without the program name (the daemon puts the amber-vmm
// binary in front). Refuses settings that validate() refuses.
Result<std::vector<std::string>> to_argv(const LaunchSettings& settings);

// Parses the command line without the program name. --help and --version
// are not launch settings: the caller handles them first. Every bad value
// is one kInvalidArgument Error with a one-line message.
Result<LaunchSettings> parse_argv(std::span<const std::string> args);

// The \_SB.PCI0._UID QEMU 7.2 gives MACHINE: 0 for "pc" and
// pc-i440fx-5.2 and later, 1 for older i440FX types (pc-i440fx-X.Y,
// pc-0.x, pc-1.x); -1 for a type amber-vmm does not model (q35...).
int machine_pci_root_uid(const std::string& machine);

// Pieces, exposed for tests and messages.
Result<uint64_t> parse_size(std::string_view text);  // K/M/G/T/B suffix; bare = MiB
std::string format_size(uint64_t bytes);             // largest exact unit
Result<DiskSettings> parse_disk(std::string_view text);
std::string format_disk(const DiskSettings& disk);
Result<IdeDriveSettings> parse_ide(std::string_view text);
std::string format_ide(const IdeDriveSettings& drive);
Result<ScsiDiskSettings> parse_scsi(std::string_view text);
std::string format_scsi(const ScsiDiskSettings& disk);
Result<SerialSettings> parse_serial(std::string_view text);
std::string format_serial(const SerialSettings& serial);
Result<VncSettings> parse_vnc(std::string_view text);
std::string format_vnc(const VncSettings& vnc);
std::string_view to_string(SerialKind kind);
// "tablet", "keyboard", "mouse" (the --usb-device values).
std::string_view to_string(UsbDeviceKind kind);
Result<UsbDeviceKind> parse_usb_device(std::string_view name);
Result<NicSettings> parse_nic(std::string_view text);
std::string format_nic(const NicSettings& nic);
// The checks validate() makes on one NIC (the message names --nic).
Result<void> validate_nic(const NicSettings& nic);
std::string_view to_string(NicModel model);                 // "e1000", "virtio"
std::string format_mac(const std::array<uint8_t, 6>& mac);  // "52:54:00:12:34:56"
Result<std::array<uint8_t, 6>> parse_mac(std::string_view text);
Result<uint32_t> parse_ipv4(std::string_view text);
std::string format_ipv4(uint32_t address);
Result<Ipv4Net> parse_ipv4_net(std::string_view text);
Result<HostForward> parse_hostfwd(std::string_view text);
// "enospc", "stop", "report", "ignore" (the werror=/rerror= values).
std::string_view to_string(DiskErrorPolicy policy);
// werror= accepts all four names, rerror= all but "enospc" (as QEMU).
Result<DiskErrorPolicy> parse_write_error_policy(std::string_view name);
Result<DiskErrorPolicy> parse_read_error_policy(std::string_view name);

}  // namespace amber::vmmctl
