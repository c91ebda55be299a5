#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's virt-manager against virtamberd in the qemu compatibility mode,
under Xvfb: a domain on a linked clone of the console ticker
(tests/guest/bootsector/ticker.S, prints "AMBERTICK n" on COM1 every
second and keeps running) is defined and started through virsh, then
`virt-manager --no-fork --show-domain-console NAME` opens its window on
the serial console ("Serial 1": there are no graphics). The test waits for
the window (xwininfo), takes a screenshot of the root window (python3-gi
Gdk), checks it is not blank and keeps it, with virt-manager's debug log,
in AMBER_ARTIFACT_DIR (printed). The X helpers are in gui.py. Skips (77)
only without Xvfb or virt-manager.
Usage: test_virt_manager.py VIRTAMBERD AMBER_VMM TICKER_BIN"""
import os
import re
import sys
import time

import amberd as a
import gui

DAEMON, VMM, TICKER_BIN = sys.argv[1:4]
NAME = "amber-vm-gui"

DOMAIN_XML = """<domain type='kvm'>
  <name>%(name)s</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <cpu mode='host-passthrough'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%(disk)s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""

def test():
    xvfb = a.require("Xvfb")
    a.require("virt-manager")
    a.check(a.shutil.which("xwininfo"), "xwininfo (x11-utils) is missing: scripts/install-deps.sh")
    tmp = a.workdir("virt-manager")
    artifacts = a.artifact_dir()
    clone = a.make_clone(tmp, TICKER_BIN, NAME)
    problems = []
    shot = os.path.join(artifacts, "virt-manager-console.png")
    vm_log_path = os.path.join(artifacts, "virt-manager-debug.log")
    with gui.Desktop(xvfb, tmp, DAEMON, VMM, NAME) as desk:
        daemon = desk.daemon
        desk.cleanup = [("pool-destroy", "default"), ("pool-undefine", "default")]
        # A "default" pool in TMP: without one virt-manager defines, builds
        # and autostarts its own on /var/lib/libvirt/images, on the host.
        for step in (("pool-define-as", "default", "dir", "--target", os.path.join(tmp, "default")),
                     ("pool-build", "default"), ("pool-start", "default")):
            out = daemon.virsh(*step, debug=True)
            if out.returncode != 0:
                problems.append("virsh %s: %s" % (" ".join(step), a.client_errors(out.stderr)))
        xml_path = os.path.join(tmp, NAME + ".xml")
        with open(xml_path, "w") as f:
            f.write(DOMAIN_XML % {"name": NAME, "disk": clone})
        out = daemon.virsh("define", xml_path, debug=True)
        if out.returncode != 0:
            problems.append("virsh define: %s\nfailed RPC calls: %s" %
                            (a.client_errors(out.stderr), a.rpc_errors(out.stderr)))
        else:
            out = daemon.virsh("start", NAME, debug=True)
            if out.returncode != 0:
                problems.append("virsh start: %s\nfailed RPC calls: %s" %
                                (a.client_errors(out.stderr), a.rpc_errors(out.stderr)))
        running = daemon.domstate(NAME)
        a.log("domain %s: %s" % (NAME, running))

        manager = desk.launch(daemon.uri, vm_log_path)
        _, titles = gui.wait_for_window(desk.env, NAME, 60, manager)
        a.log("window titles: %s" % [t for t in titles if t not in ("gnome-shell",)])
        if not any(NAME in t for t in titles):
            problems.append("no virt-manager window titled with %r within 60 s (virt-manager %s); "
                            "titles: %s" % (NAME, "running" if manager.poll() is None else
                                            "exited %d" % manager.returncode, titles))
        # Time for the console to attach and a few ticker lines to arrive.
        time.sleep(8)
        problems += gui.screenshot(desk.env, shot)
        text = desk.manager_log()
        console_calls = len(re.findall(r"proc=201 type=1 status=0", text))
        failed = a.rpc_errors(text)
        a.log("virt-manager: DOMAIN_OPEN_CONSOLE(201) replies ok: %d; failed RPC calls: %s" %
              (console_calls, failed))
        if console_calls == 0:
            problems.append("virt-manager did not open the serial console (no successful "
                            "DOMAIN_OPEN_CONSOLE reply); failed calls: %s" % failed)
        if running != "running":
            problems.append("the domain is %r, not running" % running)
        tick = a.read_console(daemon, NAME, "AMBERTICK", 20) if running == "running" else ""
        if "AMBERTICK" not in tick:
            problems.append("virsh console shows no ticker line: %r" % tick[-500:])
    a.log("artifacts: %s, %s" % (shot, vm_log_path))
    if problems:
        raise a.TestFailure("\n\n".join(problems) + "\n\ndaemon log:\n" + daemon.log_text())


if __name__ == "__main__":
    a.main(test)
