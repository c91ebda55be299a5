// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/vmm/builder.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "common/rate_limit.h"
#include "hv/acpi/tables.h"
#include "hv/boot/firmware.h"
#include "hv/boot/kernel_loader.h"
#include "hv/devices/cmos.h"
#include "hv/devices/floppy.h"
#include "hv/devices/fw_cfg.h"
#include "hv/devices/hpet.h"
#include "hv/devices/i8042.h"
#include "hv/devices/ide_controller.h"
#include "hv/devices/legacy_ports.h"
#include "hv/devices/piix.h"
#include "hv/devices/piix4_pm.h"
#include "hv/devices/serial.h"
#include "hv/devices/vga.h"
#include "hv/display/vnc_server.h"
#include "hv/kvm/cpuid.h"
#include "hv/kvm/hyperv.h"
#include "hv/net/e1000.h"
#include "hv/net/slirp_backend.h"
#include "hv/net/tap_backend.h"
#include "hv/pci/host_bridge.h"
#include "hv/smbios/smbios.h"
#include "hv/usb/ehci.h"
#include "hv/usb/hid_device.h"
#include "hv/usb/uhci.h"
#include "hv/virtio/blk_device.h"
#include "hv/virtio/blk_pci.h"
#include "hv/virtio/net_pci.h"
#include "hv/virtio/pci_transport.h"
#include "hv/virtio/scsi_pci.h"
#include "hv/vmm/kvm_interrupts.h"
#include "hv/vmm/pci_plan.h"

namespace amber::hv::vmm {
namespace {

// Memory slots.
constexpr uint32_t kSlotLowRam = 0;
constexpr uint32_t kSlotRam = 1;
constexpr uint32_t kSlotHighRam = 2;
constexpr uint32_t kSlotFirmware = 3;
constexpr uint32_t kSlotVram = 4;
constexpr uint64_t kIdentityMapAddress = kTssAddress;        // 1 page
constexpr uint64_t kTssPagesAddress = kTssAddress + 0x1000;  // 3 pages
// Fixed ports.
constexpr uint64_t kPostPort = 0x80;
constexpr uint64_t kI8042Data = 0x60, kI8042Command = 0x64;
constexpr uint64_t kSystemControlPort = 0x92;
constexpr uint64_t kCmosPort = 0x70;
constexpr uint64_t kCom1 = 0x3F8;
constexpr unsigned kCom1Irq = 4;
constexpr unsigned kRtcIrq = 8;
constexpr unsigned kSciIrq = 9;
constexpr uint64_t kDebugConsolePort = 0x402;
constexpr uint64_t kDebugExitPort = 0x501;
constexpr uint64_t kPciHotplugPorts = 0xAE00;
constexpr uint64_t kCpuPresentPorts = 0xAF00;
// PCI slots: 0 host bridge, 1 PIIX3 (+ function 3 PM); the VGA, the
// disks, the SCSI controller and the NICs where pci_plan.h puts them (at
// most 3 + 16 + 1 + 4 = 24 < 32 slots).
// -device e1000's ROM in QEMU 7.2 (romfile=efi-e1000.rom from ipxe-qemu).
constexpr const char* kDefaultE1000Rom = "/usr/lib/ipxe/qemu/efi-e1000.rom";
// What QEMU 7.2's pc-i440fx-7.2 loads for virtio-net-pci (romfile=).
constexpr const char* kDefaultVirtioNetRom = "/usr/lib/ipxe/qemu/efi-virtio.rom";

std::vector<uint8_t> pack_e820(const std::vector<E820Entry>& map) {
  std::vector<uint8_t> out;
  for (const E820Entry& e : map) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(e.address >> (8 * i)));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(e.length >> (8 * i)));
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<uint8_t>(static_cast<uint32_t>(e.type) >> (8 * i)));
  }
  return out;
}

Result<void> map_ram(kvm::KvmVm& vm, GuestRam& ram) {
  const RamLayout& l = ram.layout();
  AMBER_TRY(vm.set_memory(kSlotLowRam, 0, kVgaHoleStart, ram.host(), 0));
  AMBER_TRY(
      vm.set_memory(kSlotRam, kVgaHoleEnd, l.below_4g - kVgaHoleEnd, ram.host() + kVgaHoleEnd, 0));
  if (l.above_4g != 0)
    AMBER_TRY(vm.set_memory(kSlotHighRam, k4GiB, l.above_4g, ram.high_host(), 0));
  return ok();
}

// The vCPUs, with --hyperv's enlightenments when the host's KVM has them
// all (checked on vCPU 0, before any CPUID is set; refused otherwise).
Result<void> add_vcpus(Machine& m, unsigned count, const vmmctl::HyperVSettings& hyperv) {
  AMBER_TRY_ASSIGN(auto supported, m.system().supported_cpuid());
  for (unsigned id = 0; id < count; ++id) {
    AMBER_TRY_ASSIGN(auto vcpu, kvm::KvmVcpu::create(m.system(), m.vm(), id));
    if (id == 0 && hyperv.enabled()) {
      AMBER_TRY_ASSIGN(auto host, kvm::query_hv_support(m.system(), *vcpu));
      AMBER_TRY(kvm::check_hyperv(hyperv, host));
    }
    AMBER_TRY(vcpu->set_cpuid(kvm::with_hyperv(kvm::build_cpuid(supported, id, count), hyperv)));
    if (hyperv.has(vmmctl::HyperVFeature::kSynic))
      AMBER_TRY(vcpu->enable_cap(KVM_CAP_HYPERV_SYNIC2));
    m.add_vcpu(std::move(vcpu));
  }
  return ok();
}

virtio::BlkErrorPolicy error_policy(vmmctl::DiskErrorPolicy policy) {
  switch (policy) {
    case vmmctl::DiskErrorPolicy::kEnospc:
      return virtio::BlkErrorPolicy::kEnospc;
    case vmmctl::DiskErrorPolicy::kStop:
      return virtio::BlkErrorPolicy::kStop;
    case vmmctl::DiskErrorPolicy::kReport:
      return virtio::BlkErrorPolicy::kReport;
    case vmmctl::DiskErrorPolicy::kIgnore:
      return virtio::BlkErrorPolicy::kIgnore;
  }
  return virtio::BlkErrorPolicy::kReport;
}

// SMBIOS as QEMU 7.2 `-smp N` gives it: one socket of N cores; the
// processor ID is what vCPU 0's CPUID leaf 1 says.
Result<void> add_smbios(Machine& m, const Config& config, devices::FwCfg& fw_cfg) {
  smbios::SmbiosInputs in;
  in.machine = smbios::resolve_machine_name(config.machine);
  if (!config.uuid.empty()) {
    AMBER_TRY_ASSIGN(auto uuid, vmmctl::parse_uuid(config.uuid));
    in.uuid = uuid;
    fw_cfg.add_key(devices::kFwCfgUuid, std::vector<uint8_t>(uuid.begin(), uuid.end()));
  }
  in.strings = config.smbios;
  in.cores_per_socket = in.threads_per_socket = config.cpus;
  AMBER_TRY_ASSIGN(auto supported, m.system().supported_cpuid());
  for (const kvm_cpuid_entry2& e : kvm::build_cpuid(supported, 0, config.cpus)) {
    if (e.function != 1) continue;
    in.cpuid_version = e.eax;
    in.cpuid_features = e.edx;
  }
  const RamLayout& layout = m.ram().layout();
  in.ram_size = layout.below_4g + layout.above_4g;
  in.ram_regions.push_back({0, layout.below_4g});
  if (layout.above_4g != 0) in.ram_regions.push_back({1ULL << 32, layout.above_4g});
  smbios::SmbiosBlobs blobs = smbios::build_smbios(in);
  AMBER_TRY(fw_cfg.add_file(smbios::kAnchorFile, std::move(blobs.anchor)));
  return fw_cfg.add_file(smbios::kTablesFile, std::move(blobs.tables));
}

Result<void> add_fw_cfg(Machine& m, const Config& config, const PciPlan& slots) {
  auto* fw_cfg = m.own(std::make_unique<devices::FwCfg>(&m.ram().memory()));
  fw_cfg->add_u16(devices::kFwCfgNbCpus, static_cast<uint16_t>(config.cpus));
  fw_cfg->add_u16(devices::kFwCfgMaxCpus, static_cast<uint16_t>(config.cpus));
  fw_cfg->add_u16(devices::kFwCfgBootMenu, 0);
  fw_cfg->add_key(devices::kFwCfgIrq0Override, {1});
  AMBER_TRY(fw_cfg->add_file("etc/e820", pack_e820(firmware_e820(m.ram().layout()))));
  AMBER_TRY(fw_cfg->add_file("etc/show-boot-menu", {0, 0}));
  AMBER_TRY(fw_cfg->add_file("etc/system-states", {0, 0, 0, 0, 0, 0}));
  // ACPI tables as QEMU 7.2 hands them over: SeaBIOS runs etc/table-loader
  // and then builds none of its own (and puts PMBASE at 0x600).
  acpi::AcpiSettings acpi_settings;
  acpi_settings.cpus = config.cpus;
  acpi_settings.pci_root_uid = static_cast<unsigned>(
      vmmctl::machine_pci_root_uid(config.machine.empty() ? "pc" : config.machine));
  acpi_settings.pci_hole_start = static_cast<uint32_t>(m.ram().layout().below_4g);
  acpi_settings.hpet = config.hpet;
  // --acpi off: none of it (QEMU's acpi=off; SeaBIOS then builds its own).
  if (config.acpi) {
    acpi::AcpiBlobs acpi_blobs = acpi::build_acpi(acpi_settings);
    AMBER_TRY(fw_cfg->add_file(acpi::kRsdpFile, std::move(acpi_blobs.rsdp)));
    AMBER_TRY(fw_cfg->add_file(acpi::kTablesFile, std::move(acpi_blobs.tables)));
    AMBER_TRY(fw_cfg->add_file(acpi::kLoaderFile, std::move(acpi_blobs.loader)));
  }
  AMBER_TRY(add_smbios(m, config, *fw_cfg));
  const std::string order = firmware_bootorder(config, slots);
  AMBER_TRY(fw_cfg->add_file("bootorder", std::vector<uint8_t>(order.begin(), order.end())));
  // QEMU's reboot-timeout default (-1): after "No bootable device." SeaBIOS
  // waits, as there, instead of retrying after 60 s.
  AMBER_TRY(fw_cfg->add_file("etc/boot-fail-wait", std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0xFF}));
  fw_cfg->finalize();
  return m.pio().add(devices::kFwCfgPort, devices::kFwCfgPortSpan, fw_cfg, "fw_cfg");
}

Result<void> add_legacy_devices(Vm& vm, const Config& config, const PciPlan& slots,
                                KvmInterrupts& irqs) {
  Machine& m = *vm.machine;
  auto reset = [&m] { m.post({Request::Kind::kReset, ShutdownReason::kGuestReset, 0, ""}); };
  bus::IoBus& pio = m.pio();

  std::FILE* debug_log = nullptr;
  if (!config.debugcon.empty()) {
    debug_log = std::fopen(config.debugcon.c_str(), "w");
    if (debug_log == nullptr) return Error::from_errno(errno, "--debugcon file:" + config.debugcon);
  }
  AMBER_TRY(pio.add(kDebugConsolePort, 1, m.own(std::make_unique<devices::DebugConsole>(debug_log)),
                    "debugcon"));
  AMBER_TRY(pio.add(kDebugExitPort, 4, m.own(std::make_unique<devices::DebugExit>([&m](int code) {
    m.post({Request::Kind::kShutdown, ShutdownReason::kGuestShutdown, code, ""});
    m.wait_for_park();  // like QEMU: the guest runs no further
  })),
                    "isa-debug-exit"));
  AMBER_TRY(pio.add(kPostPort, 1, m.own(std::make_unique<devices::ZeroPorts>()), "POST port"));

  auto* port92 = m.own(std::make_unique<devices::SystemControlA>(reset));
  AMBER_TRY(pio.add(kSystemControlPort, 1, port92, "port 0x92"));
  m.add_reset_hook([port92] { port92->reset_state(); });

  auto* i8042 = m.own(std::make_unique<devices::I8042>(
      reset, [&irqs](bool level) { irqs.set_isa_irq(devices::kKeyboardIrq, level); },
      [&irqs](bool level) { irqs.set_isa_irq(devices::kMouseIrq, level); }));
  vm.ps2 = i8042;
  AMBER_TRY(
      pio.add(kI8042Data, 1, m.own(std::make_unique<devices::PortAlias>(i8042, 0)), "i8042 data"));
  AMBER_TRY(pio.add(kI8042Command, 1, m.own(std::make_unique<devices::PortAlias>(i8042, 4)),
                    "i8042 command"));
  m.add_reset_hook([i8042] { i8042->reset_state(); });

  auto* cmos = m.own(std::make_unique<devices::Cmos>());
  for (auto [index, value] : devices::cmos_platform_bytes(m.ram().layout(), config.cpus))
    cmos->set(index, value);
  cmos->set_catchup(config.rtc_catchup);
  cmos->set_localtime(config.rtc_localtime);
  AMBER_TRY(pio.add(kCmosPort, 2, cmos, "CMOS/RTC"));
  if (config.hpet) {
    // The HPET owns ISA lines 0 and 8 beside the PIT and the RTC: in legacy
    // replacement mode it silences both (the PIT as QEMU does, through
    // KVM_PIT_FLAGS_HPET_LEGACY) and the RTC's IRQ 8 passes through it.
    kvm::KvmVm* kvm_vm = &m.vm();
    auto* hpet = m.own(std::make_unique<devices::Hpet>(
        [&irqs](unsigned line, bool level) { irqs.set_isa_irq(line, level); },
        [kvm_vm](bool legacy) {
          kvm_pit_state2 pit{};
          Result<void> done = kvm_vm->get_pit(&pit);
          if (done.ok()) {
            if (legacy)
              pit.flags |= KVM_PIT_FLAGS_HPET_LEGACY;
            else
              pit.flags &= ~static_cast<uint32_t>(KVM_PIT_FLAGS_HPET_LEGACY);
            done = kvm_vm->set_pit(pit);
          }
          // Not fatal for the guest (the PIT keeps ticking beside the
          // HPET), but not hidden either.
          if (!done.ok())
            std::fprintf(stderr, "amber-vmm: HPET legacy replacement %s: the PIT not %s: %s\n",
                         legacy ? "on" : "off", legacy ? "silenced" : "restored",
                         done.error().message().c_str());
        }));
    AMBER_TRY(m.mmio().add(devices::kHpetBase, devices::kHpetSize, hpet, "HPET"));
    hpet->start();
    cmos->start([hpet](bool level) { hpet->rtc_irq(level); });
    m.add_reset_hook([hpet] { hpet->reset_state(); });
  } else {
    cmos->start([&irqs](bool level) { irqs.set_isa_irq(kRtcIrq, level); });
  }
  m.add_reset_hook([cmos] { cmos->reset_state(); });

  // QEMU pc's isa-fdc without drives (the DSDT's FDC0): 0x3F1-0x3F5 and
  // 0x3F7 as QEMU claims them (0x3F0 and 0x3F6, the IDE control port, not).
  auto* fdc = m.own(std::make_unique<devices::FloppyController>(
      [&irqs](bool level) { irqs.set_isa_irq(devices::kFloppyIrq, level); }));
  AMBER_TRY(pio.add(devices::kFloppyBase + 1, 5,
                    m.own(std::make_unique<devices::PortAlias>(fdc, 1)), "floppy"));
  AMBER_TRY(pio.add(devices::kFloppyBase + 7, 1,
                    m.own(std::make_unique<devices::PortAlias>(fdc, 7)), "floppy DIR/CCR"));
  m.add_reset_hook([fdc] { fdc->reset_state(); });

  AMBER_TRY_ASSIGN(auto backend, devices::SerialBackend::open(config.serial));
  vm.serial.label = "serial0";
  vm.serial.backend = config.serial.kind;
  vm.serial.path =
      config.serial.kind == vmmctl::SerialKind::kPty ? backend->pty_path() : config.serial.path;
  auto* serial = m.own(std::make_unique<devices::Serial>(
      std::move(backend), [&irqs](bool level) { irqs.set_isa_irq(kCom1Irq, level); }));
  AMBER_TRY(pio.add(kCom1, 8, serial, "COM1"));
  m.add_reset_hook([serial] { serial->reset_state(); });
  serial->start();
  return add_fw_cfg(m, config, slots);
}

Result<pci::HostBridge*> add_pci_platform(Vm& vm, const Config& config, KvmInterrupts& irqs) {
  Machine& m = *vm.machine;
  bus::IoBus& pio = m.pio();
  auto* reset_control = m.own(std::make_unique<devices::ResetControl>([&m] {
    m.post({Request::Kind::kReset, ShutdownReason::kGuestReset, 0, ""});
  }));
  auto* bridge = m.own(std::make_unique<pci::HostBridge>(pio, m.mmio(), reset_control));
  AMBER_TRY(pio.add(pci::kConfigAddressPort, 8, bridge, "PCI host bridge"));

  AMBER_TRY(bridge->attach(0, 0, m.own(std::make_unique<devices::I440fxHost>())));
  auto* piix3 = m.own(std::make_unique<devices::Piix3Isa>(
      [&irqs](const std::array<uint8_t, 4>& routes) { irqs.set_pirq_routes(routes); }));
  AMBER_TRY(bridge->attach(1, 0, piix3));

  // --acpi off: no PIIX4 PM function either, as QEMU's acpi=off (SeaBIOS
  // then builds no tables of its own; there is no power button).
  if (config.acpi) {
    auto* acpi = m.own(std::make_unique<devices::AcpiPmRegisters>(
        [&m] {
          m.post({Request::Kind::kShutdown, ShutdownReason::kGuestShutdown, 0, ""});
        },
        [&irqs](bool level) { irqs.set_isa_irq(kSciIrq, level); }));
    AMBER_TRY(pio.add(
        devices::kApmPort, 2,
        m.own(std::make_unique<devices::PortAlias>(acpi, devices::AcpiPmRegisters::kApmOffset)),
        "APM control"));
    AMBER_TRY(pio.add(
        devices::kGpe0Port, 4,
        m.own(std::make_unique<devices::PortAlias>(acpi, devices::AcpiPmRegisters::kGpeOffset)),
        "GPE0"));
    AMBER_TRY(bridge->attach(1, 3, m.own(std::make_unique<devices::Piix4Pm>(pio, acpi))));
    m.add_reset_hook([acpi] { acpi->reset_state(); });
    vm.power_button = [acpi] { return acpi->press_power_button(); };
  }

  // ACPI hotplug registers of SeaBIOS's DSDT: must read 0 (nothing ejectable).
  AMBER_TRY(
      pio.add(kPciHotplugPorts, 16, m.own(std::make_unique<devices::ZeroPorts>()), "PCI hotplug"));
  std::vector<uint8_t> present(32, 0);
  for (unsigned cpu = 0; cpu < config.cpus; ++cpu)
    present[cpu / 8] |= static_cast<uint8_t>(1u << (cpu % 8));
  AMBER_TRY(pio.add(kCpuPresentPorts, 32, m.own(std::make_unique<devices::ReadOnlyBytes>(present)),
                    "CPU present bitmap"));
  return bridge;
}

// The most a secret-fd may hold (libvirt's secret values are bounded far
// below this).
constexpr size_t kMaxSecretBytes = 64 * 1024;

// Reads the passphrase from FD (secret-fd=) to its end and closes FD; the
// buffer is wiped by SecretBytes, the value never logged.
Result<std::shared_ptr<const block::crypto::SecretBytes>> read_secret_fd(int fd) {
  block::crypto::SecretBytes buffer(kMaxSecretBytes + 1);
  size_t got = 0;
  Result<void> status = ok();
  while (got < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = Error::from_errno(errno, "secret-fd=" + std::to_string(fd));
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  AMBER_TRY(status);
  if (got > kMaxSecretBytes)
    return Error(ErrorKind::kInvalidArgument,
                 "secret-fd=" + std::to_string(fd) + ": the secret is larger than 64 KiB");
  auto secret = std::make_shared<block::crypto::SecretBytes>(got);
  std::copy(buffer.data(), buffer.data() + got, secret->data());
  return std::shared_ptr<const block::crypto::SecretBytes>(std::move(secret));
}

// BLOCK_IO_ERROR events of disk `name` (virtio-blk and IDE alike).
virtio::BlkIoErrorSink io_error_sink(Machine& m, const std::string& name) {
  return [&m, name](const virtio::BlkIoError& error) {
    vmmctl::BlockIoErrorEvent event;
    event.device = name;
    event.operation = std::string(virtio::to_string(error.operation));
    event.action = std::string(virtio::to_string(error.action));
    event.nospace = error.error_class == virtio::IoErrorClass::kEnospc;
    event.error_number = error.error_number;
    event.kind = std::string(to_string(error.kind));
    event.message = error.message;
    m.emit_event(event);
    // The machine thread stops the VM (after this event: STOP follows).
    if (error.action == virtio::BlkErrorAction::kStop)
      m.post({Request::Kind::kIoError, ShutdownReason::kGuestShutdown, 0, name});
  };
}

// The PIIX3 IDE function 00:01.1 (always present, as on QEMU's pc) and
// the drives of --ide; images open through the block engine as
// virtio-blk's do.
Result<void> add_ide(Vm& vm, const Config& config, pci::HostBridge& bridge, KvmInterrupts& irqs) {
  Machine& m = *vm.machine;
  auto* ide = m.own(std::make_unique<devices::Piix3Ide>(
      m.ram().memory(), [&irqs](bool level) { irqs.set_isa_irq(devices::kIdePrimaryIrq, level); },
      [&irqs](bool level) { irqs.set_isa_irq(devices::kIdeSecondaryIrq, level); }));
  for (const vmmctl::IdeDriveSettings& spec : config.ide) {
    devices::IdeDriveConfig drive;
    drive.kind = spec.media == vmmctl::IdeMedia::kCdrom ? devices::IdeMediaKind::kCdrom
                                                        : devices::IdeMediaKind::kDisk;
    drive.read_only = spec.access == vmmctl::DiskAccess::kReadOnly;
    drive.write_cache = spec.cache != block::io::CacheMode::kWritethrough &&
                        spec.cache != block::io::CacheMode::kDirectSync;
    drive.serial = spec.serial;
    drive.label = "ide" + std::to_string(spec.bus) + "-" + std::to_string(spec.unit);
    drive.write_error = error_policy(spec.write_error);
    drive.read_error = error_policy(spec.read_error);
    if (!spec.path.empty()) {
      block::OpenOptions open;
      open.format = spec.format;
      open.cache = spec.cache;
      open.discard = block::DiscardMode::kIgnore;
      open.access = drive.read_only ? block::io::Access::kReadOnly : block::io::Access::kReadWrite;
      auto image = block::open_image(spec.path, open);
      if (!image.ok()) return std::move(image).error().with_context("--ide " + spec.path);
      drive.image = std::shared_ptr<block::Image>(std::move(image).value());
    }
    ide->bus(spec.bus).attach(spec.unit, std::move(drive));
    // BLOCK_IO_ERROR names the drive as query-block does.
    ide->bus(spec.bus).set_io_error_sink(spec.unit,
                                         io_error_sink(m, ide_drive_id(spec.bus, spec.unit)));
    vm.ide.push_back({ide_drive_id(spec.bus, spec.unit), spec.bus, spec.unit,
                      spec.media == vmmctl::IdeMedia::kCdrom, spec.path, spec.cache,
                      &ide->bus(spec.bus)});
  }
  // A command a stop policy held runs again when the VM resumes.
  for (unsigned index = 0; index < 2; ++index) {
    devices::IdeBus* bus = &ide->bus(index);
    m.add_resume_hook([bus] { bus->retry_held(); });
  }
  AMBER_TRY(bridge.attach(1, 1, ide));
  bus::IoBus& pio = m.pio();
  AMBER_TRY(pio.add(devices::kIdePrimaryCommand, 8,
                    m.own(std::make_unique<devices::IdeCommandPorts>(ide->bus(0))), "IDE primary"));
  AMBER_TRY(pio.add(devices::kIdePrimaryControl, 1,
                    m.own(std::make_unique<devices::IdeControlPort>(ide->bus(0))),
                    "IDE primary control"));
  AMBER_TRY(pio.add(devices::kIdeSecondaryCommand, 8,
                    m.own(std::make_unique<devices::IdeCommandPorts>(ide->bus(1))),
                    "IDE secondary"));
  AMBER_TRY(pio.add(devices::kIdeSecondaryControl, 1,
                    m.own(std::make_unique<devices::IdeControlPort>(ide->bus(1))),
                    "IDE secondary control"));
  return ok();
}

Result<void> add_disks(Vm& vm, const Config& config, const PciPlan& slots, pci::HostBridge& bridge,
                       KvmInterrupts& irqs) {
  if (config.disks.empty()) return ok();
  Machine& m = *vm.machine;
  for (unsigned i = 0; i < config.disks.size(); ++i) {
    const vmmctl::DiskSettings& spec = config.disks[i];
    virtio::BlkConfig blk;
    blk.path = spec.path;
    blk.format = spec.format;
    blk.cache = spec.cache;
    blk.aio = spec.aio;
    blk.options.queues = spec.queues;
    blk.options.discard = spec.discard;
    blk.options.access = spec.access == vmmctl::DiskAccess::kReadOnly
                             ? virtio::DiskAccess::kReadOnly
                             : virtio::DiskAccess::kReadWrite;
    blk.options.serial = spec.serial;
    blk.options.write_error = error_policy(spec.write_error);
    blk.options.read_error = error_policy(spec.read_error);
    if (spec.secret_fd >= 0) {
      auto secret = read_secret_fd(spec.secret_fd);
      if (!secret.ok()) return std::move(secret).error().with_context("--disk " + spec.path);
      blk.passphrase = std::move(secret).value();
    }
    const unsigned slot = slots.disks[i];
    auto device = virtio::make_virtio_blk_pci(blk, m.ram().memory(), irqs, irqs, slot);
    if (!device.ok()) return std::move(device).error().with_context("--disk " + spec.path);
    virtio::VirtioBlkPci disk = std::move(device).value();
    virtio::VirtioPciTransport* function = m.own(std::move(disk.transport));
    AMBER_TRY(bridge.attach(slot, 0, function));
    const std::string name = "disk" + std::to_string(i);
    // Both sinks run on the disk's iothreads; the machine outlives them.
    disk.device->engine().set_io_error_sink(name, io_error_sink(m, name));
    virtio::BlkDevice* blk_device = disk.device;
    m.add_resume_hook([blk_device] { blk_device->retry_held(); });
    function->set_needs_reset_sink([&m, name](const Error& why) {
      m.emit_event(vmmctl::DeviceNeedsResetEvent{name, why.message()});
    });
    vm.disks.push_back({name, spec.path, slot, disk.device});
  }
  return ok();
}

Result<void> add_scsi(Vm& vm, const Config& config, const PciPlan& slots, pci::HostBridge& bridge,
                      KvmInterrupts& irqs) {
  if (config.scsi.empty()) return ok();
  Machine& m = *vm.machine;
  const unsigned slot = slots.scsi.value_or(0);
  std::vector<virtio::ScsiLun> luns;
  for (const vmmctl::ScsiDiskSettings& spec : config.scsi) {
    block::OpenOptions open;
    open.format = spec.format;
    open.cache = spec.cache;
    open.discard = spec.discard;
    open.access = spec.access == vmmctl::DiskAccess::kReadOnly ? block::io::Access::kReadOnly
                                                               : block::io::Access::kReadWrite;
    auto image = block::open_image(spec.path, open);
    if (!image.ok()) return std::move(image).error().with_context("--scsi " + spec.path);
    virtio::ScsiDiskOptions options;
    options.discard = spec.discard;
    options.access = spec.access == vmmctl::DiskAccess::kReadOnly ? virtio::DiskAccess::kReadOnly
                                                                  : virtio::DiskAccess::kReadWrite;
    options.serial = spec.serial;
    options.label = "scsi0-" + std::to_string(spec.target) + "-" + std::to_string(spec.lun);
    options.write_error = error_policy(spec.write_error);
    options.read_error = error_policy(spec.read_error);
    auto disk = std::make_shared<virtio::ScsiDisk>(
        std::shared_ptr<block::Image>(std::move(image).value()), options);
    // libvirt's alias of the disk (controller 0, bus 0) in query-block and events.
    const std::string id =
        "scsi0-0-" + std::to_string(spec.target) + "-" + std::to_string(spec.lun);
    disk->set_io_error_sink(io_error_sink(m, id));
    vm.scsi.push_back({id, spec.path, slot, disk});
    luns.push_back({spec.target, spec.lun, std::move(disk)});
  }
  auto device = virtio::make_virtio_scsi_pci(std::move(luns), config.scsi_queues, m.ram().memory(),
                                             irqs, irqs, slot);
  if (!device.ok()) return std::move(device).error().with_context("--scsi");
  virtio::ScsiDevice* scsi = device.value().device;
  virtio::VirtioPciTransport* function = m.own(std::move(device).value().transport);
  m.add_resume_hook([scsi] { scsi->retry_held(); });
  AMBER_TRY(bridge.attach(slot, 0, function));
  function->set_needs_reset_sink([&m](const Error& why) {
    m.emit_event(vmmctl::DeviceNeedsResetEvent{"scsi0", why.message()});
  });
  return ok();
}

// The VNC pointer goes to the first tablet: Vm::pointer_absolute has
// PS/2's button order (left 1, right 2, middle 4); send_screen_pointer
// HID's (left 1, middle 2, right 4).
void route_pointer(Vm& vm) {
  for (usb::HidDevice* device : vm.usb_hid) {
    if (device->kind() != usb::HidKind::kTablet) continue;
    vm.pointer_absolute = [device](unsigned x, unsigned y, unsigned width, unsigned height,
                                   unsigned buttons) {
      const unsigned hid = (buttons & 0x19) | ((buttons & 0x2) << 1) | ((buttons & 0x4) >> 1);
      usb::send_screen_pointer(*device, x, y, width, height, hid);
    };
    break;
  }
}

usb::HidKind hid_kind(vmmctl::UsbDeviceKind kind) {
  return kind == vmmctl::UsbDeviceKind::kTablet  ? usb::HidKind::kTablet
         : kind == vmmctl::UsbDeviceKind::kMouse ? usb::HidKind::kMouse
                                                 : usb::HidKind::kKeyboard;
}

// --usb ehci: ICH9's USB 2.0 set on one slot as QEMU's (and libvirt's
// usb2 controllers): UHCI1..3 at functions 0..2 (INTA..INTC), EHCI1 at
// function 7 (INTD); the --usb-device HID devices on EHCI root ports in
// order (on their companion until the guest takes the ports).
Result<void> add_ehci(Vm& vm, const Config& config, const PciPlan& slots, pci::HostBridge& bridge,
                      KvmInterrupts& irqs) {
  Machine& m = *vm.machine;
  const unsigned slot = slots.ehci.value_or(0);
  char address[16];
  std::snprintf(address, sizeof(address), "0000:00:%02x.7", slot);
  std::vector<usb::HidDevice*> devices;
  for (const vmmctl::UsbDeviceKind kind : config.usb_devices) {
    // QEMU's serial number suffix: the EHCI's PCI address, the port.
    const std::string path = std::string(address) + "-" + std::to_string(devices.size() + 1);
    // Owned before the controllers, so destroyed after their frame threads.
    devices.push_back(m.own(std::make_unique<usb::HidDevice>(hid_kind(kind), path)));
  }
  constexpr usb::UhciModel kModels[] = {usb::UhciModel::kIch9Uhci1, usb::UhciModel::kIch9Uhci2,
                                        usb::UhciModel::kIch9Uhci3};
  std::array<usb::Uhci*, usb::kEhciCompanions> companions{};
  for (unsigned i = 0; i < usb::kEhciCompanions; ++i) {
    const unsigned pin = i + 1;
    companions[i] = m.own(std::make_unique<usb::Uhci>(
        m.ram().memory(), [&irqs, slot, pin](bool level) { (void)irqs.set_intx(slot, pin, level); },
        kModels[i]));
  }
  constexpr unsigned kEhciPin = 4, kEhciFunction = 7;
  auto* ehci = m.own(std::make_unique<usb::Ehci>(
      m.ram().memory(), [&irqs, slot](bool level) { (void)irqs.set_intx(slot, kEhciPin, level); }));
  for (unsigned i = 0; i < usb::kEhciCompanions; ++i) ehci->set_companion(i, companions[i]);
  for (unsigned port = 0; port < devices.size(); ++port) ehci->attach(port, devices[port]);
  for (unsigned i = 0; i < usb::kEhciCompanions; ++i) {
    auto attached = bridge.attach(slot, i, companions[i]);
    if (!attached.ok()) return std::move(attached).error().with_context("--usb ehci");
  }
  auto attached = bridge.attach(slot, kEhciFunction, ehci);
  if (!attached.ok()) return std::move(attached).error().with_context("--usb ehci");
  for (usb::Uhci* uhci : companions) {
    uhci->start();
    m.add_stop_hook([uhci] { uhci->set_clock_running(false); });
    m.add_resume_hook([uhci] { uhci->set_clock_running(true); });
  }
  ehci->start();
  m.add_stop_hook([ehci] { ehci->set_clock_running(false); });
  m.add_resume_hook([ehci] { ehci->set_clock_running(true); });
  vm.usb_hid = devices;
  route_pointer(vm);
  return ok();
}

// --usb: the PIIX3 UHCI function 00:01.2 (INTD, PIRQD as QEMU's pc) and
// the --usb-device HID devices on its root ports in order.
Result<void> add_usb(Vm& vm, const Config& config, const PciPlan& slots, pci::HostBridge& bridge,
                     KvmInterrupts& irqs) {
  if (!config.usb) return ok();
  if (config.usb_model == vmmctl::UsbModel::kIch9Ehci)
    return add_ehci(vm, config, slots, bridge, irqs);
  Machine& m = *vm.machine;
  std::vector<usb::HidDevice*> devices;
  for (const vmmctl::UsbDeviceKind kind : config.usb_devices) {
    // QEMU's serial number suffix: the controller's PCI address, the port.
    const std::string path = "0000:00:01.2-" + std::to_string(devices.size() + 1);
    // Owned before the controller, so destroyed after its frame thread.
    devices.push_back(m.own(std::make_unique<usb::HidDevice>(hid_kind(kind), path)));
  }
  constexpr unsigned kUsbSlot = 1, kUsbFunction = 2, kUsbPin = 4;
  auto* uhci = m.own(std::make_unique<usb::Uhci>(
      m.ram().memory(), [&irqs](bool level) { (void)irqs.set_intx(kUsbSlot, kUsbPin, level); }));
  for (unsigned port = 0; port < devices.size(); ++port) uhci->attach(port, devices[port]);
  AMBER_TRY(bridge.attach(kUsbSlot, kUsbFunction, uhci));
  uhci->start();
  m.add_stop_hook([uhci] { uhci->set_clock_running(false); });
  m.add_resume_hook([uhci] { uhci->set_clock_running(true); });
  vm.usb_hid = devices;
  route_pointer(vm);
  return ok();
}

// --vga std: the standard VGA on its slot (2 unless addr=), its ports and
// the legacy window; the vram follows BAR0 as KVM memory slot kSlotVram.
Result<void> add_vga(Vm& vm, const Config& config, const PciPlan& slots, pci::HostBridge& bridge) {
  if (!config.vga) return ok();
  Machine& m = *vm.machine;
  const std::string rom_path =
      config.vga_romfile.empty() ? std::string(vmmctl::kDefaultVgaRom) : config.vga_romfile;
  std::ifstream in(rom_path, std::ios::binary);
  if (!in) return Error::from_errno(errno, "--vga romfile " + rom_path);
  std::vector<uint8_t> rom((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  kvm::KvmVm* kvm_vm = &m.vm();
  // Called under the host bridge's lock: one move at a time. A BAR the
  // guest placed over RAM is refused by KVM (overlapping slots): logged,
  // the framebuffer is then not visible there.
  auto refused = std::make_shared<RateLimiter>(kGuestLogBurst, kGuestLogInterval);
  // A VNC server finds the pages the guest wrote in the slot's dirty log.
  const uint32_t flags = config.vnc ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  auto mapper = [kvm_vm, refused, flags](uint8_t* host, uint64_t size, uint64_t address,
                                         bool enabled) {
    (void)kvm_vm->set_memory(kSlotVram, 0, 0, host, 0);  // fails harmlessly when not mapped
    if (!enabled) return;
    if (auto r = kvm_vm->set_memory(kSlotVram, address, size, host, flags); !r.ok()) {
      if (const auto suppressed = refused->allow())
        std::fprintf(stderr, "amber-vmm: VGA memory at 0x%llx not mapped: %s%s\n",
                     static_cast<unsigned long long>(address), r.error().message().c_str(),
                     suppressed_note(*suppressed).c_str());
    }
  };
  auto created = devices::StdVga::create(config.vga_vram, std::move(rom), mapper);
  if (!created.ok()) return std::move(created).error().with_context("--vga");
  devices::StdVga* vga = m.own(std::move(created).value());
  AMBER_TRY(bridge.attach(slots.vga.value_or(0), 0, vga));
  AMBER_TRY(m.pio().add(devices::kVgaPortBase, devices::kVgaPortCount,
                        m.own(std::make_unique<devices::VgaPorts>(*vga)), "VGA"));
  AMBER_TRY(m.pio().add(devices::kDispiPortBase, devices::kDispiPortCount,
                        m.own(std::make_unique<devices::DispiPorts>(*vga)), "VBE DISPI"));
  AMBER_TRY(m.mmio().add(devices::kVgaWindowBase, devices::kVgaWindowSize,
                         m.own(std::make_unique<devices::VgaWindow>(*vga)), "VGA window"));
  vm.screendump = [vga]() { return vga->snapshot(); };
  vm.vga = vga;
  return ok();
}

// --vnc: the VNC server on the VGA's display and the PS/2 devices (or the
// absolute pointer); started last, when every device it may use exists.
Result<void> add_vnc(Vm& vm, const Config& config) {
  if (!config.vnc) return ok();
  if (vm.vga == nullptr) return Error(ErrorKind::kInvalidArgument, "--vnc needs --vga std");
  kvm::KvmVm* kvm_vm = &vm.machine->vm();
  display::VncDevices devices;
  devices.vga = vm.vga;
  // Fails while the guest has the BAR unmapped (or moving): the server
  // then compares the whole screen.
  // A kernel that cannot log dirty pages is said once; ENOENT is the slot
  // being away, which is no news.
  auto noted = std::make_shared<bool>(false);
  devices.vram_dirty_log = [kvm_vm, noted](std::span<uint64_t> bitmap) {
    auto logged = kvm_vm->get_dirty_log(kSlotVram, bitmap);
    if (!logged.ok() && logged.error().error_number() != ENOENT && !*noted) {
      *noted = true;
      std::fprintf(
          stderr,
          "amber-vmm: vnc: the vram dirty log is not readable (%s): whole frames are compared\n",
          logged.error().message().c_str());
    }
    return logged.ok();
  };
  devices.ps2 = vm.ps2;
  devices.pointer_absolute = vm.pointer_absolute;
  AMBER_TRY_ASSIGN(vm.vnc, display::VncServer::start(*config.vnc, config.name, std::move(devices)));
  return ok();
}

Result<std::vector<uint8_t>> read_rom(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::from_errno(errno, what + " " + path);
  std::vector<uint8_t> rom((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (rom.size() > (16u << 20))
    return Error(ErrorKind::kInvalidArgument, what + " " + path + ": larger than 16 MiB");
  return rom;
}

Result<std::unique_ptr<net::NetBackend>> open_backend(const vmmctl::NicSettings& spec) {
  if (spec.backend == vmmctl::NetBackend::kTap) {
    AMBER_TRY_ASSIGN(auto tap, net::TapBackend::create(spec.tap_fd));
    return std::unique_ptr<net::NetBackend>(std::move(tap));
  }
  AMBER_TRY_ASSIGN(auto settings, net::slirp_settings(spec));
  AMBER_TRY_ASSIGN(auto slirp, net::SlirpBackend::create(settings));
  return std::unique_ptr<net::NetBackend>(std::move(slirp));
}

// The option ROM of a --nic: romfile=, or the model's default iPXE image
// when it is installed (QEMU without ipxe-qemu has none), or none.
Result<std::vector<uint8_t>> nic_rom(const vmmctl::NicSettings& spec) {
  if (spec.romfile == "none") return std::vector<uint8_t>{};
  const bool defaulted = spec.romfile.empty();
  const std::string path = !defaulted ? spec.romfile
                           : spec.model == vmmctl::NicModel::kVirtio
                               ? std::string(kDefaultVirtioNetRom)
                               : std::string(kDefaultE1000Rom);
  if (defaulted && ::access(path.c_str(), R_OK) != 0) return std::vector<uint8_t>{};
  return read_rom(path, "--nic romfile");
}

// --nic: one card (e1000 or virtio-net) per --nic, each on its own slot
// (addr=, else after the disks); the backend's thread starts once the card
// is attached.
Result<void> add_nics(Vm& vm, const Config& config, const PciPlan& slots, pci::HostBridge& bridge,
                      KvmInterrupts& irqs) {
  Machine& m = *vm.machine;
  for (unsigned i = 0; i < config.nics.size(); ++i) {
    const vmmctl::NicSettings& spec = config.nics[i];
    const std::string id = "net" + std::to_string(i);
    const unsigned slot = slots.nics[i];
    auto rom = nic_rom(spec);
    if (!rom.ok()) return std::move(rom).error().with_context(id);
    auto backend = open_backend(spec);
    if (!backend.ok()) return std::move(backend).error().with_context(id);
    const net::DhcpSnoop* dhcp = (*backend)->dhcp_leases();
    if (spec.model == vmmctl::NicModel::kVirtio) {
      virtio::NetDeviceConfig card;
      card.mac = spec.mac;
      card.queue_pairs = spec.queues;
      auto created =
          virtio::make_virtio_net_pci(card, std::move(backend).value(), std::move(rom).value(),
                                      m.ram().memory(), irqs, irqs, slot);
      if (!created.ok()) return std::move(created).error().with_context(id);
      virtio::NetDevice* device = created->device;
      virtio::VirtioPciTransport* function = m.own(std::move(created).value().transport);
      AMBER_TRY(bridge.attach(slot, 0, function));
      function->set_needs_reset_sink([&m, id](const Error& why) {
        m.emit_event(vmmctl::DeviceNeedsResetEvent{id, why.message()});
      });
      AMBER_TRY(device->start());
      vm.nics.push_back({id, spec.model, spec.mac, slot, &device->stats(), dhcp});
      continue;
    }
    net::E1000Config card;
    card.mac = spec.mac;
    card.pci_slot = slot;
    card.rom = std::move(rom).value();
    auto* nic = m.own(
        std::make_unique<net::E1000>(card, m.ram().memory(), irqs, std::move(backend).value()));
    AMBER_TRY(bridge.attach(card.pci_slot, 0, nic));
    AMBER_TRY(nic->start());
    vm.nics.push_back({id, spec.model, spec.mac, card.pci_slot, &nic->stats(), dhcp});
  }
  return ok();
}

}  // namespace

Vm::Vm() = default;
Vm::~Vm() = default;

Result<std::unique_ptr<Vm>> build_vm(const Config& config) {
  // Before any resource is taken: a clash of two addr= is the user's error.
  AMBER_TRY_ASSIGN(const PciPlan slots, plan_pci_slots(config));
  AMBER_TRY_ASSIGN(auto system, kvm::KvmSystem::open());
  AMBER_TRY_ASSIGN(auto kvm_vm, kvm::KvmVm::create(system));
  AMBER_TRY(kvm_vm->set_identity_map_address(kIdentityMapAddress));
  AMBER_TRY(kvm_vm->set_tss_address(kTssPagesAddress));
  AMBER_TRY(kvm_vm->create_irqchip());
  AMBER_TRY(kvm_vm->create_pit());
  if (config.pit_discard) AMBER_TRY(kvm_vm->set_pit_reinject(false));
  AMBER_TRY_ASSIGN(auto ram,
                   GuestRam::allocate(config.memory, config.hugepages == vmmctl::Hugepages::kOn
                                                         ? Hugepages::kOn
                                                         : Hugepages::kOff));
  AMBER_TRY(map_ram(*kvm_vm, ram));

  auto vm = std::make_unique<Vm>();
  vm->machine = std::make_unique<Machine>(std::move(system), std::move(kvm_vm), std::move(ram));
  Machine& m = *vm->machine;
  m.set_reboot_policy(config.on_reboot == vmmctl::RebootAction::kExit ? RebootPolicy::kExitOnReboot
                                                                      : RebootPolicy::kReboot);
  // With a control socket a client can inspect a failed VM: pause it.
  m.set_failure_policy(config.control.empty() ? FailurePolicy::kExit : FailurePolicy::kPause);

  auto* irqs = m.own(std::make_unique<KvmInterrupts>(m.vm()));
  AMBER_TRY(irqs->install_routing());
  AMBER_TRY(add_vcpus(m, config.cpus, config.hyperv));

  AMBER_TRY(add_legacy_devices(*vm, config, slots, *irqs));
  AMBER_TRY_ASSIGN(pci::HostBridge * bridge, add_pci_platform(*vm, config, *irqs));
  AMBER_TRY(add_ide(*vm, config, *bridge, *irqs));
  AMBER_TRY(add_usb(*vm, config, slots, *bridge, *irqs));
  AMBER_TRY(add_vga(*vm, config, slots, *bridge));
  AMBER_TRY(add_disks(*vm, config, slots, *bridge, *irqs));
  AMBER_TRY(add_scsi(*vm, config, slots, *bridge, *irqs));
  AMBER_TRY(add_nics(*vm, config, slots, *bridge, *irqs));
  m.add_reset_hook([bridge] { bridge->reset(); });

  if (!config.kernel.empty()) {
    AMBER_TRY_ASSIGN(auto kernel,
                     boot::KernelLoader::open(config.kernel, config.initrd, config.cmdline));
    AMBER_TRY(kernel->load(m.ram(), kernel_e820(m.ram().layout()), m.vcpu(0)));
    auto* loader = m.own(std::move(kernel));
    GuestRam* ram_ptr = &m.ram();
    m.add_reset_hook([loader, ram_ptr] { (void)loader->reload(*ram_ptr); });
  } else {
    AMBER_TRY_ASSIGN(auto firmware, boot::Firmware::load(vmmctl::firmware_path(config)));
    AMBER_TRY(firmware->map(m.vm(), kSlotFirmware));
    firmware->copy_low_alias(m.ram());
    auto* fw = m.own(std::move(firmware));
    GuestRam* ram_ptr = &m.ram();
    m.add_reset_hook([fw, ram_ptr] { fw->copy_low_alias(*ram_ptr); });
  }
  AMBER_TRY(m.capture_reset_state());
  AMBER_TRY(add_vnc(*vm, config));
  return vm;
}

}  // namespace amber::hv::vmm
