#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Seeded differential test: raw reference file vs qcow2 through Amber.

amber-diff applies thousands of random writes, zero-writes and discards
(random 512-aligned sizes) from several threads at once to a plain raw file
and to the image, verifying reads as it goes. Then `qemu-img compare` must
find them identical and `qemu-img check` clean. Configurations: plain qcow2,
extended_l2 (subclusters), small clusters, a three-level clone chain
with data in every level, and compressed cluster writes in the mix (zlib on
plain qcow2 and on the chain's top, zstd with extended_l2).

The seed is printed; rerun with AMBER_DIFF_SEED=N to reproduce.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 64 * MIB
SEED = int(os.environ.get("AMBER_DIFF_SEED") or random.SystemRandom().randrange(1, 2**31))
# The sanitizer build runs a third of the ops: it is there to catch memory
# errors on every path (each configuration still runs), not for coverage.
OPS = int(os.environ.get("AMBER_DIFF_OPS") or (4000 if os.environ.get("AMBER_SANITIZE") == "1"
                                               else 12000))
THREADS = 4
print("block-differential: seed %d (AMBER_DIFF_SEED=%d to reproduce), %d ops, %d threads"
      % (SEED, SEED, OPS, THREADS), flush=True)


class Differential(bt.TempDirTest):
    def run_diff(self, name, img, reference, seed_offset, stripe=96 * 1024, compress=0):
        seed = SEED + seed_offset
        r = bt.run([bt.tool("AMBER_DIFF"), "-s", str(seed), "-j", str(THREADS), "-n", str(OPS),
                    "-S", str(stripe), "-c", str(compress), "-f", "qcow2", reference, img],
                   timeout=600)
        print(r.out.strip(), flush=True)
        self.assertEqual(r.rc, 0, "%s (seed %d)\n%s" % (name, seed, r.describe()))
        c = bt.qemu_img("compare", "-f", "raw", "-F", "qcow2", reference, img)
        self.assertEqual(c.rc, 0, "%s (seed %d): qemu-img compare\n%s" % (name, seed, c.describe()))
        self.assertQemuCheckClean(img)
        # And the engine's own checker agrees.
        a = bt.amber_img("check", "-f", "qcow2", img)
        self.assertEqual(a.rc, 0, "%s (seed %d): amber-img check\n%s" % (name, seed, a.describe()))

    def empty_reference(self):
        reference = self.path("reference.raw")
        with open(reference, "wb") as f:
            f.truncate(SIZE)
        return reference

    def test_plain(self):
        img = self.path("plain.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, str(SIZE), check=True)
        self.run_diff("plain", img, self.empty_reference(), 1)

    def test_extended_l2(self):
        img = self.path("extl2.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", img, str(SIZE),
                    check=True)
        self.run_diff("extended_l2", img, self.empty_reference(), 2)

    def test_small_clusters(self):
        img = self.path("c4k.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", img, str(SIZE),
                    check=True)
        self.run_diff("cluster_4k", img, self.empty_reference(), 3, stripe=6 * 1024)

    def run_compressed(self, name, create_options, seed_offset):
        img = self.path(name + ".qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", create_options, img, str(SIZE),
                    check=True)
        self.run_diff(name, img, self.empty_reference(), seed_offset, compress=12)
        # The compressed clusters that survived are real ones to qemu-img.
        r, report = bt.qemu_check_json(img)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertGreater(report.get("compressed-clusters", 0), 0, r.out)

    def test_compressed_zlib(self):
        self.run_compressed("compressed_zlib", "compression_type=zlib", 5)

    def test_compressed_zstd_extended_l2(self):
        self.run_compressed("compressed_zstd", "compression_type=zstd,extended_l2=on", 6)

    def test_three_level_chain(self):
        base = self.path("base.qcow2")
        mid = self.path("mid.qcow2")
        top = self.path("top.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", base, str(SIZE), check=True)
        bt.qemu_io(base, ["write -P 0x01 0 48M", "write -z 8M 1M"])
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                    "-o", "extended_l2=on", mid, check=True)
        bt.qemu_io(mid, ["write -P 0x02 4M 20M", "write -P 0x03 40M 12k", "write -z 30M 2M",
                         "discard 44M 1M"])
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top,
                    check=True)
        bt.qemu_io(top, ["write -P 0x04 16M 8M", "write -P 0x05 50M 3M"])
        reference = self.path("reference.raw")
        bt.qemu_img("convert", "-O", "raw", top, reference, check=True)
        self.run_diff("chain", top, reference, 4)
        # The lower levels are untouched.
        for level in (base, mid):
            self.assertQemuCheckClean(level)


if __name__ == "__main__":
    bt.main()
