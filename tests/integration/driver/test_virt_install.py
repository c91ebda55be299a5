#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's virt-install against virtamberd in the qemu compatibility mode
(qemu+unix:///system?socket=DIR/virtamberd-sock):
  1. `virt-install --dry-run --print-xml` writes XML that `virsh define`
     accepts on Amber (and it is undefined again);
  2. `virt-install --import` defines and starts a domain on a qcow2 linked
     clone of the boot-sector probe; virsh sees it running and the guest
     prints its serial lines (SeaBIOS loads the probe from virtio-blk);
  3. `virt-install --disk pool=default,size=1,format=qcow2` makes a new
     1 GiB qcow2 volume in a "default" pool through the storage calls and
     defines a domain on it (qemu-img check passes on the volume; the domain
     and the volume are removed again);
  4. `virt-install --osinfo win7 --import` with virtinst's win7 defaults
     (the ich9-ehci1 + ich9-uhci1..3 usb2 set) defines, and with
     `--network user,model=e1000` (no "default" network here) it starts
     with the EHCI set (`--usb ehci`, the tablet behind it) and the probe
     boots from the IDE disk.
Usage: test_virt_install.py VIRTAMBERD AMBER_VMM BOOT_BIN
On failure it prints the client's failed RPC calls (LIBVIRT_DEBUG=1)."""
import os
import sys

import amberd as a

DAEMON, VMM, BOOT_BIN = sys.argv[1:4]
NAME = "amber-vi"

# Amber's device set: one virtio-blk disk, COM1 as the serial console, no
# NIC, graphics, sound, USB, balloon or RNG; the machine the capabilities
# offer (i440FX: virtinst picks q35 only when it is listed); the host CPU;
# the clock without tick policies (amber-vmm cannot choose them) and no HPET.
AMBER_OPTIONS = [
    "--memory", "128", "--vcpus", "1",
    "--cpu", "host-passthrough",
    "--graphics", "none", "--network", "none", "--sound", "none",
    "--controller", "usb,model=none", "--memballoon", "none", "--rng", "none",
    "--console", "pty,target_type=serial",
    "--clock", "offset=utc,hpet_present=no",
    "--osinfo", "detect=on,require=off",
    "--noautoconsole",
]


def virt_install(daemon, *args, debug=True):
    env = dict(daemon.env)
    if debug:
        env.update(LIBVIRT_DEBUG="1", LIBVIRT_LOG_OUTPUTS="1:stderr")
    return a.run(["virt-install", "--connect", daemon.uri, *args], timeout=120, env=env)


def explain(what, out, daemon):
    failed = a.rpc_errors(out.stderr)
    return ("%s (rc %d)\nstdout: %s\nfailed RPC calls (proc, error): %s\nclient errors:\n%s\n"
            "daemon log:\n%s" % (what, out.returncode, out.stdout[-3000:], failed,
                                 a.client_errors(out.stderr), daemon.log_text()))


def windows7_import(daemon, tmp):
    """`--osinfo win7 --import` with nothing but a name, memory and the disk:
    virtinst's defaults are an IDE disk, the ICH9 EHCI1 + UHCI1-3 USB set,
    an e1000 on libvirt's "default" network, a USB tablet, VNC and VGA.
    define must take them as they are (the usb2 set is amber-vmm's
    `--usb ehci`); with the NIC put on user networking virt-install itself
    defines and starts the domain, amber-vmm gets the EHCI set with the
    tablet behind it, and the probe boots from the IDE disk (BOOT: RESULT
    PASS on COM1)."""
    problems = []
    name = NAME + "-win7"
    clone = a.make_clone(tmp, BOOT_BIN, name)
    base = ["--osinfo", "win7", "--import", "--name", name, "--memory", "256",
            "--disk", "path=%s,format=qcow2" % clone, "--noautoconsole"]
    out = virt_install(daemon, *base, "--dry-run", "--print-xml", debug=False)
    if out.returncode != 0 or "ich9-ehci1" not in out.stdout or "bus=\"ide\"" not in out.stdout:
        return problems + [explain("virt-install --osinfo win7 --print-xml (want ich9-ehci1 and "
                                   "an IDE disk)", out, daemon)]
    xml_path = os.path.join(tmp, "win7.xml")
    with open(xml_path, "w") as f:
        f.write(out.stdout)
    defined = daemon.virsh("define", xml_path)
    if defined.returncode != 0:
        problems.append("virsh define of the win7 defaults (usb2 set): rc %d, %s" %
                        (defined.returncode, defined.stderr))
    else:
        dumped = daemon.virsh("dumpxml", name)
        for model in ("ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3"):
            if model not in dumped.stdout:
                problems.append("win7 defaults: dumpxml lost %s:\n%s" % (model, dumped.stdout))
        a.log("win7 defaults defined with the usb2 set")
        daemon.virsh("undefine", name)
    out = virt_install(daemon, *base, "--network", "user,model=e1000")
    if out.returncode != 0:
        return problems + [explain("virt-install --osinfo win7 with user networking", out, daemon)]
    text = a.read_console(daemon, name, "BOOT: RESULT PASS", 90)
    log_file = os.path.join(daemon.log_dir, name + ".log")
    vmm_log = open(log_file, errors="replace").read() if os.path.exists(log_file) else ""
    if "BOOT: RESULT PASS" not in text and "BOOT: RESULT PASS" not in vmm_log:
        problems.append("win7 import: no 'BOOT: RESULT PASS' from the IDE disk:\n%s\n%s" %
                        (text[-1500:], vmm_log[-1500:]))
    else:
        a.log("win7 import: BOOT: RESULT PASS from the IDE disk")
    started = [line for line in vmm_log.splitlines() if "starting up" in line]
    argv = started[-1] if started else ""
    for want in ("--ide", "--usb ehci", "--usb-device tablet", "--nic model=e1000", "--vnc",
                 "--vga std"):
        if want not in argv:
            problems.append("win7 import: amber-vmm was started without %r: %s" % (want, argv))
    daemon.virsh("destroy", name)
    daemon.virsh("undefine", name)
    return problems


def test():
    a.require("virt-install")
    a.require("virsh")
    tmp = a.workdir("virt-install")
    clone = a.make_clone(tmp, BOOT_BIN, NAME)
    daemon = a.Daemon(DAEMON, VMM, tmp)
    problems = []
    try:
        disk = "--disk", "path=%s,bus=virtio,format=qcow2" % clone
        # 1. --print-xml output is accepted by virsh define.
        out = virt_install(daemon, "--import", "--name", NAME + "-xml", *disk, *AMBER_OPTIONS,
                           "--dry-run", "--print-xml")
        if out.returncode != 0 or "<domain" not in out.stdout:
            problems.append(explain("virt-install --dry-run --print-xml", out, daemon))
        else:
            xml_path = os.path.join(tmp, "printed.xml")
            with open(xml_path, "w") as f:
                f.write(out.stdout)
            with open(os.path.join(a.artifact_dir(), "virt-install-print.xml"), "w") as f:
                f.write(out.stdout)
            defined = daemon.virsh("define", xml_path, debug=True)
            if defined.returncode != 0:
                problems.append(explain("virsh define of virt-install's XML", defined, daemon) +
                                "\nXML:\n" + out.stdout)
            else:
                gone = daemon.virsh("undefine", NAME + "-xml")
                if gone.returncode != 0:
                    problems.append("virsh undefine %s-xml: %s" % (NAME, gone.stderr))

        # 2. virt-install --import creates and starts the domain.
        out = virt_install(daemon, "--import", "--name", NAME, *disk, *AMBER_OPTIONS)
        if out.returncode != 0:
            problems.append(explain("virt-install --import", out, daemon))
            raise a.TestFailure("\n\n".join(problems))
        a.log("virt-install: " + " ".join(out.stdout.split()[-12:]))
        # The probe reports through COM1 and then ends the VM through the
        # isa-debug-exit port, so the domain is running only for the few
        # seconds SeaBIOS and the probe take: look for it at once.
        state = daemon.domstate(NAME)
        listed = daemon.virsh("list", "--all").stdout
        if state not in ("running", "shut off") or NAME not in listed:
            problems.append("after virt-install: domstate %r, list:\n%s\n%s" % (state, listed,
                                                                            daemon.log_text()))
        elif state != "running":
            problems.append("the domain was already %r right after virt-install" % state)
        text = a.read_console(daemon, NAME, "BOOT: RESULT PASS", 90)
        log_file = os.path.join(daemon.log_dir, NAME + ".log")
        vmm_log = open(log_file, errors="replace").read() if os.path.exists(log_file) else ""
        with open(os.path.join(a.artifact_dir(), "virt-install-console.txt"), "w") as f:
            f.write(text)
        if "BOOT: RESULT PASS" not in text and "BOOT: RESULT PASS" not in vmm_log:
            problems.append("the probe's serial line 'BOOT: RESULT PASS' did not appear on the "
                            "console:\n%s\nVMM log:\n%s\ndaemon log:\n%s" %
                            (text[-2000:], vmm_log[-2000:], daemon.log_text()))
        else:
            a.log("serial console: BOOT: RESULT PASS")
        # The probe's int 13h writes landed in the linked clone.
        for _ in range(60):
            if daemon.domstate(NAME) != "running":
                break
            a.time.sleep(1)
        daemon.virsh("destroy", NAME)
        sector = os.path.join(tmp, "sector32.raw")
        a.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", clone, sector], timeout=30)
        data = open(sector, "rb").read()[32 * 512:33 * 512] if os.path.exists(sector) else b""
        if b"AMBERBOOTWRITE0" not in data:
            problems.append("the probe's write to sector 32 is not in the clone")
        gone = daemon.virsh("undefine", NAME)
        if gone.returncode != 0:
            problems.append("virsh undefine %s: %s" % (NAME, gone.stderr))

        # 3. a new disk in a pool, made by virt-install through the storage calls.
        pool_dir = os.path.join(tmp, "default-pool")
        for step in (("pool-define-as", "default", "dir", "--target", pool_dir),
                     ("pool-build", "default"), ("pool-start", "default")):
            made = daemon.virsh(*step)
            if made.returncode != 0:
                problems.append("virsh %s: %s" % (" ".join(step), made.stderr))
        pooled = NAME + "-pool"
        out = virt_install(daemon, "--import", "--name", pooled, "--disk",
                           "pool=default,size=1,format=qcow2,bus=virtio", *AMBER_OPTIONS,
                           "--noreboot")
        volumes = daemon.virsh("vol-list", "default").stdout
        a.log("virt-install --disk pool=default: rc %d; vol-list:\n%s" % (out.returncode,
                                                                          volumes.rstrip()))
        made = [f for f in os.listdir(pool_dir) if f.endswith(".qcow2")] if os.path.isdir(
            pool_dir) else []
        if out.returncode != 0:
            problems.append(explain("virt-install --disk pool=default,size=1,format=qcow2", out,
                                    daemon))
        elif len(made) != 1 or made[0] not in volumes:
            problems.append("virt-install made %s in the pool; vol-list:\n%s" % (made, volumes))
        else:
            volume = os.path.join(pool_dir, made[0])
            info = a.run(["qemu-img", "info", "-U", "--output=json", volume]).stdout
            checked = a.run(["qemu-img", "check", "-U", volume])
            if '"virtual-size": 1073741824' not in info or checked.returncode != 0:
                problems.append("the volume virt-install made: %s\n%s" % (info, checked.stdout))
            xml = daemon.virsh("dumpxml", pooled).stdout
            if volume not in xml:
                problems.append("the domain does not use the new volume:\n" + xml)
        daemon.virsh("destroy", pooled)
        daemon.virsh("undefine", pooled, "--remove-all-storage")
        daemon.virsh("undefine", pooled)
        daemon.virsh("pool-destroy", "default")
        daemon.virsh("pool-undefine", "default")

        # 4. A Windows 7 import with virt-install's own defaults for win7.
        problems += windows7_import(daemon, tmp)
    finally:
        daemon.stop()
    if problems:
        raise a.TestFailure("\n\n".join(problems))


if __name__ == "__main__":
    a.main(test)
