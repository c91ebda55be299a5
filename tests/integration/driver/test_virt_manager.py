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
in AMBER_ARTIFACT_DIR (printed). Skips (77) only without Xvfb or
virt-manager.
Usage: test_virt_manager.py VIRTAMBERD AMBER_VMM TICKER_BIN"""
import os
import re
import subprocess
import sys
import time

import amberd as a

DAEMON, VMM, TICKER_BIN = sys.argv[1:4]
NAME = "amber-vm-gui"

DOMAIN_XML = """<domain type='kvm'>
  <name>%(name)s</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
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

# Saves the root window as PNG and prints "WIDTH HEIGHT MEAN VARIANCE
# DISTINCT" over a grid of sampled pixels (grey levels).
SCREENSHOT = r"""
import sys
import gi
gi.require_version('Gdk', '3.0')
from gi.repository import Gdk
root = Gdk.get_default_root_window()
w, h = root.get_width(), root.get_height()
pb = Gdk.pixbuf_get_from_window(root, 0, 0, w, h)
pb.savev(sys.argv[1], 'png', [], [])
px, stride, n = pb.get_pixels(), pb.get_rowstride(), pb.get_n_channels()
grey = []
for y in range(0, h, 4):
    for x in range(0, w, 4):
        o = y * stride + x * n
        grey.append((px[o] + px[o + 1] + px[o + 2]) // 3)
mean = sum(grey) / len(grey)
var = sum((g - mean) ** 2 for g in grey) / len(grey)
print(w, h, round(mean, 1), round(var, 1), len(set(grey)))
"""


def start_xvfb(xvfb, log):
    """Xvfb on a display it picks itself (-displayfd: no race with other
    X servers on this machine); returns (process, ":N")."""
    read_end, write_end = os.pipe()
    x = subprocess.Popen([xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x900x24",
                          "-nolisten", "tcp"], stdout=log, stderr=log, pass_fds=(write_end,))
    os.close(write_end)
    number = b""
    deadline = time.time() + 30
    while time.time() < deadline and not number.endswith(b"\n"):
        chunk = os.read(read_end, 16)
        if not chunk:
            break
        number += chunk
    os.close(read_end)
    a.check(number.strip().isdigit(), "Xvfb did not report its display: %s" % open(log.name).read())
    return x, ":" + number.decode().strip()


def window_titles(env):
    out = a.run(["xwininfo", "-root", "-tree"], env=env, timeout=10).stdout
    return re.findall(r'0x[0-9a-f]+ "([^"]+)"', out)


def test():
    xvfb = a.require("Xvfb")
    a.require("virt-manager")
    a.check(a.shutil.which("xwininfo"), "xwininfo (x11-utils) is missing: scripts/install-deps.sh")
    tmp = a.workdir("virt-manager")
    artifacts = a.artifact_dir()
    clone = a.make_clone(tmp, TICKER_BIN, NAME)
    xlog = open(os.path.join(tmp, "xvfb.log"), "w")
    x, display = start_xvfb(xvfb, xlog)
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    xenv = dict(os.environ, DISPLAY=display, HOME=home, XDG_CONFIG_HOME=home + "/.config",
                XDG_CACHE_HOME=home + "/.cache", XDG_RUNTIME_DIR=tmp, GSETTINGS_BACKEND="memory",
                NO_AT_BRIDGE="1", LIBVIRT_AUTOSTART="0")
    a.check(x.poll() is None, "Xvfb %s did not start: %s" % (display, open(xlog.name).read()))
    try:
        daemon = a.Daemon(DAEMON, VMM, tmp)
    except Exception:
        x.terminate()
        raise
    manager = None
    problems = []
    shot = os.path.join(artifacts, "virt-manager-console.png")
    vm_log_path = os.path.join(artifacts, "virt-manager-debug.log")
    try:
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

        vm_log = open(vm_log_path, "w")
        env = dict(xenv, LIBVIRT_DEBUG="1", LIBVIRT_LOG_OUTPUTS="1:stderr",
                   LIBVIRT_LOG_FILTERS="4:event 4:object 4:util")
        manager = subprocess.Popen(["virt-manager", "--debug", "--no-fork", "--connect", daemon.uri,
                                    "--show-domain-console", NAME],
                                   stdout=vm_log, stderr=subprocess.STDOUT, env=env)
        titles = []
        deadline = time.time() + 60
        while time.time() < deadline and manager.poll() is None:
            titles = window_titles(xenv)
            if any(NAME in t for t in titles):
                break
            time.sleep(1)
        a.log("window titles: %s" % [t for t in titles if t not in ("gnome-shell",)])
        if not any(NAME in t for t in titles):
            problems.append("no virt-manager window titled with %r within 60 s (virt-manager %s); "
                            "titles: %s" % (NAME, "running" if manager.poll() is None else
                                            "exited %d" % manager.returncode, titles))
        # Time for the console to attach and a few ticker lines to arrive.
        time.sleep(8)
        shot_out = a.run(["/usr/bin/python3", "-c", SCREENSHOT, shot], env=xenv, timeout=30)
        if shot_out.returncode != 0:
            problems.append("screenshot failed: " + shot_out.stderr[-1500:])
        else:
            w, h, mean, var, distinct = shot_out.stdout.split()
            a.log("screenshot %s: %sx%s mean %s variance %s, %s grey levels" %
                  (shot, w, h, mean, var, distinct))
            if float(var) < 100 or int(distinct) < 8:
                problems.append("the screenshot looks blank (variance %s, %s grey levels)" %
                                (var, distinct))
        vm_log.flush()
        text = open(vm_log_path, errors="replace").read()
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
    finally:
        if manager and manager.poll() is None:
            manager.terminate()
            try:
                manager.wait(timeout=10)
            except subprocess.TimeoutExpired:
                manager.kill()
        daemon.virsh("destroy", NAME)
        daemon.virsh("undefine", NAME)
        daemon.stop()
        x.terminate()
        x.wait(timeout=10)
    a.log("artifacts: %s, %s" % (shot, vm_log_path))
    if problems:
        raise a.TestFailure("\n\n".join(problems) + "\n\ndaemon log:\n" + daemon.log_text())


if __name__ == "__main__":
    a.main(test)
