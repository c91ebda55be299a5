#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img's error messages are qemu-img 7.2's (issue 7).

One table of failing command lines; each runs with qemu-img and with
amber-img, each in its own copy of the same directory, and must give the
same exit status and the same stderr once the program name is replaced.
Multi-line messages must keep their lines (and their prefixes) as qemu-img
prints them.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

# Each case: the arguments after the program name, run in a directory that
# holds t.qcow2 (1 MiB, some data), base.qcow2 (1 MiB) and plain.raw
# (64 KiB of data, no qcow2 magic).
CASES = [
    ["info", "missing.qcow2"],
    ["info", "-f", "nosuch", "t.qcow2"],
    ["check", "-f", "nosuch", "t.qcow2"],
    ["map", "-f", "nosuch", "t.qcow2"],
    ["resize", "-f", "nosuch", "t.qcow2", "2M"],
    ["create", "-f", "nosuch", "n.img", "1M"],
    ["create", "-f", "qcow2", "n.qcow2", "12Q"],
    ["create", "-f", "qcow2", "n.qcow2", "-5"],
    ["create", "-f", "qcow2", "-o", "nosuchopt=1", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "cluster_size=1000", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "cluster_size=256", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "cluster_size=4M", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "compat=0.5", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "preallocation=bogus", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "refcount_bits=3", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "compat=0.10,lazy_refcounts=on", "n.qcow2", "1M"],
    ["create", "-f", "raw", "-o", "cluster_size=64k", "n.raw", "1M"],
    ["create", "-f", "qcow2", "n.qcow2"],
    ["create", "-f", "qcow2", "n.qcow2", "1M", "extra"],
    ["create", "-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", "n.qcow2", "1M"],
    ["create", "-f", "qcow2", "-b", "base.qcow2", "n.qcow2", "1M"],
    ["resize", "t.qcow2", "512K"],
    ["resize", "t.qcow2", "12Q"],
    ["resize", "missing.qcow2", "2M"],
    ["resize", "--preallocation=bogus", "t.qcow2", "2M"],
    ["info", "--output=xml", "t.qcow2"],
    ["info", "json:{bad", "t.qcow2"],
    ["info"],
    ["check", "-r", "bogus", "t.qcow2"],
    ["map", "--output=yaml", "t.qcow2"],
    ["map", "--start-offset=12Q", "t.qcow2"],
    ["map", "--max-length=12Q", "t.qcow2"],
    ["bogus", "t.qcow2"],
    [],
    ["create", "-f", "qcow2", "nodir/n.qcow2", "1M"],
    ["create", "-f", "raw", "nodir/n.raw", "1M"],
    ["info", "-f", "qcow2", "plain.raw"],
    ["check", "-f", "qcow2", "plain.raw"],
    ["map", "-f", "qcow2", "plain.raw"],
]

# Failing while another process holds the image: the lock message has two
# lines and only the first carries the program name.
LOCKED_CASES = [
    ["resize", "t.qcow2", "2M"],
    ["check", "-r", "all", "t.qcow2"],
    ["info", "t.qcow2"],
    ["map", "t.qcow2"],
]


class ImgMessages(bt.TempDirTest):
    def prepare(self, name):
        d = self.path(name)
        os.mkdir(d)
        bt.qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "t.qcow2"), "1M", check=True)
        bt.qemu_io(os.path.join(d, "t.qcow2"), ["write -P 0x5a 0 64k"])
        bt.qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "base.qcow2"), "1M", check=True)
        with open(os.path.join(d, "plain.raw"), "wb") as f:
            f.write(b"\x01" * 65536)
        return d

    def run_in(self, program, args, cwd):
        proc = subprocess.run([bt.tool(program)] + args, capture_output=True, text=True,
                              cwd=cwd, timeout=60, errors="replace")
        return proc.returncode, proc.stderr

    def compare(self, args, qemu_dir, amber_dir):
        q_rc, q_err = self.run_in("QEMU_IMG", args, qemu_dir)
        a_rc, a_err = self.run_in("AMBER_IMG", args, amber_dir)
        what = "qemu-img/amber-img %s" % " ".join(args)
        self.assertNotEqual(q_rc, 0, what + ": the case must fail with qemu-img\n" + q_err)
        self.assertEqual(a_rc, q_rc, what + "\n" + a_err)
        self.assertEqual(a_err.replace("amber-img", "qemu-img"), q_err, what)

    def test_error_messages_match_qemu_img(self):
        for i, args in enumerate(CASES):
            with self.subTest(args=args):
                self.compare(args, self.prepare("q%d" % i), self.prepare("a%d" % i))

    def test_invalid_size_keeps_two_prefixed_lines(self):
        rc, err = self.run_in("AMBER_IMG", ["create", "-f", "qcow2", "n.qcow2", "12Q"], self.dir)
        self.assertEqual(rc, 1)
        lines = err.splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertTrue(all(line.startswith("amber-img: ") for line in lines), err)

    def test_lock_messages_keep_their_lines(self):
        d = self.prepare("locked")
        img = os.path.join(d, "t.qcow2")
        holder = subprocess.Popen([bt.tool("QEMU_IO"), "-f", "qcow2", "-c", "sleep 60000", img],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (holder.kill(), holder.wait()))
        inode = os.stat(img).st_ino
        deadline = time.time() + 20
        while not self.locked(inode):
            self.assertLess(time.time(), deadline, "qemu-io never took its lock")
            time.sleep(0.05)
        for args in LOCKED_CASES:
            with self.subTest(args=args):
                self.compare(args, d, d)
                _, err = self.run_in("AMBER_IMG", args, d)
                self.assertIn("lock\nIs another process using the image [t.qcow2]?\n", err)

    @staticmethod
    def locked(inode):
        with open("/proc/locks") as locks:
            return any("OFDLCK" in line and line.split()[5].endswith(":%d" % inode)
                       for line in locks if len(line.split()) > 5)


if __name__ == "__main__":
    bt.main()
