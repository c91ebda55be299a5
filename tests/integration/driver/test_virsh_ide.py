#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""IDE disks and CD-ROMs through virtamberd with Debian's virsh: a domain
with the boot-sector probe on an IDE disk (hda, no address: derived), a
CD-ROM with media (hdc) and an empty CD-ROM (hdd) is defined and started;
SeaBIOS must boot the probe from hda (BOOT: RESULT PASS on the console).
`virsh dumpxml` must show libvirt's drive addresses, <readonly/> on the
cdroms and the implicit ide controller at 00:01.1; `virsh domblklist`
lists the three targets (hdd with '-'); `domcapabilities` lists cdrom and
ide; `virsh domblkstat hda` counts SeaBIOS's reads. Media change
on the running domain (virDomainUpdateDeviceFlags through `virsh
change-media --update/--eject/--insert`, attach-disk --type cdrom onto the
empty hdd): dumpxml, domblklist and amber-vmm's own query-block (its control
socket) must all show the new medium or none; --config changes only the
definition; other device updates stay refused. An offline snapshot takes hda and
leaves the cdroms out (snapshot='no'). Refusals of IDE controller index 1 and
bus='sata' come in libvirt's words at define time.
Usage: test_virsh_ide.py VIRTAMBERD AMBER_VMM BOOT_BIN (run by /usr/bin/python3)"""
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402

DAEMON, VMM, BOOT_BIN = sys.argv[1:4]

DOMAIN_XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='hda' bus='ide'/>
      <boot order='1'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{iso}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='hdd' bus='ide'/>
    </disk>
    {extra}
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def test():
    a.require("virsh")
    tmp = a.workdir("virsh-ide")
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
        iso = os.path.join(tmp, "media.iso")
        with open(iso, "wb") as f:
            f.write(b"CD001".ljust(2048 * 64, b"\0"))
        iso2 = os.path.join(tmp, "media2.iso")
        with open(iso2, "wb") as f:
            f.write(b"CD002".ljust(2048 * 32, b"\0"))

        # Refusals in libvirt's words.
        out = define("bad1", DOMAIN_XML.format(name="bad1", disk=disk, iso=iso,
                                               extra="<controller type='ide' index='1'/>"))
        a.check(out.returncode != 0 and "Only 1 IDE controller is supported" in out.stderr,
                "ide index 1: %s%s" % (out.stdout, out.stderr))
        out = define("bad2", DOMAIN_XML.format(name="bad2", disk=disk, iso=iso, extra="").replace(
            "dev='hdc' bus='ide'", "dev='sdc' bus='sata'"))
        a.check(out.returncode != 0 and "only virtio, ide and scsi disks are supported" in out.stderr,
                "sata: %s%s" % (out.stdout, out.stderr))

        out = define("ide1", DOMAIN_XML.format(name="ide1", disk=disk, iso=iso, extra=""))
        a.check(out.returncode == 0, "define: %s%s" % (out.stdout, out.stderr))
        xml = virsh("dumpxml", "ide1").stdout
        for want in ("<target dev='hda' bus='ide'/>",
                     "<address type='drive' controller='0' bus='0' target='0' unit='0'/>",
                     "<address type='drive' controller='0' bus='1' target='0' unit='0'/>",
                     "<address type='drive' controller='0' bus='1' target='0' unit='1'/>",
                     "<disk type='file' device='cdrom'>",
                     "<controller type='ide' index='0'>",
                     "<address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x1'/>"):
            a.check(want in xml, "dumpxml lacks %s:\n%s" % (want, xml))
        a.check(xml.count("<readonly/>") == 2, "both cdroms read-only:\n" + xml)

        caps = virsh("domcapabilities").stdout
        a.check("<value>cdrom</value>" in caps and "<value>ide</value>" in caps,
                "domcapabilities:\n" + caps)

        out = virsh("start", "ide1")
        a.check(out.returncode == 0, "start: %s%s\n%s" % (out.stdout, out.stderr, daemon.log_text()))
        text = a.read_console(daemon, "ide1", "BOOT: RESULT PASS", 120)
        a.check("BOOT: RESULT PASS" in text, "probe did not boot from hda:\n" + text[-2000:])

        out = virsh("domblklist", "ide1")
        rows = [line.split() for line in out.stdout.splitlines()[2:] if line.strip()]
        a.check(rows == [["hda", disk], ["hdc", iso], ["hdd", "-"]], "domblklist: %r" % rows)
        out = virsh("domblkinfo", "ide1", "hdc")
        a.check(out.returncode == 0 and "Capacity:       131072" in out.stdout,
                "domblkinfo hdc: %s%s" % (out.stdout, out.stderr))
        live = virsh("dumpxml", "ide1").stdout
        a.check("<alias name='ide0-1-0'/>" in live, "live alias of hdc:\n" + live)
        # SeaBIOS read the boot sector from hda: amber-vmm counted it.
        out = virsh("domblkstat", "ide1", "hda")
        m = re.search(r"hda rd_req (\d+)", out.stdout)
        a.check(out.returncode == 0 and m is not None and int(m.group(1)) > 0,
                "domblkstat hda: %s%s" % (out.stdout, out.stderr))
        media_change(virsh, daemon, iso, iso2, disk)
        out = virsh("destroy", "ide1")
        a.check(out.returncode == 0, "destroy: %s%s" % (out.stdout, out.stderr))
        # An offline internal snapshot: hda in it, the cdroms left out.
        out = virsh("snapshot-create-as", "ide1", "s1")
        a.check(out.returncode == 0, "snapshot-create-as: %s%s" % (out.stdout, out.stderr))
        snap = virsh("snapshot-dumpxml", "ide1", "s1").stdout
        for want in ("<disk name='hda' snapshot='internal'/>", "<disk name='hdc' snapshot='no'/>",
                     "<disk name='hdd' snapshot='no'/>"):
            a.check(want in snap, "snapshot-dumpxml lacks %s:\n%s" % (want, snap))
        info = a.run(["qemu-img", "snapshot", "-l", disk]).stdout
        a.check("s1" in info, "qemu-img snapshot -l: " + info)
    finally:
        daemon.stop()


def vmm_query_block(daemon):
    """query-block on the domain's amber-vmm control socket (its run dir
    holds one UUID.sock): {device: row}."""
    run_dir = os.path.join(daemon.tmp, "run")
    socks = [n for n in os.listdir(run_dir) if n.endswith(".sock")]
    a.check(len(socks) == 1, "control sockets in %s: %r" % (run_dir, socks))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(run_dir, socks[0]))
    f = s.makefile("rwb")
    f.readline()  # greeting
    f.write(b'{"execute":"query-block","id":1}\n')
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            break
    s.close()
    a.check("return" in reply, "query-block: %r" % reply)
    return {row["device"]: row for row in reply["return"]}


def blklist(virsh, *extra):
    out = virsh("domblklist", "ide1", *extra)
    return {row[0]: row[1] for row in
            (line.split() for line in out.stdout.splitlines()[2:] if line.strip())}


def cdrom_source(xml, dev):
    """The <source file> of the disk with target DEV, or None."""
    disk = re.search(r"<disk type='file' device='cdrom'>((?:(?!</disk>).)*<target dev='%s'"
                     r"(?:(?!</disk>).)*)</disk>" % dev, xml, re.S)
    a.check(disk is not None, "no cdrom %s in:\n%s" % (dev, xml))
    source = re.search(r"<source file='([^']*)'", disk.group(1))
    return source.group(1) if source else None


def media_change(virsh, daemon, iso, iso2, disk):
    out = virsh("change-media", "ide1", "hdc", iso2, "--update")
    a.check(out.returncode == 0 and "Successfully updated media" in out.stdout,
            "change-media --update: %s%s\n%s" % (out.stdout, out.stderr, daemon.log_text()))
    a.check(cdrom_source(virsh("dumpxml", "ide1").stdout, "hdc") == iso2, "dumpxml after update")
    a.check(blklist(virsh).get("hdc") == iso2, "domblklist after update: %r" % blklist(virsh))
    row = vmm_query_block(daemon).get("ide0-1-0")
    a.check(row is not None and row["path"] == iso2 and row.get("removable") is True
            and row.get("tray_open") is False, "vmm query-block after update: %r" % row)
    # The persistent definition is untouched by a live change.
    a.check(cdrom_source(virsh("dumpxml", "--inactive", "ide1").stdout, "hdc") == iso,
            "definition changed by a live update")

    out = virsh("change-media", "ide1", "hdc", "--eject")
    a.check(out.returncode == 0 and "Successfully ejected media" in out.stdout,
            "change-media --eject: %s%s" % (out.stdout, out.stderr))
    a.check(cdrom_source(virsh("dumpxml", "ide1").stdout, "hdc") is None, "dumpxml after eject")
    a.check(blklist(virsh).get("hdc") == "-", "domblklist after eject: %r" % blklist(virsh))
    row = vmm_query_block(daemon)["ide0-1-0"]
    a.check(row["path"] == "" and row["tray_open"] is True, "vmm query-block after eject: %r" % row)

    out = virsh("change-media", "ide1", "hdc", iso, "--insert")
    a.check(out.returncode == 0 and "Successfully inserted media" in out.stdout,
            "change-media --insert: %s%s" % (out.stdout, out.stderr))
    row = vmm_query_block(daemon)["ide0-1-0"]
    a.check(row["path"] == iso and row["tray_open"] is False, "vmm query-block after insert: %r" % row)

    # attach-disk --type cdrom onto the empty hdd: a live media change.
    out = virsh("attach-disk", "ide1", iso2, "hdd", "--type", "cdrom", "--mode", "readonly")
    a.check(out.returncode == 0, "attach-disk cdrom onto hdd: %s%s" % (out.stdout, out.stderr))
    a.check(blklist(virsh).get("hdd") == iso2, "domblklist after attach-disk: %r" % blklist(virsh))
    a.check(vmm_query_block(daemon)["ide0-1-1"]["path"] == iso2, "vmm query-block hdd")

    # --config: only the definition.
    out = virsh("change-media", "ide1", "hdc", iso2, "--update", "--config")
    a.check(out.returncode == 0, "change-media --config: %s%s" % (out.stdout, out.stderr))
    a.check(cdrom_source(virsh("dumpxml", "--inactive", "ide1").stdout, "hdc") == iso2,
            "definition after --config")
    a.check(vmm_query_block(daemon)["ide0-1-0"]["path"] == iso, "--config changed the live drive")

    # Still refused: a new disk, an update of a non-cdrom disk, a missing target.
    out = virsh("attach-disk", "ide1", iso2, "hdb", "--type", "cdrom", "--mode", "readonly")
    a.check(out.returncode != 0 and "Operation not supported" in out.stderr,
            "attach-disk onto a new target: %s%s" % (out.stdout, out.stderr))
    path = os.path.join(daemon.tmp, "hda.xml")
    with open(path, "w") as f:
        f.write("<disk type='file' device='disk'><source file='%s'/>"
                "<target dev='hda' bus='ide'/></disk>" % disk)
    out = virsh("update-device", "ide1", path)
    a.check(out.returncode != 0 and "Operation not supported" in out.stderr,
            "update-device of hda: %s%s" % (out.stdout, out.stderr))
    with open(path, "w") as f:
        f.write("<disk type='file' device='cdrom'><source file='%s'/>"
                "<target dev='hdb' bus='ide'/><readonly/></disk>" % iso)
    out = virsh("update-device", "ide1", path)
    a.check(out.returncode != 0 and "hdb" in out.stderr,
            "update-device of a missing target: %s%s" % (out.stdout, out.stderr))
    a.check(blklist(virsh) == {"hda": disk, "hdc": iso, "hdd": iso2},
            "refusals changed the drives: %r" % blklist(virsh))


if __name__ == "__main__":
    a.main(test)
