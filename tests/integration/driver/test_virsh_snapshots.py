#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Internal snapshots of a stopped domain's qcow2 disk through Debian's
virsh against virtamberd in a temporary directory, with qemu-img and
qemu-io as the oracles: snapshot-create-as (s1, then s2 as its child),
snapshot-list (--tree, --parent, --roots, --leaves, --current),
snapshot-current, snapshot-info, snapshot-dumpxml, `qemu-img snapshot -l`
showing both, snapshot-revert to s1 with the data checked, `qemu-img
check` clean, a restart keeping the metadata and the current snapshot,
hostile and unsupported requests refused, snapshot-delete --children,
undefine refused with snapshots and done with --snapshots-metadata.
With amber-vmm and the boot probe given: a running domain's
snapshot-create is refused, nothing written to its disk.
Usage: test_virsh_snapshots.py VIRTAMBERD [AMBER_VMM BOOT_BIN]  (run by /usr/bin/python3)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd  # noqa: E402
from amberd import check, log  # noqa: E402

DAEMON = sys.argv[1]
VMM, BOOT_BIN = (sys.argv[2:4] + [None, None])[:2]

DOMAIN_XML = """<domain type='kvm'>
  <name>snapdom</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%s'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def qemu_io(path, command):
    out = amberd.run(["qemu-io", "-f", "qcow2", "-c", command, path])
    check(out.returncode == 0, "qemu-io %s: %s" % (command, out.stdout + out.stderr))
    return out.stdout


def pattern_ok(path, pattern, offset="0", length="64k"):
    out = amberd.run(["qemu-io", "-f", "qcow2", "-c",
                      "read -P %s %s %s" % (pattern, offset, length), path])
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout


def test():
    for tool in ("virsh", "qemu-img", "qemu-io"):
        amberd.require(tool)
    tmp = amberd.workdir("virsh-snapshots")
    disk = os.path.join(tmp, "disk.qcow2")
    raw = os.path.join(tmp, "data.raw")
    check(amberd.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"]).returncode == 0,
          "qemu-img create")
    check(amberd.run(["qemu-img", "create", "-q", "-f", "raw", raw, "1M"]).returncode == 0,
          "qemu-img create raw")
    xml_path = os.path.join(tmp, "dom.xml")
    with open(xml_path, "w") as f:
        f.write(DOMAIN_XML % (disk, raw))
    daemon = amberd.Daemon(DAEMON, None, tmp)
    try:
        v = daemon.virsh
        out = v("define", xml_path)
        check(out.returncode == 0, "define: " + out.stderr)

        # A raw disk that would be snapshotted is refused by name.
        out = v("snapshot-create-as", "snapdom", "s0")
        check(out.returncode != 0 and "unsupported for storage type raw" in out.stderr,
              "raw disk not refused: " + out.stdout + out.stderr)
        check(v("snapshot-list", "snapdom", "--name").stdout.strip() == "",
              "a refused snapshot left metadata")

        listed = v("list", "--all", "--name", "--without-snapshot").stdout.split()
        check("snapdom" in listed, "--without-snapshot before s1: %s" % listed)
        qemu_io(disk, "write -P 0x11 0 64k")
        out = v("snapshot-create-as", "snapdom", "s1", "first", "--diskspec", "vdb,snapshot=no")
        check(out.returncode == 0 and "Domain snapshot s1 created" in out.stdout,
              "snapshot-create-as s1: " + out.stdout + out.stderr)
        qemu_io(disk, "write -P 0x22 0 64k")
        out = v("snapshot-create-as", "snapdom", "s2", "--diskspec", "vdb,snapshot=no")
        check(out.returncode == 0, "snapshot-create-as s2: " + out.stderr)

        out = amberd.run(["qemu-img", "snapshot", "-l", disk])
        names = [line.split()[1] for line in out.stdout.splitlines()[2:] if line.split()]
        check(names == ["s1", "s2"], "qemu-img snapshot -l: " + out.stdout)
        with_snap = v("list", "--all", "--name", "--with-snapshot").stdout.split()
        without = v("list", "--all", "--name", "--without-snapshot").stdout.split()
        check("snapdom" in with_snap and "snapdom" not in without,
              "list --with-snapshot %s / --without-snapshot %s" % (with_snap, without))

        out = v("snapshot-list", "snapdom", "--parent")
        rows = {l.split()[0]: l.split() for l in out.stdout.splitlines()[2:] if l.strip()}
        check(set(rows) == {"s1", "s2"} and rows["s1"][-1] == "shutoff" and
              rows["s2"][-1] == "s1", "snapshot-list --parent: " + out.stdout + out.stderr)
        out = v("snapshot-list", "snapdom", "--tree")
        check(out.stdout.split() == ["s1", "|", "+-", "s2"],
              "snapshot-list --tree: %r %s" % (out.stdout, out.stderr))
        check(v("snapshot-list", "snapdom", "--roots", "--name").stdout.split() == ["s1"],
              "--roots")
        check(v("snapshot-list", "snapdom", "--leaves", "--name").stdout.split() == ["s2"],
              "--leaves")
        check(v("snapshot-current", "snapdom", "--name").stdout.strip() == "s2", "current s2")

        out = v("snapshot-info", "snapdom", "s1")
        info = dict((k.strip(), val.strip()) for k, _, val in
                    (l.partition(":") for l in out.stdout.splitlines() if ":" in l))
        check(info.get("Name") == "s1" and info.get("Current") == "no" and
              info.get("State") == "shutoff" and info.get("Location") == "internal" and
              info.get("Children") == "1" and info.get("Descendants") == "1" and
              info.get("Metadata") == "yes", "snapshot-info s1: " + out.stdout + out.stderr)
        out = v("snapshot-dumpxml", "snapdom", "s2")
        check("<parent>" in out.stdout and "<name>s1</name>" in out.stdout and
              "<disk name='vda' snapshot='internal'/>" in out.stdout and
              "<domain type='kvm'>" in out.stdout and "<active>" not in out.stdout,
              "snapshot-dumpxml: " + out.stdout + out.stderr)

        out = v("snapshot-revert", "snapdom", "s1")
        check(out.returncode == 0, "snapshot-revert: " + out.stderr)
        check(pattern_ok(disk, "0x11"), "s1's data not back after revert")
        check(v("snapshot-current", "snapdom", "--name").stdout.strip() == "s1", "current s1")
        out = amberd.run(["qemu-img", "check", disk])
        check(out.returncode == 0 and "No errors were found" in out.stdout,
              "qemu-img check: " + out.stdout)

        # Hostile and unsupported requests.
        for xml, words in (("<domainsnapshot><name>../x</name></domainsnapshot>",
                            "must not start with '.'"),
                           ("<domainsnapshot><name>a/b</name></domainsnapshot>",
                            "must not contain '/'"),
                           ("<domainsnapshot><bogus/></domainsnapshot>", "unknown element"),
                           ("<!DOCTYPE x><domainsnapshot/>", "DOCTYPE"),
                           ("<domainsnapshot><name>m</name><memory snapshot='internal'/>"
                            "</domainsnapshot>", "memory state cannot be saved")):
            path = os.path.join(tmp, "bad.xml")
            with open(path, "w") as f:
                f.write(xml)
            out = v("snapshot-create", "snapdom", path)
            check(out.returncode != 0 and words in out.stderr,
                  "hostile %r: %s" % (xml, out.stdout + out.stderr))
        out = v("snapshot-create-as", "snapdom", "e1", "--disk-only")
        check(out.returncode != 0 and "not supported" in out.stderr, "--disk-only: " + out.stderr)
        out = v("snapshot-create-as", "snapdom", "s1", "--diskspec", "vdb,snapshot=no")
        check(out.returncode != 0 and "already exists" in out.stderr, "dup: " + out.stderr)
        out = v("snapshot-info", "snapdom", "nope")
        check(out.returncode != 0 and "Domain snapshot not found" in out.stderr,
              "unknown snapshot: " + out.stderr)

        # A restart keeps the metadata and which one is current.
        daemon.stop()
        daemon = amberd.Daemon(DAEMON, None, tmp)
        v = daemon.virsh
        check(v("snapshot-list", "snapdom", "--name").stdout.split() == ["s1", "s2"],
              "restart lost snapshots")
        check(v("snapshot-current", "snapdom", "--name").stdout.strip() == "s1",
              "restart lost the current snapshot")

        out = v("undefine", "snapdom")
        check(out.returncode != 0 and "cannot delete inactive domain with 2 snapshots" in
              out.stderr, "undefine with snapshots: " + out.stderr)

        out = v("snapshot-delete", "snapdom", "s1", "--children")
        check(out.returncode == 0, "snapshot-delete --children: " + out.stderr)
        out = amberd.run(["qemu-img", "snapshot", "-l", disk])
        check("s1" not in out.stdout and "s2" not in out.stdout, "qcow2 kept: " + out.stdout)
        check(amberd.run(["qemu-img", "check", disk]).returncode == 0, "check after delete")

        out = v("snapshot-create-as", "snapdom", "s3", "--diskspec", "vdb,snapshot=no")
        check(out.returncode == 0, "s3: " + out.stderr)
        out = v("undefine", "snapdom", "--snapshots-metadata")
        check(out.returncode == 0, "undefine --snapshots-metadata: " + out.stderr)
        check(not os.path.exists(os.path.join(tmp, "config", "snapshot", "snapdom", "s3.xml")),
              "metadata left after undefine --snapshots-metadata")
        out = amberd.run(["qemu-img", "snapshot", "-l", disk])
        check("s3" in out.stdout, "the qcow2 snapshot should stay: " + out.stdout)
        log("snapshots ok")
    finally:
        daemon.stop()
    if VMM:
        running_refused(tmp)


def running_refused(tmp):
    """A snapshot of a running domain (its disk held by amber-vmm) is
    refused with a clear message, and the qcow2 gets no snapshot."""
    raw = os.path.join(tmp, "probe.raw")
    disk = os.path.join(tmp, "run.qcow2")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    amberd.run([sys.executable, os.path.join(root, "guest", "bootsector", "mkdisk.py"), BOOT_BIN,
                raw, "2", "--stay"], check_rc=True)
    amberd.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, disk], check_rc=True)
    xml_path = os.path.join(tmp, "run.xml")
    with open(xml_path, "w") as f:
        f.write(DOMAIN_XML.replace("snapdom", "rundom").replace("""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%s'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
""", "") % disk)
    daemon = amberd.Daemon(DAEMON, VMM, tmp)
    try:
        v = daemon.virsh
        check(v("define", xml_path).returncode == 0, "define rundom")
        out = v("start", "rundom")
        check(out.returncode == 0, "start rundom: " + out.stderr + daemon.log_text())
        check(daemon.domstate("rundom") == "running", "rundom is not running")
        out = v("snapshot-create-as", "rundom", "live")
        check(out.returncode != 0 and "of a running domain is not supported yet" in out.stderr,
              "a running domain's snapshot was not refused: " + out.stdout + out.stderr)
        out = v("snapshot-list", "rundom", "--name")
        check(out.returncode == 0 and "live" not in out.stdout, "snapshot-list: " + out.stdout)
        v("destroy", "rundom")
        out = amberd.run(["qemu-img", "snapshot", "-l", disk])
        check(out.returncode == 0 and "live" not in out.stdout,
              "the refused snapshot reached the qcow2: " + out.stdout)
        check(v("undefine", "rundom").returncode == 0, "undefine rundom")
        log("running domain: snapshot-create refused, disk untouched")
    finally:
        daemon.stop()


amberd.main(test)
