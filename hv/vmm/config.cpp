// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/vmm/config.h"

#include <string_view>
#include <vector>

namespace amber::hv::vmm {

Result<CommandLine> parse_command_line(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  CommandLine line;
  // --help and --version win wherever they stand, like QEMU's -h.
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h")
      line.action = Action::kHelp;
    else if (arg == "--version" && line.action == Action::kRun)
      line.action = Action::kVersion;
  }
  if (line.action != Action::kRun) return line;
  AMBER_TRY_ASSIGN(line.config, vmmctl::parse_argv(args));
  return line;
}

std::string help_text() {
  return R"(usage: amber-vmm [options]

Runs one virtual machine (i440FX/PIIX PC) on /dev/kvm.

  --name NAME                 VM name (logs, events)                       [amber]
  --memory [size=]SIZE[,hugepages=on|off]
                              guest RAM; SIZE with K/M/G/T (bare = MiB)    [512M]
                              hugepages=on: back RAM with 2 MiB hugepages
                              (fails if the host has too few reserved)
  --cpus N                    vCPUs, 1..64                                 [1]
  --firmware FILE             BIOS image mapped below 4 GiB
                              [/usr/share/seabios/bios.bin]
  --disk path=FILE[,format=qcow2|raw][,cache=writeback|none|off|
         writethrough|directsync|unsafe][,aio=threads|io_uring|native]
         [,queues=N][,discard=unmap|ignore][,serial=ID][,readonly=on|off]
         [,werror=enospc|stop|report|ignore][,rerror=stop|report|ignore]
         [,secret-fd=N][,addr=SLOT]
                              (a ',' inside a value is written ',,')
                              a virtio-blk disk (repeatable; slots 00:03.0 on)
                              addr=SLOT (every PCI device): its slot, hex as
                              QEMU's addr= (0x5, 05.0), 2..1f, function 0;
                              without it the first free slot
                              werror (writes, flushes, discards; default
                              enospc: stop the VM on ENOSPC, report others)
                              and rerror (reads; default report): on a host
                              I/O error stop the VM (state io-error; resume
                              retries), report it to the guest, or ignore it
                              (the guest is told it worked: data is lost)
                              secret-fd=N: an inherited descriptor holding
                              the passphrase of a LUKS image (read, closed)
  --ide [bus=0|1][,unit=0|1][,media=disk|cdrom][,path=FILE]
        [,format=qcow2|raw][,cache=MODE][,readonly=on|off][,serial=ID]
        [,werror=enospc|stop|report|ignore][,rerror=stop|report|ignore]
                              a drive on the PIIX3 IDE controller (00:01.1;
                              ports 0x1F0/0x170, IRQ 14/15; repeatable, at
                              most 4): an ATA disk or an ATAPI CD-ROM (read-
                              only; no path: empty drive). The firmware
                              boots IDE drives first, in the order given;
                              werror/rerror as --disk's (CD-ROMs report)
  --scsi path=FILE[,format=qcow2|raw][,cache=MODE][,discard=unmap|ignore]
         [,target=N][,lun=N][,readonly=on|off][,serial=ID]
         [,werror=enospc|stop|report|ignore][,rerror=stop|report|ignore]
                              a disk on the virtio-scsi controller (one
                              PCI function 1af4:1004 after the --disk
                              slots; target 0..255, lun 0..16383;
                              repeatable, at most 16); bootable after the
                              virtio-blk disks; werror/rerror as --disk's
  --scsi-controller addr=SLOT the virtio-scsi controller's PCI slot
  --scsi-queues N             request queues of the virtio-scsi controller
                              (1..62, one iothread each)                   [1]
  --serial pty|stdio|file:PATH|unix:PATH|none
                              COM1 (0x3F8, IRQ 4) backend                  [none]
  --control PATH              control socket (line-delimited JSON)
  --kernel FILE               direct boot: Linux bzImage or PVH ELF kernel
  --initrd FILE               initial ramdisk (with --kernel)
  --cmdline TEXT              kernel command line (with --kernel)
  --machine TYPE              QEMU machine type the ACPI tables follow:
                              pc, pc-i440fx-X.Y (PCI0 _UID 1 before 5.2)   [pc]
  --uuid UUID                 the VM's UUID (SMBIOS type 1, fw_cfg)
  --smbios type=N,KEY=VAL,..  SMBIOS strings as QEMU's -smbios (types 0-3)
  --hpet on|off               the HPET and its ACPI table (default on, as QEMU pc)
  --acpi on|off               ACPI tables from amber-vmm (off: SeaBIOS builds its own)
  --rtc base=utc|localtime,driftfix=none|slew   the RTC's clock; slew re-injects
                              periodic interrupts the guest missed
  --pit lost_tick_policy=delay|discard   missed PIT ticks re-injected or dropped
  --vga std[,vram=SIZE][,romfile=FILE][,addr=SLOT]   the standard VGA (1234:1111,
                              Bochs DISPI) on PCI slot 2; vram 1M..256M [16M]
  --usb                       the PIIX3 USB UHCI controller (8086:7020 at
                              00:01.2, QEMU's piix3-usb-uhci)
  --usb ehci[,addr=SLOT]      instead, ICH9's USB 2.0 set on one slot (hex;
                              default: the first after the NICs): EHCI1
                              (8086:293a) at function 7, its companions
                              UHCI1..3 at functions 0..2; six root ports
  --usb-device tablet|keyboard|mouse   a USB HID device with QEMU's identity
                              (usb-tablet: absolute pointer, usb-kbd,
                              usb-mouse) on the next root port; needs
                              --usb; repeatable, at most 2 (two ports;
                              6 behind the EHCI)
  --nic model=e1000|virtio,mac=XX:XX:XX:XX:XX:XX,backend=user[,net=ADDR/BITS]
        [,host=ADDR][,dns=ADDR][,dhcpstart=ADDR][,hostfwd=RULE]..[,queues=N]
        [,romfile=FILE|none][,addr=SLOT]
  --nic model=e1000|virtio,mac=XX:XX:XX:XX:XX:XX,backend=tap,fd=N[,queues=N]
        [,romfile=FILE|none][,addr=SLOT]
                              a network card (e1000: Intel 82540EM 8086:100e
                              as QEMU's -device e1000; virtio: transitional
                              virtio-net 1af4:1000 as QEMU's virtio-net-pci,
                              queues=N RX/TX pairs, 1..8, default 1, MQ when
                              N > 1) on its own PCI slot after
                              the disks (repeatable, at most 4). user: NAT by
                              libslirp as QEMU's -netdev user [net=10.0.2.0/24,
                              host=10.0.2.2, dns=10.0.2.3, dhcpstart=10.0.2.15];
                              hostfwd=[tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT
                              (repeatable). tap: an inherited descriptor of an
                              attached tap device (IFF_TAP|IFF_NO_PI). The ROM
                              BAR holds /usr/lib/ipxe/qemu/efi-e1000.rom
                              (virtio: efi-virtio.rom) if present; none: no
                              ROM
  --hyperv FEATURE[,FEATURE]..  Hyper-V enlightenments for a Windows guest, as
                              QEMU's -cpu hv-*: relaxed, vapic,
                              spinlocks=RETRIES (4095 or more), vpindex,
                              runtime, synic, stimer, reset, frequencies,
                              time, vendor_id=TEXT. The host's KVM must
                              implement each one (KVM's Hyper-V support):
                              amber-vmm refuses to start otherwise, naming it
  --vnc HOST:DISPLAY[,password=on|off]   a VNC server on TCP port 5900+DISPLAY
                              showing the --vga display (needs --vga std);
                              HOST an IPv4 address, [IPv6], or empty for
                              all; password=on: VNC authentication, nobody
                              gets in before change-vnc-password
  --debugcon file:PATH|none   port 0x402 debug console log
  --no-reboot                 exit instead of resetting when the guest reboots
  --help, --version

Exit status: 0 after guest shutdown/quit, (v<<1)|1 when the guest writes v
to the isa-debug-exit port 0x501, 1 on errors.
)";
}

}  // namespace amber::hv::vmm
