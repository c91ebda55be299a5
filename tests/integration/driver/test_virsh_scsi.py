#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-scsi disks and SMBIOS strings through virtamberd with Debian's
virsh: a domain with the boot-sector probe on a SCSI disk (sda, no
address and no controller: libvirt's derived address, the implicit
controller Amber makes virtio-scsi), a second SCSI disk with an explicit
drive address (target 2, unit 5) and discard='unmap', and <sysinfo
type='smbios'> under <os><smbios mode='sysinfo'/> is defined and started
on SeaBIOS; the probe must boot from sda (BOOT: RESULT PASS on the
console). amber-vmm's argv must carry --scsi with the target/lun keys and
discard=unmap, and --smbios type=0..3 with QEMU's keys; `virsh dumpxml`
must give the sysinfo entries, the drive addresses and the controller
(with the PCI address define gave it, 00:02.0) back and define again
unchanged; the live XML shows libvirt's scsi0-0-T-U
aliases. Refusals (lsilogic, queues='63', smbios mode='host') come at
define time, naming the element.
Usage: test_virsh_scsi.py VIRTAMBERD AMBER_VMM BOOT_BIN (run by /usr/bin/python3)"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402

DAEMON, VMM, BOOT_BIN = sys.argv[1:4]
UUID = "6d1f9a3e-2b4c-4e8f-9a1b-3c5d7e9f0a12"

DOMAIN_XML = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <sysinfo type='smbios'>
    <bios>
      <entry name='vendor'>Amber BIOS</entry>
      <entry name='date'>01/02/2023</entry>
    </bios>
    <system>
      <entry name='manufacturer'>Amber Labs</entry>
      <entry name='serial'>SN-42</entry>
      <entry name='uuid'>{uuid}</entry>
    </system>
    <baseBoard>
      <entry name='product'>Board 1</entry>
    </baseBoard>
    <chassis>
      <entry name='asset'>A-7</entry>
    </chassis>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <smbios mode='{mode}'/>
  </os>
  <features><acpi/><apic/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='sda' bus='scsi'/>
      <boot order='1'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='{data}'/>
      <target dev='sdb' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='2' unit='5'/>
    </disk>
    {extra}
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def vmm_argv(daemon, name):
    pid_file = os.path.join(daemon.tmp, "run", name + ".pid")
    pid = int(open(pid_file).read().split()[0])
    return open("/proc/%d/cmdline" % pid, "rb").read().decode().split("\0")


def test():
    a.require("virsh")
    tmp = a.workdir("virsh-scsi")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    uri = "amber:///system?socket=" + daemon.rw

    def virsh(*args):
        return a.run(["virsh", "-c", uri, *args], timeout=60, env=daemon.env)

    def define(name, doc):
        path = os.path.join(tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(doc)
        return virsh("define", path)

    try:
        disk = a.make_probe_disk(tmp, BOOT_BIN, "probe", stay=True)
        data = os.path.join(tmp, "data.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", data, "4M"], check=True)

        def doc(name, mode="sysinfo", extra="", uuid=UUID):
            return DOMAIN_XML.format(name=name, uuid=uuid, disk=disk, data=data, mode=mode,
                                     extra=extra)

        # Refusals, naming the element, at define time.
        for name, extra, mode, want in (
                ("bad1", "<controller type='scsi' index='0' model='lsilogic'/>", "sysinfo",
                 "controller[@type='scsi'][@model='lsilogic'] (the SCSI controller model "
                 "'lsilogic' is not supported: amber-vmm has only virtio-scsi)"),
                ("bad2", "<controller type='scsi' index='0' model='virtio-scsi'>"
                 "<driver queues='63'/></controller>", "sysinfo",
                 "controller[@type='scsi']/driver/@queues='63' (amber-vmm's virtio-scsi "
                 "controller runs 1 to 62 request queues)"),
                ("bad3", "", "host", "/domain/os/smbios/@mode='host'")):
            out = define(name, doc(name, mode, extra, uuid=UUID[:-1] + name[-1]))
            a.check(out.returncode != 0 and want in out.stderr,
                    "%s: %s%s" % (name, out.stdout, out.stderr))

        out = define("scsi1", doc("scsi1"))
        a.check(out.returncode == 0, "define: %s%s" % (out.stdout, out.stderr))
        xml = virsh("dumpxml", "scsi1").stdout
        for want in ("<target dev='sda' bus='scsi'/>",
                     "<address type='drive' controller='0' bus='0' target='0' unit='0'/>",
                     "<address type='drive' controller='0' bus='0' target='2' unit='5'/>",
                     # libvirt's address: no video, so the first free slot, 02.
                     "<controller type='scsi' index='0' model='virtio-scsi'>\n      <address "
                     "type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>",
                     "<driver name='qemu' type='qcow2' discard='unmap'/>",
                     "<smbios mode='sysinfo'/>",
                     "<entry name='vendor'>Amber BIOS</entry>",
                     "<entry name='uuid'>%s</entry>" % UUID,
                     "<entry name='product'>Board 1</entry>",
                     "<entry name='asset'>A-7</entry>"):
            a.check(want in xml, "dumpxml lacks %s:\n%s" % (want, xml))
        # The stored XML defines again to itself.
        out = define("scsi1", xml)
        a.check(out.returncode == 0, "redefine: %s%s" % (out.stdout, out.stderr))
        a.check(virsh("dumpxml", "scsi1").stdout == xml, "dumpxml changed on redefine")

        caps = virsh("domcapabilities").stdout
        a.check("<value>scsi</value>" in caps, "domcapabilities:\n" + caps)

        out = virsh("start", "scsi1")
        a.check(out.returncode == 0, "start: %s%s\n%s" % (out.stdout, out.stderr, daemon.log_text()))
        argv = vmm_argv(daemon, "scsi1")
        scsi = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--scsi"]
        smbios = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--smbios"]
        a.check(len(scsi) == 2 and "path=%s" % disk in scsi[0] and "target=0,lun=0" in scsi[0]
                and "path=%s" % data in scsi[1] and "discard=unmap,target=2,lun=5" in scsi[1],
                "--scsi options: %r" % scsi)
        a.check(smbios == ["type=0,vendor=Amber BIOS,date=01/02/2023",
                           "type=1,manufacturer=Amber Labs,serial=SN-42",
                           "type=2,product=Board 1", "type=3,asset=A-7"],
                "--smbios options: %r" % smbios)
        a.check(argv[argv.index("--uuid") + 1] == UUID, "--uuid: %r" % argv)
        text = a.read_console(daemon, "scsi1", "BOOT: RESULT PASS", 120)
        a.check("BOOT: RESULT PASS" in text, "probe did not boot from sda:\n" + text[-2000:])
        live = virsh("dumpxml", "scsi1").stdout
        a.check("<alias name='scsi0-0-0-0'/>" in live and "<alias name='scsi0-0-2-5'/>" in live,
                "live aliases:\n" + live)
        # SeaBIOS read the boot sector from sda: amber-vmm counted it.
        out = virsh("domblkstat", "scsi1", "sda")
        m = re.search(r"sda rd_req (\d+)", out.stdout)
        a.check(out.returncode == 0 and m is not None and int(m.group(1)) > 0,
                "domblkstat sda: %s%s" % (out.stdout, out.stderr))
        out = virsh("destroy", "scsi1")
        a.check(out.returncode == 0, "destroy: %s%s" % (out.stdout, out.stderr))
    finally:
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
