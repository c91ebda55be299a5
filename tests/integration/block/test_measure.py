#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img measure against qemu-img 7.2 measure as the oracle.

Every case runs both tools with the same arguments: stdout, stderr (with
the program name swapped) and the exit code must be qemu-img's. Inputs:
a chain, qcow2 v2, a preallocated (metadata) image, compressed and zero
clusters, a sparse raw file; outputs: raw and qcow2 with cluster sizes
from 512 B to 2 MiB, extended L2, refcount widths, preallocation, a backing
file, JSON, persistent bitmaps (their "bitmaps size"), -l with an internal
snapshot. Then the measured size must hold what convert writes.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20


class MeasureTest(bt.TempDirTest):

    def setUp(self):
        super().setUp()
        p = self.path
        bt.qemu_img("create", "-q", "-f", "qcow2", p("base.qcow2"), "4M", check=True)
        bt.qemu_io(p("base.qcow2"), ["write -P 1 0 1M", "write -P 2 3M 4k"])
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                    p("top.qcow2"), "6M", check=True)
        bt.qemu_io(p("top.qcow2"), ["write -P 3 2M 100k", "write -z 0 64k", "write -P 4 5M 512"])
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", p("v2.qcow2"), "1M",
                    check=True)
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", p("pm.qcow2"),
                    "8M", check=True)
        bt.qemu_img("create", "-q", "-f", "qcow2", p("c.qcow2"), "8M", check=True)
        bt.qemu_io(p("c.qcow2"), ["write -c -P 3 0 64k", "write -P 1 1M 100k", "write -z 3M 1M"])
        # Persistent bitmaps (their room is counted, qemu's qcow2_measure) and an
        # internal snapshot taken before more data was written (-l).
        bt.qemu_img("create", "-q", "-f", "qcow2", p("bm.qcow2"), "64M", check=True)
        bt.qemu_io(p("bm.qcow2"), ["write -P 5 0 1M"])
        bt.qemu_img("bitmap", "--add", p("bm.qcow2"), "b1", check=True)
        bt.qemu_img("bitmap", "--add", "-g", "512", p("bm.qcow2"), "a_rather_long_bitmap_name_x",
                    check=True)
        bt.qemu_img("bitmap", "--add", "--disable", "-g", "2M", p("bm.qcow2"), "b3", check=True)
        bt.qemu_img("snapshot", "-c", "s1", p("bm.qcow2"), check=True)
        bt.qemu_io(p("bm.qcow2"), ["write -P 6 8M 4M"])
        with open(p("sp.raw"), "wb") as f:
            f.truncate(5 * MIB)
            f.seek(400 * 1024)
            f.write(os.urandom(12 * 1024))
        self.cases = [
            [], ["--size", "1G"], ["-O", "qcow2", "--size", "1G"],
            ["-O", "qcow2", "--size", "1G", "--output=json"], ["-O", "qcow2", "top.qcow2"],
            ["-O", "qcow2", "--output=json", "top.qcow2"],
            ["-O", "qcow2", "-o", "compat=0.10", "top.qcow2"], ["--size", "1G", "top.qcow2"],
            ["-O", "qcow2", "--size", "1G", "-o", "cluster_size=512,extended_l2=on"],
            ["-O", "qcow2", "--size", "1G", "-o", "cluster_size=512,refcount_bits=1"],
            ["-O", "qcow2", "--size", "1G", "-o", "foo=bar"], ["-O", "qcow2", "--size", "-1"],
            ["-O", "qcow2", "--size", "1x"],
            ["-O", "qcow2", "-o", "preallocation=full", "--size", "1G"],
            ["-O", "qcow2", "-o", "backing_file=x", "top.qcow2"], ["top.qcow2"],
            ["-f", "raw", "top.qcow2"], ["-O", "qcow2", "--size", "100T", "-o", "cluster_size=512"],
            ["-O", "qcow2", "v2.qcow2"], ["-O", "qcow2", "sp.raw"], ["-O", "raw", "v2.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=3k", "--size", "1G"],
            ["-O", "qcow2", "-o", "preallocation=bogus", "--size", "1G"],
            ["-O", "qcow2", "-o", "compat=0.10,refcount_bits=1", "--size", "1G"],
            ["-O", "qcow2", "-o", "size=5M", "--size", "1G"], ["-O", "qcow2", "-o", "size=5M"],
            ["-O", "bogus", "--size", "1G"], ["-f", "qcow2", "--size", "1G"], ["a", "b"],
            ["--size", "1G", "--output=xml"], ["-O", "raw", "-o", "cluster_size=64k", "--size", "1G"],
            ["-O", "raw", "-o", "preallocation=full", "--size", "1G"],
            ["-O", "qcow2", "--size", "0"], ["-O", "qcow2", "--size", "1000"],
            ["-O", "qcow2", "nonexist.qcow2"],
            ["-O", "qcow2", "-o", "compat=0.10,lazy_refcounts=on", "--size", "1G"],
            ["-O", "qcow2", "-o", "compat=0.11", "--size", "1G"],
            ["-O", "qcow2", "-o", "refcount_bits=3", "--size", "1G"],
            ["-O", "qcow2", "-o", "extended_l2=maybe", "--size", "1G"],
            ["-O", "qcow2", "-o", "cluster_size=1x", "--size", "1G"],
            ["-O", "qcow2", "-o", "preallocation=metadata", "--size", "1G"],
            ["-O", "qcow2", "-o", "preallocation=falloc", "-o", "backing_file=x", "--size", "1G"],
            ["-O", "raw", "--size", "1001"], ["-O", "qcow2", "pm.qcow2"], ["-O", "qcow2", "c.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=4k", "c.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=2M,extended_l2=on", "c.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=512", "sp.raw"], ["-O", "raw", "sp.raw"],
            ["-O", "qcow2", "bm.qcow2"], ["-O", "qcow2", "--output=json", "bm.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=4k", "bm.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=512", "bm.qcow2"],
            ["-O", "qcow2", "-o", "compat=0.10", "bm.qcow2"], ["-O", "raw", "bm.qcow2"],
            ["-O", "qcow2", "-l", "s1", "bm.qcow2"], ["-O", "qcow2", "-l", "1", "bm.qcow2"],
            ["-O", "qcow2", "-l", "snapshot.id=1", "bm.qcow2"],
            ["-O", "qcow2", "-l", "snapshot.name=s1,snapshot.id=2", "bm.qcow2"],
            ["-O", "qcow2", "-l", "snapshot.foo=1", "bm.qcow2"],
            ["-O", "qcow2", "-l", "nope", "bm.qcow2"], ["-O", "qcow2", "-l", "s1", "--size", "1G"],
            ["-O", "qcow2", "-l", "s1", "sp.raw"], ["-O", "raw", "-l", "s1", "bm.qcow2"],
            ["-l", "snapshot.id=1", "-l", "s9", "bm.qcow2"],
        ]

    def test_same_as_qemu_img(self):
        for args in self.cases:
            with self.subTest(args=args):
                q = bt.run([bt.tool("QEMU_IMG"), "measure"] + args, cwd=self.dir)
                a = bt.run([bt.tool("AMBER_IMG"), "measure"] + args, cwd=self.dir)
                bt.assert_no_crash(self, a)
                self.assertEqual(a.rc, q.rc, "%s\n%s" % (q.describe(), a.describe()))
                self.assertEqual(a.out, q.out, args)
                self.assertEqual(a.err.replace("amber-img", "qemu-img"), q.err, args)

    def test_converted_image_fits(self):
        for src, opts in (("top.qcow2", "cluster_size=65536"), ("c.qcow2", "cluster_size=4096"),
                          ("sp.raw", "cluster_size=512"), ("bm.qcow2", "cluster_size=4096")):
            with self.subTest(src=src):
                m = bt.amber_img("measure", "--output=json", "-O", "qcow2", "-o", opts,
                                 self.path(src))
                self.assertEqual(m.rc, 0, m.describe())
                measured = json.loads(m.out)
                # convert --bitmaps copies the bitmaps into the room counted for them.
                required = measured["required"] + measured.get("bitmaps", 0)
                out = self.path("out.qcow2")
                if os.path.exists(out):
                    os.unlink(out)
                extra = ["--bitmaps"] if src == "bm.qcow2" else []
                bt.amber_img("convert", *extra, "-O", "qcow2", "-o", opts, self.path(src), out,
                             check=True)
                self.assertLessEqual(os.path.getsize(out), required)


if __name__ == "__main__":
    bt.main()
