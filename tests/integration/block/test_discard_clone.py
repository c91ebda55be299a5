#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Discard frees host space; linked clones are tiny at birth.

Discard: write 32 MiB through the engine, discard it, and the host file's
st_blocks must drop by most of that; qemu-img check stays clean and the
range reads as zeros. Clones: `amber-img create -f qcow2 -b base -F qcow2`
makes a file under 1 MB whose chain qemu-img info --backing-chain reports.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20


class Discard(bt.TempDirTest):
    def run_discard(self, opts):
        img = self.path("d.qcow2")
        r = bt.amber_img("create", "-f", "qcow2", "-o", opts, img, "64M")
        self.assertEqual(r.rc, 0, r.describe())
        bt.amber_io(img, ["writep %d %d %d" % (i * MIB, MIB, i + 1) for i in range(32)] + ["flush"],
                    fmt="qcow2")
        full = os.stat(img).st_blocks * 512
        self.assertGreaterEqual(full, 32 * MIB, "32 MiB written but only %d bytes allocated" % full)
        bt.amber_io(img, ["discard 0 %d" % (32 * MIB), "flush"], fmt="qcow2")
        after = os.stat(img).st_blocks * 512
        self.assertLess(after, full - 24 * MIB,
                        "discard did not shrink the host file: %d -> %d bytes" % (full, after))
        self.assertQemuCheckClean(img)
        bt.qemu_io(img, ["read -P 0 0 32M"])
        # Freed clusters are reused: writing again must not grow the file past the first peak.
        bt.amber_io(img, ["writep %d %d %d" % (i * MIB, MIB, 100 + i) for i in range(32)], fmt="qcow2")
        self.assertLessEqual(os.path.getsize(img), full + 4 * MIB,
                             "discarded clusters were not reused")
        self.assertQemuCheckClean(img)

    def test_discard_shrinks_default(self):
        self.run_discard("cluster_size=65536")

    def test_discard_shrinks_extended_l2(self):
        self.run_discard("extended_l2=on")

    def test_discard_raw(self):
        img = self.path("d.raw")
        bt.amber_img("create", "-f", "raw", img, "64M", check=True)
        bt.amber_io(img, ["write 0 %d 0x5a" % (32 * MIB), "flush"], fmt="raw")
        full = os.stat(img).st_blocks * 512
        bt.amber_io(img, ["discard 0 %d" % (32 * MIB)], fmt="raw")
        self.assertLess(os.stat(img).st_blocks * 512, full - 24 * MIB)


class LinkedClone(bt.TempDirTest):
    def test_clone_under_1mb(self):
        base = self.path("base.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", base, "10G", check=True)
        bt.qemu_io(base, ["write -P 0x42 0 8M", "write -P 0x43 5G 4M"])
        for name in ("clone1.qcow2", "clone2.qcow2"):
            clone = self.path(name)
            r = bt.amber_img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", clone)
            self.assertEqual(r.rc, 0, r.describe())
            size = os.path.getsize(clone)
            self.assertLess(size, 1000000, "clone %s is %d bytes at birth" % (name, size))
            self.assertLess(os.stat(clone).st_blocks * 512, 1 << 20)
            chain = json.loads(bt.qemu_img("info", "--output=json", "--backing-chain", clone,
                                           check=True).out)
            self.assertEqual(len(chain), 2, chain)
            top, bottom = chain
            self.assertEqual(top["virtual-size"], 10 << 30)
            self.assertEqual(top["backing-filename"], "base.qcow2")
            self.assertEqual(top["full-backing-filename"], base)
            self.assertEqual(top["backing-filename-format"], "qcow2")
            self.assertEqual(bottom["filename"], base)
            self.assertQemuCheckClean(clone)
            c = bt.qemu_img("compare", base, clone)
            self.assertEqual(c.rc, 0, c.describe())
            a = bt.amber_img("info", "--output=json", "--backing-chain", clone)
            self.assertEqual(a.rc, 0, a.describe())
            strip = lambda l: [{k: v for k, v in d.items() if k != "actual-size"} for d in l]
            self.assertEqual(strip(json.loads(a.out)), strip(chain))
        # Writes to one clone do not show in the other or in the base.
        bt.amber_io(self.path("clone1.qcow2"), ["write 0 65536 0x77"], fmt="qcow2")
        bt.qemu_io(self.path("clone2.qcow2"), ["read -P 0x42 0 64k"])
        bt.qemu_io(base, ["read -P 0x42 0 64k"])
        bt.qemu_io(self.path("clone1.qcow2"), ["read -P 0x77 0 64k", "read -P 0x42 64k 64k"])


if __name__ == "__main__":
    bt.main()
