#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS through libvirt with Debian's virsh against virtamberd, real
qemu-img / qemu-io as the oracle:
- vol-create of a qcow2 (encrypt.format=luks) and of a raw LUKS volume with
  <encryption format='luks'><secret type='passphrase' uuid=.../>: qemu-img
  info sees the encryption, qemu-io opens the volume with the secret's value
  and refuses a wrong passphrase; vol-dumpxml shows <encryption>;
- a missing secret, a secret of the wrong usage type and one without a
  value are refused with libvirt's words, leaving no file behind;
- a domain whose disk is a qcow2+LUKS image (made by qemu-img) with
  <encryption> in its <source>, by uuid and by usage: the boot probe on it
  passes (so amber-vmm decrypted it), the passphrase is on no command line
  and in no log; with a wrong value the start fails with the engine's
  "Invalid password" and no VMM stays behind.
Usage: test_virsh_luks.py VIRTAMBERD AMBER_VMM BOOT_BIN (run by /usr/bin/python3)"""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402

DAEMON, VMM, BOOT_BIN = sys.argv[1:4]
PASS = "clinic-7-horse-staple"
WRONG = "not-the-passphrase"
VOL_UUID = "6c1c1a52-3a63-4bd4-9d1c-5d1e0f3a7b01"
DISK_UUID = "6c1c1a52-3a63-4bd4-9d1c-5d1e0f3a7b02"
TLS_UUID = "6c1c1a52-3a63-4bd4-9d1c-5d1e0f3a7b03"
EMPTY_UUID = "6c1c1a52-3a63-4bd4-9d1c-5d1e0f3a7b04"

SECRET_XML = """<secret ephemeral='no' private='yes'>
  <uuid>%s</uuid>
  <usage type='%s'>%s</usage>
</secret>
"""

DOMAIN_XML = """<domain type='kvm'>
  <name>enc-vm</name>
  <uuid>6c1c1a52-3a63-4bd4-9d1c-5d1e0f3a7b10</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'>
        <encryption format='luks'>
          <secret type='passphrase' %s/>
        </encryption>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def ok(daemon, *args):
    out = daemon.virsh(*args)
    a.check(out.returncode == 0, "virsh %s failed: %s%s\ndaemon log:\n%s" %
            (" ".join(args), out.stdout, out.stderr, daemon.log_text()))
    return out.stdout


def refused(daemon, words, *args):
    out = daemon.virsh(*args)
    a.check(out.returncode != 0, "virsh %s was not refused: %s" % (" ".join(args), out.stdout))
    a.check(words in out.stderr, "virsh %s: expected %r in: %s" % (" ".join(args), words, out.stderr))
    return out.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def define_secret(daemon, tmp, uuid, usage_type, usage, value):
    inner = "<volume>%s</volume>" % usage if usage_type == "volume" else "<name>%s</name>" % usage
    ok(daemon, "secret-define", write(os.path.join(tmp, uuid + ".xml"),
                                      SECRET_XML % (uuid, usage_type, inner)))
    if value is not None:
        ok(daemon, "secret-set-value", uuid, base64.b64encode(value.encode()).decode())


def qemu_io_reads(path, fmt, passphrase):
    # A new raw LUKS payload decrypts to noise (qemu-img writes no zeros
    # there either): only qcow2's unallocated clusters read as zeros.
    key = "encrypt.key-secret" if fmt == "qcow2" else "key-secret"
    command = "read -P 0 0 64k" if fmt == "qcow2" else "read 0 64k"
    return subprocess.run(
        ["qemu-io", "--object", "secret,id=s0,data=" + passphrase, "--image-opts",
         "driver=%s,file.filename=%s,%s=s0" % (fmt, path, key), "-c", command],
        capture_output=True, text=True)


def volumes(daemon, tmp, pool):
    define_secret(daemon, tmp, VOL_UUID, "volume", os.path.join(pool, "enc.qcow2"), PASS)
    vol = """<volume><name>%s</name><capacity unit='MiB'>16</capacity>
  <target><format type='%s'/>%s</target></volume>"""
    enc = "<encryption format='luks'><secret type='passphrase' uuid='%s'/></encryption>"
    ok(daemon, "vol-create", "p1",
       write(os.path.join(tmp, "q.xml"), vol % ("enc.qcow2", "qcow2", enc % VOL_UUID)))
    path = os.path.join(pool, "enc.qcow2")
    info = a.run(["qemu-img", "info", "-U", path], check_rc=True).stdout
    a.check("encrypted: yes" in info and "format: luks" in info,
            "qemu-img does not see a LUKS qcow2:\n" + info)
    a.check("virtual size: 16 MiB" in info, "wrong size:\n" + info)
    good = qemu_io_reads(path, "qcow2", PASS)
    a.check(good.returncode == 0 and "read 65536/65536" in good.stdout,
            "qemu-io cannot read the volume with the secret's value: %s%s" % (good.stdout, good.stderr))
    bad = qemu_io_reads(path, "qcow2", WRONG)
    a.check(bad.returncode != 0 or "Invalid password" in bad.stderr,
            "qemu-io opened the volume with a wrong passphrase: " + bad.stdout)
    dump = ok(daemon, "vol-dumpxml", "--pool", "p1", "enc.qcow2")
    a.check("<encryption format='luks'" in dump, "vol-dumpxml shows no encryption:\n" + dump)
    a.log("qcow2+luks volume: qemu-img and qemu-io agree")

    # A raw volume with LUKS is a raw LUKS file (qemu-img -f luks).
    ok(daemon, "vol-create", "p1",
       write(os.path.join(tmp, "r.xml"), vol % ("enc.img", "raw", enc % VOL_UUID)))
    raw = os.path.join(pool, "enc.img")
    info = a.run(["qemu-img", "info", "-U", raw], check_rc=True).stdout
    a.check("file format: luks" in info and "virtual size: 16 MiB" in info,
            "qemu-img does not see a raw LUKS volume:\n" + info)
    good = qemu_io_reads(raw, "luks", PASS)
    a.check(good.returncode == 0 and "read 65536/65536" in good.stdout,
            "qemu-io cannot read the raw LUKS volume: %s%s" % (good.stdout, good.stderr))
    a.check(qemu_io_reads(raw, "luks", WRONG).returncode != 0,
            "qemu-io opened the raw LUKS volume with a wrong passphrase")
    dump = ok(daemon, "vol-dumpxml", "--pool", "p1", "enc.img")
    a.check("<format type='raw'/>" in dump and "<encryption format='luks'" in dump,
            "vol-dumpxml of the raw LUKS volume:\n" + dump)
    a.check("<capacity unit='bytes'>16777216</capacity>" in dump,
            "the raw LUKS volume's capacity is not its payload:\n" + dump)
    refused(daemon, "resizing the raw LUKS volume", "vol-resize", "--pool", "p1", "enc.img", "32M")
    a.check(os.path.getsize(raw) < 32 << 20, "the refused resize changed the raw LUKS file")
    a.log("raw luks volume: qemu-img and qemu-io agree")

    # Refusals: nothing is left behind.
    define_secret(daemon, tmp, TLS_UUID, "tls", "not-a-volume", PASS)
    define_secret(daemon, tmp, EMPTY_UUID, "volume", os.path.join(pool, "x3.qcow2"), None)
    cases = [("x1.qcow2", "<encryption format='luks'/>", "no secret provided for luks encryption"),
             ("x2.qcow2", enc % "0a81f5b2-8403-7b23-c8d6-21ccd2f80d6f", "no secret with matching uuid"),
             ("x3.qcow2", enc % EMPTY_UUID, "does not have a value"),
             ("x4.qcow2", enc % TLS_UUID, "not expected 'volume' type"),
             ("x5.qcow2", "<encryption format='qcow'/>", "unsupported volume encryption format")]
    for name, xml, words in cases:
        refused(daemon, words, "vol-create", "p1",
                write(os.path.join(tmp, name + ".xml"), vol % (name, "qcow2", xml)))
        a.check(not os.path.exists(os.path.join(pool, name)), name + " was left behind")
    a.log("encrypted vol-create refusals: %d cases" % len(cases))


def vmm_command_lines():
    lines = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "amber-vmm" in cmd and "enc-vm" in cmd:
            lines.append(cmd)
    return lines


def domain(daemon, tmp):
    disk_raw = os.path.join(tmp, "probe.raw")
    disk = os.path.join(tmp, "probe-luks.qcow2")
    a.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                        "guest", "bootsector", "mkdisk.py"),
           BOOT_BIN, disk_raw, "2", "--stay"], check_rc=True)
    convert = ["qemu-img", "convert", "--object", "secret,id=s0,data=" + PASS, "-f", "raw", "-O",
               "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
               disk_raw, disk]
    # qemu-img times PBKDF2 on the thread's CPU clock; on a loaded host a
    # 10 ms sample can read as no time at all ("Unable to get accurate CPU
    # usage"): that is the oracle's set-up failing, so try it again.
    for attempt in range(3):
        made = subprocess.run(convert, capture_output=True, text=True)
        if made.returncode == 0 or "accurate CPU usage" not in made.stderr:
            break
    a.check(made.returncode == 0, "qemu-img convert failed (rc %d): %s" % (made.returncode, made.stderr))
    define_secret(daemon, tmp, DISK_UUID, "volume", disk, PASS)
    for by in ("uuid='%s'" % DISK_UUID, "usage='%s'" % disk):
        ok(daemon, "define", write(os.path.join(tmp, "d.xml"), DOMAIN_XML % (disk, by)))
        inactive = ok(daemon, "dumpxml", "--inactive", "enc-vm")
        a.check("<secret type='passphrase' %s/>" % by in inactive,
                "the domain XML lost the disk's secret:\n" + inactive)
        ok(daemon, "start", "enc-vm")
        text = a.read_console(daemon, "enc-vm", "BOOT: RESULT PASS", 90)
        cmdlines = vmm_command_lines()
        ok(daemon, "destroy", "enc-vm")
        a.check("BOOT: RESULT PASS" in text,
                "the probe did not pass on the encrypted disk (%s):\n%s" % (by, text[-2000:]))
        a.check(cmdlines and all("secret-fd=" in c for c in cmdlines),
                "amber-vmm was not given the secret by descriptor: %s" % cmdlines)
        a.check(not any(PASS in c for c in cmdlines), "the passphrase is on a command line")
        a.log("encrypted disk by %s: BOOT: RESULT PASS" % by.split("=")[0])
    ok(daemon, "secret-set-value", DISK_UUID, base64.b64encode(WRONG.encode()).decode())
    refused(daemon, "Invalid password", "start", "enc-vm")
    a.check(not vmm_command_lines(), "an amber-vmm stayed behind after the refused start")
    ok(daemon, "undefine", "enc-vm")
    logs = daemon.log_text()
    for name in os.listdir(daemon.log_dir):
        with open(os.path.join(daemon.log_dir, name), errors="replace") as f:
            logs += f.read()
    a.check(PASS not in logs and WRONG not in logs, "a passphrase reached a log")
    a.log("wrong passphrase: start refused; no passphrase in any log")


def test():
    a.require("virsh")
    a.require("qemu-img")
    tmp = a.workdir("luks")
    pool = os.path.join(tmp, "pool")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    try:
        ok(daemon, "pool-define-as", "p1", "dir", "--target", pool)
        ok(daemon, "pool-build", "p1")
        ok(daemon, "pool-start", "p1")
        volumes(daemon, tmp, pool)
        domain(daemon, tmp)
    finally:
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
