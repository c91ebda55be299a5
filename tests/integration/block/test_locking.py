#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Amber and QEMU exclude each other on the same image (OFD locks).

QEMU holds: `qemu-io -c 'sleep N'` keeps the image open read-write (or
read-only with -r) while it sleeps; Amber's read-write open must fail with
'Failed to get "write" lock', amber-img info without -U with a lock error,
and -U must work. Amber holds: amber-io keeps the image open while its
stdin is open; `qemu-img info` must fail with a lock error, `-U` work, and a
qemu-io write open fail. (Raw images are not covered: qemu-io 7.2 shares
write permission on raw files, so QEMU does not exclude itself there.)
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

WRITE_LOCK = 'Failed to get "write" lock'
SHARED_WRITE_LOCK = 'Failed to get shared "write" lock'


class Locking(bt.TempDirTest):
    def start_qemu_holder(self, img, fmt, read_only=False):
        argv = [bt.tool("QEMU_IO"), "-f", fmt] + (["-r"] if read_only else []) + \
            ["-c", "sleep 60000", img]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, proc)
        # Wait until qemu-io holds its OFD locks, watching /proc/locks (a
        # probing open of our own could race with qemu-io's and make it fail).
        inode = os.stat(img).st_ino
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            with open("/proc/locks") as locks:
                if any("OFDLCK" in line and line.split()[5].endswith(":%d" % inode)
                       for line in locks if len(line.split()) > 5):
                    return proc
            time.sleep(0.05)
        self.fail("qemu-io never took its lock on %s (exit %s)" % (img, proc.poll()))

    def start_amber_holder(self, img, fmt, read_only=False):
        argv = [bt.tool("AMBER_IO"), "-f", fmt] + (["-r"] if read_only else []) + [img]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop, proc)
        line = proc.stdout.readline()
        if line.strip() != "opened":
            proc.kill()
            self.fail("amber-io did not open %s: %r %s" % (img, line, proc.stderr.read()))
        return proc

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def make(self, fmt):
        img = self.path("img." + fmt)
        bt.qemu_img("create", "-q", "-f", fmt, img, "16M", check=True)
        return img

    def qemu_writer_holds(self, fmt):
        img = self.make(fmt)
        holder = self.start_qemu_holder(img, fmt)
        w = bt.amber_io(img, ["write 0 512 1"], fmt=fmt, check=False)
        self.assertNotEqual(w.rc, 0, "Amber opened an image QEMU writes\n" + w.describe())
        self.assertIn(WRITE_LOCK, w.err, w.describe())
        i = bt.amber_img("info", "-f", fmt, img)
        self.assertNotEqual(i.rc, 0, "amber-img info without -U ignored QEMU's lock\n" + i.describe())
        self.assertIn(SHARED_WRITE_LOCK, i.err, i.describe())
        i = bt.amber_img("info", "-U", "-f", fmt, img)
        self.assertEqual(i.rc, 0, i.describe())
        self.stop(holder)
        w = bt.amber_io(img, ["write 0 512 1"], fmt=fmt, check=False)
        self.assertEqual(w.rc, 0, "lock not released with QEMU gone\n" + w.describe())

    def test_qemu_writer_excludes_amber_qcow2(self):
        self.qemu_writer_holds("qcow2")

    def test_qemu_reader_excludes_amber_writer(self):
        img = self.make("qcow2")
        self.start_qemu_holder(img, "qcow2", read_only=True)
        w = bt.amber_io(img, ["write 0 512 1"], fmt="qcow2", check=False)
        self.assertNotEqual(w.rc, 0, w.describe())
        self.assertIn(WRITE_LOCK, w.err, w.describe())
        i = bt.amber_img("info", "-f", "qcow2", img)
        self.assertEqual(i.rc, 0, "two readers must share\n" + i.describe())

    def amber_writer_holds(self, fmt):
        img = self.make(fmt)
        holder = self.start_amber_holder(img, fmt)
        q = bt.qemu_img("info", "-f", fmt, img)
        self.assertNotEqual(q.rc, 0, "qemu-img info ignored Amber's lock\n" + q.describe())
        self.assertIn(SHARED_WRITE_LOCK, q.err, q.describe())
        q = bt.qemu_img("info", "-U", "-f", fmt, img)
        self.assertEqual(q.rc, 0, q.describe())
        q = bt.run([bt.tool("QEMU_IO"), "-f", fmt, "-c", "write 0 512", img])
        self.assertIn(WRITE_LOCK, q.out + q.err, "qemu-io could open for writing\n" + q.describe())
        w = bt.amber_io(img, ["write 0 512 1"], fmt=fmt, check=False)
        self.assertIn(WRITE_LOCK, w.err, "second Amber writer\n" + w.describe())
        # Amber's holder still works and releases everything on exit.
        holder.stdin.write("write 0 4096 0x5a\nflush\necho done\n")
        holder.stdin.flush()
        self.assertEqual(holder.stdout.readline().strip(), "done")
        holder.stdin.close()
        self.assertEqual(holder.wait(timeout=30), 0, holder.stderr.read())
        q = bt.qemu_img("info", "-f", fmt, img)
        self.assertEqual(q.rc, 0, q.describe())
        if fmt == "qcow2":
            self.assertQemuCheckClean(img)
        bt.qemu_io(img, ["read -P 0x5a 0 4k"], fmt=fmt)

    def test_amber_writer_excludes_qemu_qcow2(self):
        self.amber_writer_holds("qcow2")

    def test_amber_reader_excludes_qemu_writer(self):
        img = self.make("qcow2")
        self.start_amber_holder(img, "qcow2", read_only=True)
        q = bt.run([bt.tool("QEMU_IO"), "-f", "qcow2", "-c", "write 0 512", img])
        self.assertIn(WRITE_LOCK, q.out + q.err, q.describe())
        q = bt.qemu_img("info", "-f", "qcow2", img)
        self.assertEqual(q.rc, 0, "readers must share\n" + q.describe())


if __name__ == "__main__":
    bt.main()
