#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Amber writes into a qcow2 image that has internal snapshots.

qemu-img makes the image and the snapshots; Amber then overwrites, zeroes
and discards clusters that the snapshots share (refcount 2: copy on write).
Afterwards `qemu-img check` is clean, every snapshot still reads its old
content (`qemu-img convert -l`), and the active layer reads the new one.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 16 * MIB


class SnapshotWrite(bt.TempDirTest):
    def convert(self, img, out, snapshot=None):
        args = ["convert", "-O", "raw"] + (["-l", snapshot] if snapshot else []) + [img, out]
        bt.qemu_img(*args, check=True)
        return out

    def run_case(self, create_opts):
        img = self.path("snap.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", create_opts, img, str(SIZE), check=True)
        bt.qemu_io(img, ["write -P 0xab 0 4M", "write -P 0xac 8M 2M"])
        bt.qemu_img("snapshot", "-c", "snap1", img, check=True)
        bt.qemu_io(img, ["write -P 0xad 1M 1M"])
        bt.qemu_img("snapshot", "-c", "snap2", img, check=True)
        snap1 = self.convert(img, self.path("snap1.raw"), "snap1")
        snap2 = self.convert(img, self.path("snap2.raw"), "snap2")
        before = bt.file_bytes(self.convert(img, self.path("before.raw")))

        script = [
            "write 0 65536 0xcd",             # shared by both snapshots
            "writep 1536000 200704 5",        # partly in the 0xad range, unaligned to clusters
            "zero 8388608 131072",            # shared zeroed
            "discard 9437184 262144",         # shared discarded
            "write 12582912 1048576 0xce",    # never allocated before
            "flush",
            "write 4096 512 0xcf",            # second write into a copied cluster
        ]
        model = bt.Model(SIZE, before)
        for line in script:
            model.apply(line)
        w = bt.amber_io(img, script, fmt="qcow2", check=False)
        self.assertEqual(w.rc, 0, w.describe())

        self.assertQemuCheckClean(img)
        self.assertSameContent(snap1, self.convert(img, self.path("snap1.after.raw"), "snap1"),
                               "snapshot snap1 after Amber's writes")
        self.assertSameContent(snap2, self.convert(img, self.path("snap2.after.raw"), "snap2"),
                               "snapshot snap2 after Amber's writes")
        expected = self.path("expected.raw")
        model.save(expected)
        self.assertSameContent(expected, self.convert(img, self.path("active.raw")),
                               "active layer after Amber's writes")
        info = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
        self.assertEqual([s["name"] for s in info.get("snapshots", [])], ["snap1", "snap2"])
        # And the snapshot can still be applied by QEMU and reads as before.
        bt.qemu_img("snapshot", "-a", "snap1", img, check=True)
        self.assertSameContent(snap1, self.convert(img, self.path("applied.raw")),
                               "active layer after qemu-img snapshot -a snap1")
        self.assertQemuCheckClean(img)

    def test_default_image(self):
        self.run_case("cluster_size=65536")

    def test_small_clusters(self):
        self.run_case("cluster_size=4096")

    def test_extended_l2(self):
        self.run_case("extended_l2=on")

    def test_v2_image(self):
        self.run_case("compat=0.10")

    def test_amber_info_lists_snapshots(self):
        img = self.path("snap.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, str(SIZE), check=True)
        bt.qemu_io(img, ["write -P 0xab 0 1M"])
        bt.qemu_img("snapshot", "-c", "snap1", img, check=True)
        q = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
        a = bt.amber_img("info", "--output=json", img)
        self.assertEqual(a.rc, 0, a.describe())
        self.assertEqual(json.loads(a.out).get("snapshots"), q["snapshots"])


if __name__ == "__main__":
    bt.main()
