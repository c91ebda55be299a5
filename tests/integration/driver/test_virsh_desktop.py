#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The desktop devices of a domain through Debian's virsh on amber:///:
<video model='vga'>, <graphics type='vnc' autoport='yes' passwd=...>, a
USB tablet on the piix3-uhci controller and a user-mode e1000 NIC.
  - define keeps the password out of `dumpxml` and shows it with
    --security-info (refused on a read-only connection);
  - start: amber-vmm runs with --vga std,vram=, --vnc 127.0.0.1:N,password=on,
    --usb --usb-device tablet and --nic model=e1000,mac=...,backend=user;
  - the live XML has the port the daemon chose (5900 + N, autoport kept),
    `virsh vncdisplay` prints 127.0.0.1:N, the aliases are libvirt's;
  - a second domain gets the next free port;
  - `virsh screenshot` streams a PPM of SeaBIOS's text screen (720x400,
    not blank), kept as an artifact;
  - virDomainOpenGraphicsFD (python3-libvirt) gives a socket on the same
    VNC server (password still asked; SKIPAUTH and a bad index refused);
  - a VNC client that sends the XML's password gets in (RFB 3.8, VNC
    authentication with DES done here), a wrong password is refused;
  - `virsh domiflist` lists the NIC, `virsh domifstat` reads its counters
    (an unknown interface is an error), `virsh domifaddr` answers.
Usage: test_virsh_desktop.py VIRTAMBERD AMBER_VMM BOOT_BIN
(run by /usr/bin/python3)"""
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hv"))
import amberd as a  # noqa: E402
import rfb  # noqa: E402

DAEMON, VMM, BOOT_BIN = sys.argv[1:4]
PASSWORD = "s3cret"
MAC = "52:54:00:3a:7e:01"

DEVICES = f"""
    <controller type='usb' index='0' model='piix3-uhci'/>
    <interface type='user'>
      <mac address='{MAC}'/>
      <model type='e1000'/>
      <rom enabled='no'/>
    </interface>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes' passwd='{PASSWORD}'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video>
      <model type='vga' vram='16384'/>
    </video>"""


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise a.TestFailure("VNC server closed the connection after %d of %d bytes"
                                % (len(data), n))
        data += chunk
    return data


def vnc_login(port, password):
    """RFB 3.8 handshake with VNC authentication; returns (ok, width,
    height) after ClientInit/ServerInit, or (False, 0, 0)."""
    return vnc_login_on(socket.create_connection(("127.0.0.1", port), timeout=20), password)


def vnc_login_on(sock, password):
    """vnc_login on a connected socket (closed at the end)."""
    with sock as s:
        s.settimeout(20)
        version = recv_exact(s, 12)
        a.check(version.startswith(b"RFB 003."), "not an RFB server: %r" % version)
        s.sendall(b"RFB 003.008\n")
        count = recv_exact(s, 1)[0]
        a.check(count > 0, "the server offered no security type")
        types = recv_exact(s, count)
        a.check(2 in types, "VNC authentication (2) not offered: %r" % types)
        s.sendall(b"\x02")
        challenge = recv_exact(s, 16)
        s.sendall(rfb.vnc_des_response(password, challenge))
        result = struct.unpack(">I", recv_exact(s, 4))[0]
        if result != 0:
            return False, 0, 0
        s.sendall(b"\x01")  # shared
        width, height = struct.unpack(">HH", recv_exact(s, 4))
        return True, width, height


def read_ppm(path):
    data = open(path, "rb").read()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    a.check(m is not None, "%s is not a P6 PPM (%r)" % (path, data[:20]))
    width, height = int(m.group(1)), int(m.group(2))
    pixels = data[m.end():]
    a.check(len(pixels) == width * height * 3, "PPM %dx%d has %d pixel bytes"
            % (width, height, len(pixels)))
    return width, height, pixels


def argv_of(daemon, name):
    out = daemon.virsh("dumpxml", name)
    for entry in os.listdir(os.path.join(daemon.tmp, "run")):
        if not entry.endswith(".pid"):
            continue
        try:
            pid = int(open(os.path.join(daemon.tmp, "run", entry)).read().split()[0])
            args = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        args = [x.decode() for x in args if x]
        if "--name" in args and args[args.index("--name") + 1] == name:
            return args
    raise a.TestFailure("no amber-vmm found for %s (%s)" % (name, out.stdout[-500:]))


def option(args, name):
    return [args[i + 1] for i, x in enumerate(args[:-1]) if x == name]


def test():
    a.require("virsh")
    tmp = a.workdir("virsh-desktop")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    ro_uri = "amber:///system?socket=" + daemon.ro
    try:
        names = []
        for name in ("desk1", "desk2"):
            disk = a.make_probe_disk(tmp, BOOT_BIN, name, stay=True)
            path = os.path.join(tmp, name + ".xml")
            with open(path, "w") as f:
                f.write(a.domain_xml(name, disk, devices=DEVICES))
            out = daemon.virsh("define", path)
            a.check(out.returncode == 0, "define %s: %s%s" % (name, out.stdout, out.stderr))
            names.append(name)

        # The password: stored, shown only with --security-info, and not at
        # all on a read-only connection.
        plain = daemon.virsh("dumpxml", "desk1").stdout
        a.check("passwd" not in plain, "dumpxml shows the VNC password:\n" + plain)
        secure = daemon.virsh("dumpxml", "--security-info", "desk1").stdout
        a.check("passwd='%s'" % PASSWORD in secure,
                "dumpxml --security-info lacks the password:\n" + secure)
        ro = a.run(["virsh", "-c", ro_uri, "dumpxml", "--security-info", "desk1"],
                   env=daemon.env)
        a.check(ro.returncode != 0 and "secure" in ro.stderr,
                "read-only dumpxml --security-info: rc %d %s" % (ro.returncode, ro.stderr))

        ports = []
        for name in names:
            out = daemon.virsh("start", name, timeout=60)
            a.check(out.returncode == 0, "start %s: %s%s\n%s" % (name, out.stdout, out.stderr,
                                                                 daemon.log_text()))
            live = daemon.virsh("dumpxml", name).stdout
            m = re.search(r"<graphics type='vnc' port='(\d+)' autoport='yes' "
                          r"listen='127.0.0.1'>", live)
            a.check(m is not None, "live XML has no VNC port:\n" + live)
            port = int(m.group(1))
            a.check(port >= 5900, "VNC port %d" % port)
            ports.append(port)
            display = daemon.virsh("vncdisplay", name)
            a.check(display.returncode == 0 and display.stdout.strip() ==
                    "127.0.0.1:%d" % (port - 5900),
                    "vncdisplay %s: %r %s" % (name, display.stdout, display.stderr))
            for alias in ("net0", "input0", "video0"):
                a.check("<alias name='%s'/>" % alias in live, "no alias %s:\n%s" % (alias, live))
            args = argv_of(daemon, name)
            a.check(option(args, "--vga") == ["std,vram=16M"] or
                    (len(option(args, "--vga")) == 1 and option(args, "--vga")[0].startswith("std")),
                    "--vga: %s" % option(args, "--vga"))
            a.check(option(args, "--vnc") == ["127.0.0.1:%d,password=on" % (port - 5900)],
                    "--vnc: %s" % option(args, "--vnc"))
            a.check("--usb" in args and option(args, "--usb-device") == ["tablet"],
                    "USB options: %s" % args)
            nic = option(args, "--nic")
            a.check(len(nic) == 1 and "model=e1000" in nic[0] and "mac=" + MAC in nic[0] and
                    "backend=user" in nic[0], "--nic: %s" % nic)
        a.check(ports[0] != ports[1], "both domains got VNC port %d" % ports[0])
        # The inactive definition keeps autoport.
        inactive = daemon.virsh("dumpxml", "--inactive", "desk1").stdout
        a.check("port='-1' autoport='yes'" in inactive, "inactive XML:\n" + inactive)

        # virsh screenshot: SeaBIOS's text screen as a PPM.
        shot = os.path.join(a.artifact_dir(), "virsh-screenshot-desk1.ppm")
        deadline = time.time() + 60
        while True:
            out = daemon.virsh("screenshot", "desk1", shot, timeout=60)
            a.check(out.returncode == 0, "screenshot: %s%s" % (out.stdout, out.stderr))
            width, height, pixels = read_ppm(shot)
            # The banner is drawn once SeaBIOS has run the VGA BIOS.
            if len(set(pixels)) > 1 or time.time() > deadline:
                break
            time.sleep(1)
        a.check((width, height) == (720, 400), "screenshot is %dx%d" % (width, height))
        a.check(len(set(pixels)) > 1, "the screenshot is blank")
        a.log("screenshot kept at " + shot)
        bad = daemon.virsh("screenshot", "desk1", shot + ".2", "--screen", "1")
        a.check(bad.returncode != 0, "screenshot of screen 1 succeeded")

        # VNC: the password from the XML lets a client in, another does not.
        ok, width, height = vnc_login(ports[0], PASSWORD)
        a.check(ok, "the VNC password from the XML was refused")
        a.check((width, height) == (720, 400), "VNC framebuffer %dx%d" % (width, height))
        ok, _, _ = vnc_login(ports[0], "wrong")
        a.check(not ok, "a wrong VNC password was accepted")
        # virDomainOpenGraphicsFD (python3-libvirt): a socket on the same
        # server, passed over the daemon's unix socket; the password still
        # applies, and SKIPAUTH is refused while there is one.
        import libvirt
        conn = libvirt.open(daemon.uri)
        try:
            dom = conn.lookupByName("desk1")
            fd = dom.openGraphicsFD(0, 0)
            ok, width, height = vnc_login_on(socket.socket(fileno=fd), PASSWORD)
            a.check(ok and (width, height) == (720, 400),
                    "openGraphicsFD: login %s, %dx%d" % (ok, width, height))
            ok, _, _ = vnc_login_on(socket.socket(fileno=dom.openGraphicsFD(0, 0)), "wrong")
            a.check(not ok, "openGraphicsFD: a wrong password was accepted")
            for idx, flags in ((1, 0), (0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)):
                try:
                    dom.openGraphicsFD(idx, flags)
                    a.check(False, "openGraphicsFD(%d, %d) succeeded" % (idx, flags))
                except libvirt.libvirtError as e:
                    a.log("openGraphicsFD(%d, %d): %s" % (idx, flags, e))
        finally:
            conn.close()

        # The NIC: domiflist, domifstat, domifaddr.
        out = daemon.virsh("domiflist", "desk1")
        a.check(out.returncode == 0 and MAC in out.stdout and "e1000" in out.stdout and
                "user" in out.stdout, "domiflist: %s%s" % (out.stdout, out.stderr))
        out = daemon.virsh("domifstat", "desk1", "net0")
        a.check(out.returncode == 0 and "rx_bytes" in out.stdout and "tx_packets" in out.stdout,
                "domifstat: %s%s" % (out.stdout, out.stderr))
        out = daemon.virsh("domifstat", "desk1", MAC)
        a.check(out.returncode == 0, "domifstat by MAC: %s%s" % (out.stdout, out.stderr))
        out = daemon.virsh("domifstat", "desk1", "nosuch0")
        a.check(out.returncode != 0, "domifstat of an unknown interface succeeded")
        out = daemon.virsh("domifaddr", "desk1", "--source", "lease")
        a.check(out.returncode == 0, "domifaddr: %s%s" % (out.stdout, out.stderr))
        out = daemon.virsh("domifaddr", "desk1", "--source", "agent")
        a.check(out.returncode != 0, "domifaddr --source agent succeeded without an agent")

        for name in names:
            daemon.virsh("destroy", name)
            daemon.virsh("undefine", name)
    finally:
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
