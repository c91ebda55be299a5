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
import amberd as a  # noqa: E402

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


# --- VNC authentication (RFB 3.8 section 7.2.2): DES-ECB of the 16-byte
# challenge with the password (8 bytes, NUL padded) as the key, each key
# byte's bits mirrored. Python's standard library has no DES, so here is a
# small one (FIPS 46-3 tables).
_PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3,
        60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45,
        37, 29, 21, 13, 5, 28, 20, 12, 4]
_PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36,
        29, 32]
_SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
_IP = [58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
       64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
       61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7]
_FP = [40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
       37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
       34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25]
_E = [32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17,
      18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1]
_P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
      13, 30, 6, 22, 11, 4, 25]
_S = [
    [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11,
     9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5,
     11, 3, 14, 10, 0, 6, 13],
    [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10,
     6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2,
     11, 6, 7, 12, 0, 5, 14, 9],
    [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14,
     12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7,
     4, 15, 14, 3, 11, 5, 2, 12],
    [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12,
     1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8,
     9, 4, 5, 11, 12, 7, 2, 14],
    [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10,
     3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13,
     6, 15, 0, 9, 10, 4, 5, 3],
    [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14,
     0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10,
     11, 14, 1, 7, 6, 0, 8, 13],
    [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12,
     2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7,
     9, 5, 0, 15, 14, 2, 3, 12],
    [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11,
     0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13,
     15, 12, 9, 0, 3, 5, 6, 11],
]


def _permute(value, table, width):
    out = 0
    for position in table:
        out = (out << 1) | ((value >> (width - position)) & 1)
    return out


def des_encrypt_block(key8, block8):
    key = int.from_bytes(key8, "big")
    cd = _permute(key, _PC1, 64)
    c, d = cd >> 28, cd & 0xFFFFFFF
    subkeys = []
    for shift in _SHIFTS:
        c = ((c << shift) | (c >> (28 - shift))) & 0xFFFFFFF
        d = ((d << shift) | (d >> (28 - shift))) & 0xFFFFFFF
        subkeys.append(_permute((c << 28) | d, _PC2, 56))
    v = _permute(int.from_bytes(block8, "big"), _IP, 64)
    left, right = v >> 32, v & 0xFFFFFFFF
    for k in subkeys:
        x = _permute(right, _E, 32) ^ k
        s = 0
        for i in range(8):
            six = (x >> (42 - 6 * i)) & 0x3F
            row = ((six & 0x20) >> 4) | (six & 1)
            s = (s << 4) | _S[i][row * 16 + ((six >> 1) & 0xF)]
        left, right = right, left ^ _permute(s, _P, 32)
    return _permute((right << 32) | left, _FP, 64).to_bytes(8, "big")


def vnc_response(password, challenge):
    key = (password.encode() + bytes(8))[:8]
    key = bytes(int("{:08b}".format(b)[::-1], 2) for b in key)
    return des_encrypt_block(key, challenge[:8]) + des_encrypt_block(key, challenge[8:])


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
        s.sendall(vnc_response(password, challenge))
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
