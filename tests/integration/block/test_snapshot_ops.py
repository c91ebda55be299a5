#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img snapshot -c / -a / -d / -l against qemu-img 7.2.

Snapshots that amber-img creates are applied and deleted by qemu-img, and
the reverse; `qemu-img check` is clean after every step, content is
compared with `qemu-img compare` against raw copies taken at snapshot time,
and `amber-img snapshot -l` and `amber-img info` (human and JSON) print
exactly what qemu-img prints for the same image. Error messages and exit
codes for missing snapshots, mixed actions and raw images match too.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 32 * MIB


def same_output(a, q):
    """amber-img's lines with its own name where qemu-img prints its own."""
    name = os.path.basename(bt.tool("AMBER_IMG"))
    return a.replace(name + ":", "qemu-img:").replace("Try '%s --help'" % name,
                                                      "Try 'qemu-img --help'") == q


class SnapshotOps(bt.TempDirTest):
    def raw_of(self, img, name, snapshot=None):
        out = self.path(name)
        args = ["convert", "-O", "raw"] + (["-l", snapshot] if snapshot else []) + [img, out]
        bt.qemu_img(*args, check=True)
        return out

    def assertContent(self, img, raw, what):
        r = bt.qemu_img("compare", "-f", "qcow2", "-F", "raw", img, raw)
        self.assertEqual(r.rc, 0, what + "\n" + r.describe())

    def assertSameListing(self, img):
        for args in (["snapshot", "-l"], ["info"], ["info", "--output=json"]):
            a = bt.amber_img(*(args + [img]))
            q = bt.qemu_img(*(args + [img]))
            self.assertEqual((a.rc, a.out), (q.rc, q.out), " ".join(args))

    def step(self, tool, *args):
        r = tool("snapshot", *args)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r.out, "")
        return r

    def run_case(self, create_opts, creator, other):
        img = self.path("img.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", create_opts, img, str(SIZE), check=True)
        bt.qemu_io(img, ["write -P 0x11 0 3M", "write -P 0x12 9M 64k", "write -P 0x13 30M 1M"])
        a = self.raw_of(img, "a.raw")
        self.step(creator, "-c", "first", img)
        self.assertQemuCheckClean(img)
        self.assertContent(img, a, "active after create")
        bt.qemu_io(img, ["write -P 0x21 1M 4k", "write -P 0x22 17M 2M", "discard 30M 64k"])
        b = self.raw_of(img, "b.raw")
        self.step(other, "-c", "second", img)
        self.assertQemuCheckClean(img)
        self.assertSameListing(img)
        # Snapshots read back as taken, through QEMU's own snapshot reader.
        self.assertContent(img, b, "active after the second create")
        for name, raw in (("first", a), ("second", b)):
            got = self.raw_of(img, name + ".snap.raw", name)
            self.assertIsNone(bt.first_difference(bt.file_bytes(raw), bt.file_bytes(got)), name)
        bt.qemu_io(img, ["write -P 0x31 0 8M"])
        self.step(other, "-a", "first", img)
        self.assertQemuCheckClean(img)
        self.assertContent(img, a, "after %s applied first" % other.__name__)
        self.step(creator, "-a", "2", img)  # by id
        self.assertQemuCheckClean(img)
        self.assertContent(img, b, "after %s applied id 2" % creator.__name__)
        bt.qemu_io(img, ["write -P 0x41 20M 1M"])
        c = self.raw_of(img, "c.raw")
        self.step(other, "-d", "first", img)
        self.assertQemuCheckClean(img)
        self.assertContent(img, c, "after %s deleted first" % other.__name__)
        self.step(creator, "-c", "third", img)
        self.assertSameListing(img)
        self.step(creator, "-d", "second", img)
        self.assertQemuCheckClean(img)
        self.step(other, "-a", "third", img)
        self.assertContent(img, c, "after applying third")
        self.step(other, "-d", "third", img)
        r = self.assertQemuCheckClean(img)
        self.assertContent(img, c, "after deleting every snapshot")
        self.assertSameListing(img)
        return r

    def test_amber_creates_qemu_applies_and_deletes(self):
        for opts in ("cluster_size=65536", "cluster_size=4096", "extended_l2=on", "compat=0.10"):
            with self.subTest(opts=opts):
                self.run_case(opts, bt.amber_img, bt.qemu_img)

    def test_qemu_creates_amber_applies_and_deletes(self):
        for opts in ("cluster_size=65536", "cluster_size=4096", "extended_l2=on", "compat=0.10"):
            with self.subTest(opts=opts):
                self.run_case(opts, bt.qemu_img, bt.amber_img)

    def test_apply_restores_the_disk_size(self):
        img = self.path("img.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, "8M", check=True)
        bt.qemu_io(img, ["write -P 0x51 0 1M"])
        self.step(bt.amber_img, "-c", "small", img)
        bt.qemu_img("resize", "-q", img, "64M", check=True)
        bt.qemu_io(img, ["write -P 0x52 40M 1M"])
        self.step(bt.qemu_img, "-c", "big", img)
        self.step(bt.amber_img, "-a", "small", img)
        self.assertEqual(json.loads(bt.qemu_img("info", "--output=json", img).out)["virtual-size"],
                         8 * MIB)
        self.assertQemuCheckClean(img)
        self.step(bt.amber_img, "-a", "big", img)
        self.assertEqual(json.loads(bt.qemu_img("info", "--output=json", img).out)["virtual-size"],
                         64 * MIB)
        bt.qemu_io(img, ["read -P 0x52 40M 1M"])
        self.assertQemuCheckClean(img)

    def test_messages_and_exit_codes(self):
        img = self.path("img.qcow2")
        raw = self.path("img.raw")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, "8M", check=True)
        bt.qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
        bt.qemu_img("snapshot", "-c", "dup", img, check=True)
        bt.qemu_img("snapshot", "-c", "dup", img, check=True)  # qemu-img allows it
        cases = [
            ["-l", img], ["-a", "nosuch", img], ["-d", "nosuch", img], ["-d", "1", img],
            ["-l", "-c", "x", img], ["-c"], ["-x", img], ["-l"], [img],
            ["-U", "-c", "x", img], ["-U", "-l", img], ["-q", "-l", img],
            ["-l", raw], ["-a", "x", raw], ["-d", "x", raw], ["-c", "x", raw],
            ["-l", self.path("missing.qcow2")],
        ]
        for args in cases:
            with self.subTest(args=args):
                q = bt.qemu_img("snapshot", *args)
                a = bt.amber_img("snapshot", *args)
                self.assertEqual(a.rc, q.rc, a.describe() + "\n" + q.describe())
                self.assertEqual(a.out, q.out)
                self.assertTrue(same_output(a.err, q.err), a.describe() + "\n" + q.describe())
        # Both "dup"s are there; -d takes the first by name, as qemu-img.
        self.step(bt.amber_img, "-d", "dup", img)
        self.assertSameListing(img)
        self.assertIn("\n2         dup", bt.qemu_img("snapshot", "-l", img).out)
        self.assertQemuCheckClean(img)


if __name__ == "__main__":
    bt.main()
