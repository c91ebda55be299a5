#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""PCI slots from the domain XML through virtamberd with Debian's virsh. A
domain in the shape of `virsh -c qemu:///system dumpxml` with slots that
are not amber-vmm's own order (video 0x02, e1000 NIC 0x03, virtio disk
0x07, virtio-scsi controller 0x09) is defined and keeps them in dumpxml;
started on the PVH probe's test=pciscan, the guest must find each device
at its slot (and nothing at the slots amber-vmm would have chosen), and
amber-vmm's argv carries addr= for each. The same disk at 0x07 then boots
the boot-sector probe on SeaBIOS (the fw_cfg bootorder names slot 7). A
domain without addresses gets libvirt's (video 02, interface 03, SCSI
controller 04, disk 05), stored: the same after a daemon restart; one
stored before addresses were assigned keeps amber-vmm's earlier slots
(video 02, disk 03, SCSI controller 04, NIC 05).
Refusals name the element: bus 0x01, function 0x1, two devices on one
address.
Usage: test_virsh_pci_slots.py VIRTAMBERD AMBER_VMM PVH_ELF BOOT_BIN (run by /usr/bin/python3)"""
import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402

DAEMON, VMM, PVH_ELF, BOOT_BIN = sys.argv[1:5]


def address(slot, function=0, bus=0):
    return ("<address type='pci' domain='0x0000' bus='0x%02x' slot='0x%02x' function='0x%x'/>"
            % (bus, slot, function))


def domain_xml(name, uuid, disk, lun, os_boot, addresses=True, nic_address=None):
    def at(slot):
        return address(slot) if addresses else ""
    return """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='KiB'>65536</memory>
  <currentMemory unit='KiB'>65536</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    {os_boot}
  </os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <devices>
    <emulator>{vmm}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      {disk_at}
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{lun}'/>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'>
      {usb_at}
    </controller>
    <controller type='pci' index='0' model='pci-root'/>
    <controller type='scsi' index='0' model='virtio-scsi'>
      {scsi_at}
    </controller>
    <interface type='user'>
      <mac address='52:54:00:5a:01:03'/>
      <model type='e1000'/>
      <rom enabled='no'/>
      {nic_at}
    </interface>
    <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <video>
      <model type='vga' vram='16384' heads='1' primary='yes'/>
      {video_at}
    </video>
    <memballoon model='none'/>
  </devices>
</domain>
""".format(name=name, uuid=uuid, vmm=VMM, disk=disk, lun=lun, os_boot=os_boot,
           disk_at=at(7), usb_at=address(1, 2) if addresses else "", scsi_at=at(9),
           nic_at=nic_address if nic_address is not None else at(3), video_at=at(2))


def vmm_argv(daemon, name):
    pid_file = os.path.join(daemon.tmp, "run", name + ".pid")
    pid = int(open(pid_file).read().split()[0])
    return open("/proc/%d/cmdline" % pid, "rb").read().decode().split("\0")


def query(control, command):
    """One command on amber-vmm's control socket (a second client beside
    the daemon's); its "return"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(control)
        f = s.makefile("rwb")
        f.write((json.dumps({"execute": command, "id": 1}) + "\n").encode())
        f.flush()
        for line in f:
            reply = json.loads(line)
            if reply.get("id") == 1:
                a.check("return" in reply, "%s: %r" % (command, reply))
                return reply["return"]
    raise a.TestFailure("%s: no reply" % command)


def option_values(argv, option):
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == option]


def test():
    a.require("virsh")
    tmp = a.workdir("virsh-pci")
    daemon = a.Daemon(DAEMON, VMM, tmp)

    def define(name, doc):
        path = os.path.join(tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(doc)
        return daemon.virsh("define", path)

    try:
        disk = a.make_probe_disk(tmp, BOOT_BIN, "probe", stay=True)
        lun = os.path.join(tmp, "lun.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", lun, "4M"], check=True)
        pvh = ("<kernel>%s</kernel>\n    <cmdline>test=pciscan idle=1</cmdline>" % PVH_ELF)

        # Refusals at start, naming the element (define keeps what it is given).
        for n, (nic_at, want) in enumerate((
                (address(3, bus=1), "interface[1]/address/@bus (amber-vmm has one PCI bus"),
                (address(3, function=1), "interface[1]/address/@function (the device has "
                 "one function"),
                (address(7), "Attempted double use of PCI Address 0000:00:07.0"))):
            name = "bad%d" % n
            out = define(name, domain_xml(name, "7c1d5e2a-0b3c-4d5e-8f60-7182930a4b%02d" % n,
                                          disk, lun, pvh, nic_address=nic_at))
            if out.returncode == 0:
                out = daemon.virsh("start", name)
            a.check(out.returncode != 0 and want in out.stderr,
                    "%s: %s%s" % (name, out.stdout, out.stderr))
            daemon.virsh("undefine", name)

        out = define("slots", domain_xml("slots", "7c1d5e2a-0b3c-4d5e-8f60-7182930a4b5c", disk,
                                         lun, pvh))
        a.check(out.returncode == 0, "define: %s%s" % (out.stdout, out.stderr))
        xml = daemon.virsh("dumpxml", "slots").stdout
        for slot in (2, 3, 7, 9):
            a.check(address(slot) in xml, "dumpxml lost slot %x:\n%s" % (slot, xml))

        out = daemon.virsh("start", "slots")
        a.check(out.returncode == 0, "start: %s%s\n%s" % (out.stdout, out.stderr,
                                                          daemon.log_text()))
        argv = vmm_argv(daemon, "slots")
        a.check(option_values(argv, "--disk")[0].endswith(",addr=0x7"), "--disk: %r" % argv)
        a.check(option_values(argv, "--nic")[0].endswith(",addr=0x3"), "--nic: %r" % argv)
        a.check(option_values(argv, "--vga") == ["std,addr=0x2"], "--vga: %r" % argv)
        a.check(option_values(argv, "--scsi-controller") == ["addr=0x9"], "--scsi: %r" % argv)
        text = a.read_console(daemon, "slots", "PROBE: RESULT PASS pciscan", 60)
        found = dict(re.findall(r"PCI 00:([0-9a-f]+)\.0 ([0-9a-f]+:[0-9a-f]+)", text))
        want = {"0": "8086:1237", "1": "8086:7000", "2": "1234:1111", "3": "8086:100e",
                "7": "1af4:1001", "9": "1af4:1004"}
        a.check(found == want, "the guest's bus 0: %r, want %r\n%s" % (found, want, text[-2000:]))
        a.check("PCI 00:1.2 8086:7020" in text, "no UHCI at 01.2:\n" + text[-2000:])
        # amber-vmm's own replies name the slot too.
        blocks = query(option_values(argv, "--control")[0], "query-block")
        a.check([b.get("slot") for b in blocks if b["device"] == "disk0"] == [7],
                "query-block: %r" % blocks)
        live = daemon.virsh("dumpxml", "slots").stdout
        for slot in (2, 3, 7, 9):
            a.check(address(slot) in live, "live XML lost slot %x:\n%s" % (slot, live))
        daemon.virsh("destroy", "slots")

        # SeaBIOS boots the virtio disk at its slot 7 (bootorder /pci@i0cf8/*@7).
        out = define("slots", domain_xml("slots", "7c1d5e2a-0b3c-4d5e-8f60-7182930a4b5c", disk,
                                         lun, "<boot dev='hd'/>"))
        a.check(out.returncode == 0, "redefine: %s%s" % (out.stdout, out.stderr))
        out = daemon.virsh("start", "slots")
        a.check(out.returncode == 0, "start on SeaBIOS: %s%s" % (out.stdout, out.stderr))
        text = a.read_console(daemon, "slots", "BOOT: RESULT PASS", 90)
        a.check("BOOT: RESULT PASS" in text, "SeaBIOS did not boot vda at 0x07:\n" + text[-2000:])
        daemon.virsh("destroy", "slots")

        # No addresses: libvirt's, stored, the same after a restart.
        out = define("auto", domain_xml("auto", "7c1d5e2a-0b3c-4d5e-8f60-7182930a4b5d", disk, lun,
                                        "<boot dev='hd'/>", addresses=False))
        a.check(out.returncode == 0, "define auto: %s%s" % (out.stdout, out.stderr))
        auto = daemon.virsh("dumpxml", "auto").stdout
        for element, slot, function in (("video", 2, 0), ("interface", 3, 0),
                                        ("controller type='scsi'", 4, 0), ("disk", 5, 0),
                                        ("controller type='usb'", 1, 2)):
            block = re.search(r"<%s.*?</%s>" % (element, element.split()[0]), auto, re.S)
            a.check(block and address(slot, function) in block.group(0),
                    "auto: %s not at %x.%x:\n%s" % (element, slot, function, auto))
        daemon.stop()
        # A definition stored by a daemon before this one (no addresses)
        # keeps the slots amber-vmm gave it then: video 02, vda 03, the
        # SCSI controller 04, the NIC 05.
        with open(os.path.join(tmp, "config", "old.xml"), "w") as f:
            f.write(domain_xml("old", "7c1d5e2a-0b3c-4d5e-8f60-7182930a4b5e", disk, lun,
                               "<boot dev='hd'/>", addresses=False))
        daemon = a.Daemon(DAEMON, VMM, tmp)
        again = daemon.virsh("dumpxml", "auto").stdout
        a.check(again == auto, "dumpxml changed across a restart:\n%s\n%s" % (auto, again))
        old = daemon.virsh("dumpxml", "old").stdout
        for element, slot in (("video", 2), ("disk", 3), ("controller type='scsi'", 4),
                              ("interface", 5)):
            block = re.search(r"<%s.*?</%s>" % (element, element.split()[0]), old, re.S)
            a.check(block and address(slot) in block.group(0),
                    "old: %s not at %x:\n%s" % (element, slot, old))
    finally:
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
