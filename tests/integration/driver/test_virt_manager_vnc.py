#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's virt-manager shows a domain's screen over VNC: a domain with
<graphics type='vnc'> and the standard VGA (the boot-sector probe, which
halts after its serial lines, so SeaBIOS's text stays on screen) is
started through virsh, then `virt-manager --no-fork --show-domain-console`
opens its graphical console under Xvfb, on the local URI
qemu:///system?socket=... (virt-manager takes qemu+unix:// for a remote host
and will not open a console listening on 127.0.0.1 there). virt-manager
asks DOMAIN_OPEN_GRAPHICS_FD for a socket on the VNC server (the reply
passes it with SCM_RIGHTS). The test checks that amber-vmm's VNC server has
virt-manager as a client (query-vnc on the control socket), that the root
window's screenshot is not blank and its console area shows the guest's
dark text screen with bright text, and that the guest's own screen (virsh
screenshot) is not blank either; both pictures and virt-manager's debug log are kept in
AMBER_ARTIFACT_DIR. Skips (77) only without Xvfb or virt-manager.
Usage: test_virt_manager_vnc.py VIRTAMBERD AMBER_VMM BOOT_BIN"""
import json
import os
import re
import socket
import sys
import time

import amberd as a
import gui

DAEMON, VMM, BOOT_BIN = sys.argv[1:4]
NAME = "amber-vm-vnc"

DEVICES = """
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>
    <video><model type='vga'/></video>"""


def control_call(path, command):
    """One request on amber-vmm's control socket; returns the reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        f = s.makefile("rwb")
        f.readline()  # greeting
        f.write((json.dumps({"execute": command}) + "\n").encode())
        f.flush()
        return json.loads(f.readline())


def control_socket(daemon):
    run_dir = os.path.join(daemon.tmp, "run")
    socks = [os.path.join(run_dir, e) for e in os.listdir(run_dir) if e.endswith(".sock")]
    a.check(len(socks) == 1, "control sockets in %s: %s" % (run_dir, socks))
    return socks[0]


# The window's console area in the screenshot: dark (the guest's text-mode
# background, not GTK's light error page) with bright text pixels.
CONSOLE_AREA = r"""
import sys
import gi
gi.require_version('GdkPixbuf', '2.0')
from gi.repository import GdkPixbuf
pb = GdkPixbuf.Pixbuf.new_from_file(sys.argv[1])
px, stride, n = pb.get_pixels(), pb.get_rowstride(), pb.get_n_channels()
w, h = pb.get_width(), pb.get_height()
dark = bright = total = 0
for y in range(120, min(h, 700), 2):
    for x in range(0, min(w, 1000), 2):
        o = y * stride + x * n
        g = (px[o] + px[o + 1] + px[o + 2]) // 3
        total += 1
        dark += g < 40
        bright += g > 150
print(dark, bright, total)
"""


def console_shows_text_mode(env, path):
    out = a.run(["/usr/bin/python3", "-c", CONSOLE_AREA, path], env=env, timeout=30)
    if out.returncode != 0:
        return ["reading %s failed: %s" % (path, out.stderr[-1500:])]
    dark, bright, total = (int(x) for x in out.stdout.split())
    a.log("console area: %d of %d pixels dark, %d bright" % (dark, total, bright))
    if dark < total * 0.8 or bright < 50:
        return ["virt-manager's console area does not show the guest's text screen "
                "(%d of %d pixels dark, %d bright)" % (dark, total, bright)]
    return []


def test():
    xvfb = a.require("Xvfb")
    a.require("virt-manager")
    tmp = a.workdir("virt-manager-vnc")
    artifacts = a.artifact_dir()
    disk = a.make_probe_disk(tmp, BOOT_BIN, NAME, stay=True)
    problems = []
    shot = os.path.join(artifacts, "virt-manager-vnc.png")
    guest_shot = os.path.join(artifacts, "virt-manager-vnc-guest.ppm")
    vm_log_path = os.path.join(artifacts, "virt-manager-vnc-debug.log")
    with gui.Desktop(xvfb, tmp, DAEMON, VMM, NAME) as desk:
        daemon, xenv = desk.daemon, desk.env
        xml_path = os.path.join(tmp, NAME + ".xml")
        with open(xml_path, "w") as f:
            f.write(a.domain_xml(NAME, disk, devices=DEVICES))
        for step in (("define", xml_path), ("start", NAME)):
            out = daemon.virsh(*step, debug=True, timeout=60)
            a.check(out.returncode == 0, "virsh %s: %s\n%s" % (step[0], a.client_errors(out.stderr),
                                                              daemon.log_text()))
        live = daemon.virsh("dumpxml", NAME).stdout
        m = re.search(r"<graphics type='vnc' port='(\d+)'", live)
        a.check(m is not None, "no VNC port in the live XML:\n" + live)
        a.log("VNC port %s" % m.group(1))
        # The local form of the URI: virt-manager takes qemu+unix:// for a
        # remote host and refuses a console that listens on 127.0.0.1 there.
        local_uri = "qemu:///system?socket=" + daemon.rw
        manager = desk.launch(local_uri, vm_log_path)
        found, titles = gui.wait_for_window(xenv, NAME, 60, manager)
        if not found:
            problems.append("no virt-manager window titled %r within 60 s; titles: %s"
                            % (NAME, titles))
        # virt-manager connects its gtk-vnc viewer: amber-vmm lists a client.
        clients = []
        deadline = time.time() + 60
        sock = control_socket(daemon)
        while time.time() < deadline and not clients:
            reply = control_call(sock, "query-vnc")
            clients = reply.get("return", {}).get("clients", [])
            if not clients:
                time.sleep(1)
        if not clients:
            problems.append("virt-manager never connected to amber-vmm's VNC server "
                            "(query-vnc: %s)" % reply)
        time.sleep(5)  # the first frames
        problems += gui.screenshot(xenv, shot)
        problems += console_shows_text_mode(xenv, shot)
        out = daemon.virsh("screenshot", NAME, guest_shot, timeout=60)
        if out.returncode != 0:
            problems.append("virsh screenshot: %s" % out.stderr)
        else:
            data = open(guest_shot, "rb").read()
            header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+\d+\s", data)
            if not header or len(set(data[header.end():])) < 2:
                problems.append("the guest's screen is blank or not a PPM")
        text = desk.manager_log()
        if re.search(r"Viewer connected|vnc.*connected|_viewer_connected", text, re.I) is None:
            a.log("virt-manager's log does not say 'connected' (checked query-vnc instead)")
    a.log("artifacts: %s, %s, %s" % (shot, guest_shot, vm_log_path))
    if problems:
        raise a.TestFailure("\n\n".join(problems) + "\n\ndaemon log:\n" + daemon.log_text())


if __name__ == "__main__":
    a.main(test)
