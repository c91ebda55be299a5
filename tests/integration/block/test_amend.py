#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img amend against qemu-img 7.2 amend as the oracle.

Each case amends two copies of the same image, one with each tool: exit
code, stdout and stderr must be qemu-img's, and so must the result
(`qemu-img info` and `qemu-img map` of both, and the file's bytes for the
compat changes, which both tools write byte for byte alike); every result
passes `qemu-img check`. Also: a downgrade of an overlay (zero clusters
must keep hiding the backing file), -p, an image in use, a raw image.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

CASES = [
    ([], "cluster_size=4k"), ([], "compat=0.10"), ([], "compat=1.1"), ([], "lazy_refcounts=on"),
    ([], "refcount_bits=16"), ([], "size=10M"), ([], "size=1M"), ([], "preallocation=full"),
    ([], "compression_type=zstd"), ([], "backing_file=foo"), ([], "foo=bar"), ([], "help"),
    ([], "compat=2"), (["compat=0.10"], "compat=1.1"), (["compat=0.10"], "lazy_refcounts=on"),
    (["compat=0.10"], "compat=1.1,lazy_refcounts=on"), (["lazy_refcounts=on"], "lazy_refcounts=off"),
    (["lazy_refcounts=on"], "compat=0.10"), (["compat=0.10"], "compat=0.10"),
    (["extended_l2=on"], "compat=0.10"), (["refcount_bits=8"], "compat=0.10"),
    (["compression_type=zstd"], "compat=0.10"), ([], "lazy_refcounts=maybe"), ([], "size=1x"),
    ([], "refcount_bits=3"), (["cluster_size=4k"], "compat=0.10"),
    ([], "refcount_bits=abc"), ([], "refcount_bits=128"), (["compat=0.10"], "refcount_bits=8"),
    (["refcount_bits=8"], "compat=0.10,refcount_bits=16"), (["compat=0.10"], "compat=1.1,refcount_bits=1"),
    ([], "refcount_bits=8,lazy_refcounts=on,backing_file=zz"), ([], "backing_fmt=raw"),
    ([], "backing_file="),
]
REFCOUNT_WIDTHS = [1, 2, 4, 8, 16, 32, 64]
WRITES = ["write -P 1 0 64k", "write -z 1M 64k", "write -P 2 2M 64k", "write -z 2M 64k"]


class AmendTest(bt.TempDirTest):

    def make(self, name, create_opts, backing=None):
        path = self.path(name)
        args = ["create", "-q", "-f", "qcow2"]
        if create_opts:
            args += ["-o", ",".join(create_opts)]
        if backing:
            args += ["-b", backing, "-F", "qcow2"]
        bt.qemu_img(*(args + [path, "4M"]), check=True)
        bt.qemu_io(path, WRITES)
        return path

    def state(self, path):
        info = json.loads(bt.qemu_img("info", "--output=json", path, check=True).out)
        for key in ("filename", "actual-size", "dirty-flag"):
            info.pop(key, None)
        m = json.loads(bt.qemu_img("map", "--output=json", path, check=True).out)
        return info, m

    def test_same_as_qemu_img(self):
        for i, (create_opts, amend) in enumerate(CASES):
            with self.subTest(create=create_opts, amend=amend):
                q = self.make("q%d.qcow2" % i, create_opts)
                a = self.make("a%d.qcow2" % i, create_opts)
                rq = bt.qemu_img("amend", "-o", amend, q)
                ra = bt.amber_img("amend", "-o", amend, a)
                bt.assert_no_crash(self, ra)
                self.assertEqual(ra.rc, rq.rc, "%s\n%s" % (rq.describe(), ra.describe()))
                self.assertEqual(ra.out, rq.out)
                self.assertEqual(ra.err.replace("amber-img", "qemu-img"), rq.err)
                self.assertEqual(self.state(a), self.state(q))
                self.assertQemuCheckClean(a)
                if amend.startswith("compat") and ra.rc == 0:
                    self.assertEqual(bt.file_bytes(a), bt.file_bytes(q), "bytes differ")

    def test_refcount_bits_same_bytes_as_qemu_img(self):
        # Every width to every other (small clusters: several refcount
        # blocks and a growing table), byte-identical to qemu-img's file.
        for frm in (1, 16, 64):
            for to in REFCOUNT_WIDTHS:
                if to == frm:
                    continue
                with self.subTest(frm=frm, to=to):
                    opts = ["refcount_bits=%d" % frm, "cluster_size=512"]
                    q = self.make("rq%d_%d.qcow2" % (frm, to), opts)
                    a = self.make("ra%d_%d.qcow2" % (frm, to), opts)
                    before = self.path("rb%d_%d.raw" % (frm, to))
                    bt.qemu_img("convert", "-O", "raw", a, before, check=True)
                    rq = bt.qemu_img("amend", "-o", "refcount_bits=%d" % to, q)
                    ra = bt.amber_img("amend", "-o", "refcount_bits=%d" % to, a)
                    self.assertEqual((ra.rc, rq.rc), (0, 0), ra.describe())
                    self.assertQemuCheckClean(a)
                    info = json.loads(bt.qemu_img("info", "--output=json", a, check=True).out)
                    self.assertEqual(info["format-specific"]["data"]["refcount-bits"], to)
                    self.assertEqual(bt.file_bytes(a), bt.file_bytes(q), "bytes differ")
                    self.assertEqual(bt.qemu_img("compare", "-f", "raw", "-F", "qcow2", before, a).rc, 0)

    def test_refcount_bits_too_narrow_for_snapshot(self):
        a = self.make("snap.qcow2", [])
        bt.qemu_img("snapshot", "-c", "s1", a, check=True)
        before = bt.file_bytes(a)
        q = self.path("snapq.qcow2")
        with open(q, "wb") as f:
            f.write(before)
        rq = bt.qemu_img("amend", "-o", "refcount_bits=1", q)
        ra = bt.amber_img("amend", "-o", "refcount_bits=1", a)
        self.assertEqual((ra.rc, rq.rc), (1, 1))
        self.assertIn("Cannot decrease refcount entry width to 1 bits", ra.err)
        self.assertEqual(ra.err.replace("amber-img", "qemu-img"), rq.err)
        self.assertEqual(bt.file_bytes(a), before)
        r = bt.amber_img("amend", "-o", "refcount_bits=2", a)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertQemuCheckClean(a)

    def test_backing_file_unchanged_only(self):
        self.make("base.qcow2", [])
        for amend, ok in (("backing_file=base.qcow2,backing_fmt=qcow2", True),
                          ("backing_file=base.qcow2", False), ("backing_fmt=qcow2", False),
                          ("backing_file=other.qcow2,backing_fmt=qcow2", False),
                          ("backing_file=base.qcow2,backing_fmt=raw", False)):
            with self.subTest(amend=amend):
                top = self.make("top-%d.qcow2" % len(amend), [], backing="base.qcow2")
                q = self.make("topq-%d.qcow2" % len(amend), [], backing="base.qcow2")
                before = bt.file_bytes(top)
                rq = bt.qemu_img("amend", "-o", amend, q)
                ra = bt.amber_img("amend", "-o", amend, top)
                self.assertEqual(ra.rc, 0 if ok else 1, ra.describe())
                self.assertEqual(ra.rc, rq.rc)
                self.assertEqual(ra.err.replace("amber-img", "qemu-img"), rq.err)
                self.assertEqual(bt.file_bytes(top), before)

    def test_downgrade_overlay_keeps_zeros(self):
        base = self.make("base.qcow2", [])
        bt.qemu_io(base, ["write -P 9 0 4M"])
        top = self.make("top.qcow2", [], backing="base.qcow2")
        before = self.path("before.raw")
        bt.qemu_img("convert", "-O", "raw", top, before, check=True)
        r = bt.amber_img("amend", "-o", "compat=0.10", top)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertQemuCheckClean(top)
        info = json.loads(bt.qemu_img("info", "--output=json", top, check=True).out)
        self.assertEqual(info["format-specific"]["data"]["compat"], "0.10")
        self.assertEqual(bt.qemu_img("compare", "-F", "qcow2", before, top).rc, 0)

    def test_progress(self):
        for i, (create_opts, amend) in enumerate(
                [([], "compat=0.10"), (["compat=0.10"], "compat=1.1,lazy_refcounts=on"),
                 ([], "lazy_refcounts=on"), ([], "compat=0.10,size=8M")]):
            with self.subTest(amend=amend):
                a = self.make("p%d.qcow2" % i, create_opts)
                q = self.make("pq%d.qcow2" % i, create_opts)
                r = bt.amber_img("amend", "-p", "-o", amend, a)
                self.assertEqual(r.rc, 0, r.describe())
                # (text mode reads qemu's "\r" as a line end)
                self.assertIn("(100.00/100%)", r.out)
                self.assertEqual(r.out, bt.qemu_img("amend", "-p", "-o", amend, q).out)

    def test_raw_and_busy_images(self):
        raw = self.path("r.raw")
        with open(raw, "wb") as f:
            f.truncate(1 << 20)
        r = bt.amber_img("amend", "-f", "raw", "-o", "size=2M", raw)
        self.assertEqual(r.rc, 1)
        self.assertIn("Format driver 'raw' does not support option amendment", r.err)
        self.assertEqual(os.path.getsize(raw), 1 << 20)
        a = self.make("busy.qcow2", [])
        before = bt.file_bytes(a)
        proc = subprocess.Popen([bt.tool("AMBER_IO"), "-f", "qcow2", a], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "opened")
            r = bt.amber_img("amend", "-o", "compat=0.10", a)
            self.assertEqual(r.rc, 1, r.describe())
            self.assertIn('Failed to get "write" lock', r.err)
        finally:
            proc.stdin.close()
            proc.wait()
        self.assertEqual(bt.file_bytes(a), before)


if __name__ == "__main__":
    bt.main()
