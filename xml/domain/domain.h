// SPDX-License-Identifier: GPL-2.0-or-later
// Domain: libvirt domain XML as plain C++ structs, and its parser/formatter.
//
// parse_domain reads what Amber honours (see xml/README.md), refuses what
// the schema allows but Amber cannot do with kUnsupported
// "unsupported configuration: PATH (reason)" (the list is in
// unsupported.cpp), refuses unknown elements and attributes the same way,
// and gives kCorrupt "XML error: ..." for malformed input. format_domain
// writes libvirt's layout; format_domain(parse_domain(x)) is a fixed point.
//
// Thread-safety: pure functions over values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "xml/writer.h"

namespace amber::xml {

struct Uuid {
  std::array<uint8_t, 16> bytes{};
  static Result<Uuid> parse(std::string_view text);
  static Uuid generate();  // random version-4 UUID
  std::string to_string() const;
  bool operator==(const Uuid&) const = default;
};

struct HugePage {
  uint64_t size_kib = 0;
};

struct MemoryConfig {
  uint64_t memory_kib = 0;
  uint64_t current_memory_kib = 0;  // equals memory_kib when absent
  bool hugepages = false;
  std::vector<HugePage> pages;
};

enum class VcpuPlacement { kStatic, kAuto };

struct CpuFeature {
  std::string name;  // policy='disable' only
};

enum class CpuMode { kNone, kHostPassthrough, kHostModel };

struct CpuConfig {
  uint64_t vcpus = 1;
  std::optional<uint64_t> current_vcpus;
  VcpuPlacement placement = VcpuPlacement::kStatic;
  std::optional<uint64_t> iothreads;
  CpuMode mode = CpuMode::kNone;          // kNone: no <cpu> element
  std::optional<std::string> check;       // none|partial|full
  std::optional<std::string> migratable;  // on|off
  std::optional<uint64_t> sockets, dies, cores, threads;
  std::vector<CpuFeature> disabled_features;
};

enum class BootDevice { kHd, kCdrom };

struct OsConfig {
  std::string arch = "x86_64";
  std::string machine = "pc";
  std::vector<BootDevice> boot;
  std::optional<bool> bootmenu;
  std::optional<uint64_t> bootmenu_timeout_ms;
  std::optional<std::string> loader;
  std::optional<bool> loader_readonly;
  std::optional<std::string> loader_type;  // rom
  std::optional<std::string> kernel, initrd, cmdline;
  // <smbios mode='emulate|host|sysinfo'/>; absent: libvirt's none (QEMU's
  // own strings, as emulate).
  std::optional<std::string> smbios_mode;
};

// <sysinfo type='smbios'>: the <entry name=...> values of bios, system,
// baseBoard and chassis (schema names), kept in libvirt's fixed order per
// block so they write back as libvirt does. Empty entries are dropped (as
// libvirt does); the system uuid is the domain's <uuid>, canonical.
struct SysinfoEntry {
  std::string name;
  std::string value;
  bool operator==(const SysinfoEntry&) const = default;
};

struct Sysinfo {
  std::vector<SysinfoEntry> bios, system, base_board, chassis;
  bool operator==(const Sysinfo&) const = default;
};

// <hyperv> children other than relaxed and spinlocks, in document order:
// vapic, vpindex, runtime, synic, stimer, reset, frequencies, vendor_id
// (with value=); the others libvirt knows only with state='off'.
struct HyperVFeature {
  std::string name;
  bool on = false;
  std::optional<std::string> value;  // vendor_id's value=
  bool operator==(const HyperVFeature&) const = default;
};

struct Features {
  bool acpi = false, apic = false, pae = false;
  bool hyperv = false;
  std::optional<std::string> hyperv_mode;  // custom|passthrough
  std::optional<bool> relaxed;
  std::optional<bool> spinlocks;
  std::optional<uint64_t> spinlock_retries;
  std::vector<HyperVFeature> hyperv_other;
  std::optional<bool> vmport;  // state='off' only
};

struct Timer {
  std::string name;                       // rtc|pit|hpet|hypervclock|kvmclock|tsc
  std::optional<std::string> tickpolicy;  // delay|catchup|merge|discard
  std::optional<bool> present;
};

enum class ClockOffset { kUtc, kLocaltime };

struct Clock {
  ClockOffset offset = ClockOffset::kUtc;
  std::vector<Timer> timers;
};

enum class LifecycleAction { kDestroy, kRestart };

struct Lifecycle {
  LifecycleAction on_poweroff = LifecycleAction::kDestroy;
  LifecycleAction on_reboot = LifecycleAction::kRestart;
  LifecycleAction on_crash = LifecycleAction::kDestroy;
};

struct PowerManagement {
  std::optional<bool> suspend_to_mem;   // enabled='no' only
  std::optional<bool> suspend_to_disk;  // enabled='no' only
};

// kVolume: <disk type='volume'><source pool='P' volume='V'/>, resolved
// through the storage pool when the domain starts (the live XML then shows
// the file it resolved to).
enum class DiskType { kFile, kBlock, kVolume };

struct PciAddress {
  uint64_t domain = 0, bus = 0, slot = 0, function = 0;
};

// <disk device='disk'|'cdrom'> and <target bus='virtio'|'ide'>.
enum class DiskDevice { kDisk, kCdrom };
enum class DiskBus { kVirtio, kIde, kScsi };

// <address type='drive'> of an IDE or SCSI disk. When absent it is derived
// from the target name as libvirt does (hda = bus 0 unit 0 ... hdd = bus 1
// unit 1; sda = controller 0 bus 0 target 0 unit 0 ... sdg = unit 6) and
// written back.
struct DriveAddress {
  uint64_t controller = 0, bus = 0, target = 0, unit = 0;
  bool operator==(const DriveAddress&) const = default;
};

struct BackingLayer {
  DiskType type = DiskType::kFile;
  std::optional<std::string> format;
  std::string path;
  std::optional<uint64_t> index;
};

// <encryption format='luks'><secret type='passphrase' uuid=|usage=/></encryption>,
// written back where it was given: inside <source> (libvirt's current
// place) or as a child of <disk> (the older one).
struct DiskEncryption {
  std::string format;  // luks (qcow: legacy, refused at start)
  std::optional<std::string> secret_uuid;
  std::optional<std::string> secret_usage;  // the volume path of a usage='volume' secret
  bool in_source = false;
  bool operator==(const DiskEncryption&) const = default;
};

struct Disk {
  DiskType type = DiskType::kFile;
  DiskDevice device = DiskDevice::kDisk;
  DiskBus bus = DiskBus::kVirtio;
  std::optional<std::string> driver_name;  // qemu
  std::optional<std::string> format;       // qcow2|raw
  std::optional<std::string> cache;        // none|writeback|writethrough|directsync|unsafe
  std::optional<std::string> io;           // threads|native|io_uring
  std::optional<std::string> discard;      // unmap|ignore
  std::optional<uint64_t> queues;
  std::optional<uint64_t> iothread;
  std::optional<std::string> error_policy;   // stop|report|ignore|enospace
  std::optional<std::string> rerror_policy;  // stop|report|ignore
  std::optional<std::string> source;         // file= or dev=
  std::optional<std::string> source_pool;    // type='volume'
  std::optional<std::string> source_volume;  // type='volume'
  std::optional<uint64_t> source_index;      // live XML
  std::vector<BackingLayer> backing;         // outermost first
  bool backing_terminated = false;           // chain ends in <backingStore/>
  std::string target_dev;
  bool readonly = false;  // always true for a cdrom
  std::optional<uint64_t> boot_order;
  std::optional<std::string> serial;
  std::optional<PciAddress> address;
  std::optional<DriveAddress> drive_address;  // IDE, SCSI disks: always set after parsing
  std::optional<std::string> alias;           // live XML
  std::optional<DiskEncryption> encryption;
};

struct CharLog {
  std::string file;
  std::optional<bool> append;
};

// A pty serial port or console.
struct CharDevice {
  std::optional<std::string> source_path;  // the pty, live XML
  std::optional<std::string> tty;          // console only, live XML
  std::optional<CharLog> log;
  std::optional<std::string> target_type;  // serial: isa-serial; console: serial
  std::optional<uint64_t> port;
  std::optional<std::string> model;  // isa-serial
  std::optional<std::string> alias;
};

// pci (model pci-root), usb (model none), ide (index 0, no model: the
// PIIX3 IDE function, added implicitly when an IDE disk exists, at
// 0000:00:01.1 as on libvirt's pc machine) or scsi (index 0, model
// virtio-scsi, added implicitly when a SCSI disk exists; <driver queues>).
struct Controller {
  std::string type;
  std::optional<uint64_t> index;
  std::string model;               // empty: none written
  std::optional<uint64_t> queues;  // scsi: <driver queues='N'/>
  std::optional<PciAddress> address;
  // usb ich9-uhci1..3: <master startport='N'/> (the EHCI ports it serves).
  std::optional<uint64_t> master_startport;
};

// <interface>: a NIC (model e1000 or virtio) on user-mode networking, a
// bridge (a tap device the daemon creates and adds to it), an ethernet
// tap, or libvirt's network (taken as that network's bridge at start).
// The MAC is generated (52:54:00:xx:xx:xx, as libvirt) when absent and
// kept in lowercase.
enum class InterfaceType { kUser, kBridge, kEthernet, kNetwork };

// <ip family='ipv4' address='192.168.76.0' prefix='24'/> of a user
// interface: the user network's address (QEMU's net=).
struct InterfaceIp {
  std::string family = "ipv4";
  std::string address;
  std::optional<uint64_t> prefix;
  bool operator==(const InterfaceIp&) const = default;
};

struct Interface {
  InterfaceType type = InterfaceType::kUser;
  std::string mac;
  std::optional<std::string> source_bridge;   // bridge (and network, live)
  std::optional<std::string> source_network;  // network
  std::optional<std::string> target_dev;      // the tap device (live; ethernet: may be given)
  std::optional<bool> target_managed;         // ethernet: managed='no' (an existing tap)
  std::optional<std::string> model;           // e1000|virtio
  std::optional<uint64_t> queues;             // <driver queues='N'/>
  std::vector<InterfaceIp> ips;               // user only
  std::optional<std::string> link_state;      // up (down is refused)
  std::optional<bool> rom_enabled;            // <rom enabled='no'/>
  std::optional<std::string> rom_file;        // <rom file=.../>
  std::optional<PciAddress> address;
  std::optional<std::string> alias;  // live: net0, net1, ...
};

// <input type='mouse'|'tablet'|'keyboard' bus='ps2'|'usb'>; a USB device
// may carry <address type='usb' bus='0' port='N'/>.
enum class InputType { kMouse, kTablet, kKeyboard };
enum class InputBus { kPs2, kUsb };

struct Input {
  InputType type = InputType::kMouse;
  InputBus bus = InputBus::kPs2;
  std::optional<uint64_t> usb_bus;
  std::optional<std::string> usb_port;  // "1" or a hub path "1.2" (refused at start)
  std::optional<std::string> alias;     // live: input0, ...
};

// <graphics type='vnc'>: amber-vmm's VNC server. port -1 with autoport:
// the daemon picks a free port from 5900 at start (the live XML shows it).
struct Graphics {
  int64_t port = -1;
  bool autoport = true;
  std::optional<std::string> listen;  // the address to listen on
  bool listen_element = false;        // written as <listen type='address' .../> too
  std::optional<std::string> passwd;  // written only with FormatFlags::kSecure
  std::optional<std::string> keymap;
  std::optional<std::string> share_policy;
};

// <video><model type='vga' vram= heads= primary=/>: QEMU's standard VGA
// (amber-vmm's --vga std), or type 'none': no display.
struct Video {
  std::string model = "vga";
  std::optional<uint64_t> vram_kib;
  std::optional<uint64_t> heads;
  std::optional<bool> primary;
  std::optional<PciAddress> address;
  std::optional<std::string> alias;  // live: video0
};

struct Devices {
  std::optional<std::string> emulator;
  std::vector<Disk> disks;
  std::vector<Controller> controllers;
  std::vector<CharDevice> serials;
  std::vector<CharDevice> consoles;
  std::vector<Interface> interfaces;
  std::vector<Input> inputs;
  std::vector<Graphics> graphics;
  std::vector<Video> videos;
  bool memballoon_none = false;
};

struct Domain {
  std::optional<int64_t> id;  // live XML only
  std::string name;
  Uuid uuid;
  std::optional<std::string> title, description;
  std::optional<std::string> metadata;  // verbatim child elements
  MemoryConfig memory;
  CpuConfig cpu;
  std::optional<Sysinfo> sysinfo;
  OsConfig os;
  Features features;
  Clock clock;
  Lifecycle lifecycle;
  PowerManagement pm;
  Devices devices;
};

enum class ParseFlags { kNone = 0 };
// kInactive drops id, aliases, pty paths and the ports in use; kSecure
// writes passwords (libvirt's VIR_DOMAIN_XML_SECURE). A bit set.
enum class FormatFlags { kNone = 0, kInactive = 1, kSecure = 2 };
constexpr FormatFlags operator|(FormatFlags a, FormatFlags b) {
  return static_cast<FormatFlags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr bool has_flag(FormatFlags flags, FormatFlags flag) {
  return (static_cast<unsigned>(flags) & static_cast<unsigned>(flag)) != 0;
}

// One thing the schema allows and Amber refuses: PATH (with /@attr='value'
// for a value) and why.
struct Refusal {
  std::string path;
  std::string reason;
  std::string message() const;  // "unsupported configuration: PATH (REASON)"
};

Result<Domain> parse_domain(std::string_view xml, ParseFlags flags = ParseFlags::kNone);
std::string format_domain(const Domain& domain, FormatFlags flags = FormatFlags::kNone);
// The <domain> element format_domain renders, for documents that embed a
// domain (a snapshot's <domain>) at their own depth.
Element domain_element(const Domain& domain, FormatFlags flags = FormatFlags::kNone);

// One <disk> element on its own (virDomainUpdateDeviceFlags' device XML),
// with the same checks and defaults as inside a domain.
Result<Disk> parse_disk_device(std::string_view xml);

// Every refusal in XML (not only the first); an XML error when malformed.
Result<std::vector<Refusal>> find_unsupported(std::string_view xml);

// Validates XML against libvirt's RelaxNG schema (SCHEMA_PATH, by default
// the one libvirt0 installs). kNotFound when the schema is missing.
inline constexpr const char* kDomainSchemaPath = "/usr/share/libvirt/schemas/domain.rng";
Result<void> validate_domain(std::string_view xml,
                             const std::string& schema_path = kDomainSchemaPath);

}  // namespace amber::xml
