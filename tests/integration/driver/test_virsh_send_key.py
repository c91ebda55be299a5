#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`virsh send-key` (DOMAIN_SEND_KEY) into the PS/2 keyboard: a domain
running the input probe (tests/guest/bootsector/kbd.S, which prints every
byte IRQ 1 brings as "KBD: K=xx") gets keys from Debian's virsh on an
amber:/// URI, and the probe must print the translated set 1 scan codes:
KEY_A (a name virsh looks up in the linux codeset) -> 1E 9E; the same key
as xt 0x1e, atset1 0xe048 (Up), qnum 0xc8 (Down), xt_kbd 0x11d (right
Ctrl), usb 0x04 and win32 0x41 (A); Ctrl+Alt+Delete with --holdtime.
Codesets the driver does not translate (atset2, atset3, os_x) are refused
with libvirt's VIR_ERR_CONFIG_UNSUPPORTED naming the codeset, unknown
codes with an error, and neither reaches the guest.
Usage: test_virsh_send_key.py VIRTAMBERD AMBER_VMM KBD_BIN
(run by /usr/bin/python3)"""
import os
import pty
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402

DAEMON, VMM, KBD_BIN = sys.argv[1:4]


class Console:
    """`virsh console` on a pty, read in the background of each call."""

    def __init__(self, daemon, name):
        self.master, slave = pty.openpty()
        self.p = subprocess.Popen(["virsh", "-c", daemon.uri, "console", "--force", name],
                                  stdin=slave, stdout=slave, stderr=slave, env=daemon.env)
        os.close(slave)
        self.data = b""

    def pump(self, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.data += chunk

    def wait(self, pred, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if pred(self.text()):
                return True
            self.pump(0.2)
        return pred(self.text())

    def text(self):
        return self.data.decode(errors="replace")

    def keys(self):
        return re.findall(r"KBD: K=([0-9A-F]{2})", self.text())

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
        os.close(self.master)


def test():
    a.require("virsh")
    tmp = a.workdir("virsh-send-key")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    uri = "amber:///system?socket=" + daemon.rw

    def virsh(*args):
        return a.run(["virsh", "-c", uri, *args], timeout=60, env=daemon.env)

    console = None
    try:
        code = open(KBD_BIN, "rb").read()
        disk = os.path.join(tmp, "kbd.raw")
        with open(disk, "wb") as f:
            f.write(code + bytes(1024 * 1024 - len(code)))
        path = os.path.join(tmp, "kbd.xml")
        with open(path, "w") as f:
            f.write(a.domain_xml("kbd", disk, fmt="raw"))
        out = virsh("define", path)
        a.check(out.returncode == 0, "define: %s%s" % (out.stdout, out.stderr))
        out = virsh("start", "kbd")
        a.check(out.returncode == 0, "start: %s%s" % (out.stdout, out.stderr))
        console = Console(daemon, "kbd")
        a.check(console.wait(lambda t: "KBD: READY" in t, 120),
                "probe not ready:\n" + console.text()[-2000:])

        want = []

        def send(args, expect):
            out = virsh("send-key", "kbd", *args)
            a.check(out.returncode == 0, "send-key %s: rc %d %s%s"
                    % (args, out.returncode, out.stdout, out.stderr))
            want.extend(expect)
            console.wait(lambda t: len(console.keys()) >= len(want), 20)
            a.check(console.keys() == want, "send-key %s: the guest saw %s, want %s\n%s"
                    % (args, console.keys(), want, console.text()[-1500:]))

        send(["KEY_A"], ["1E", "9E"])
        send(["--codeset", "linux", "30"], ["1E", "9E"])
        send(["--codeset", "xt", "0x1e"], ["1E", "9E"])
        send(["--codeset", "atset1", "0xe048"], ["E0", "48", "E0", "C8"])
        send(["--codeset", "qnum", "0xd0"], ["E0", "50", "E0", "D0"])
        send(["--codeset", "rfb", "0x1e"], ["1E", "9E"])
        send(["--codeset", "xt_kbd", "0x11d"], ["E0", "1D", "E0", "9D"])
        send(["--codeset", "usb", "0x04"], ["1E", "9E"])
        send(["--codeset", "win32", "0x41"], ["1E", "9E"])
        send(["--holdtime", "50", "KEY_LEFTCTRL", "KEY_LEFTALT", "KEY_DELETE"],
             ["1D", "38", "E0", "53", "E0", "D3", "B8", "9D"])

        for codeset in ("atset2", "atset3", "os_x"):
            out = virsh("send-key", "kbd", "--codeset", codeset, "0x1c")
            a.check(out.returncode != 0 and "unsupported configuration" in out.stderr
                    and codeset in out.stderr,
                    "send-key --codeset %s: rc %d %s" % (codeset, out.returncode, out.stderr))
        out = virsh("send-key", "kbd", "--codeset", "usb", "0xfe")
        a.check(out.returncode != 0 and "cannot translate keycode 254" in out.stderr,
                "send-key of an unknown usb code: rc %d %s" % (out.returncode, out.stderr))
        console.pump(1.0)
        a.check(console.keys() == want, "a refused send-key reached the guest: %s"
                % console.keys()[len(want):])
        virsh("destroy", "kbd")
        out = virsh("send-key", "kbd", "KEY_A")
        a.check(out.returncode != 0 and "not running" in out.stderr,
                "send-key to a shut-off domain: rc %d %s" % (out.returncode, out.stderr))
    finally:
        if console is not None:
            console.close()
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
