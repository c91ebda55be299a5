#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img convert against qemu-img 7.2 convert as the oracle (issue 10).

Every output must pass `qemu-img check` and read as its input
(`qemu-img compare`); allocation (st_blocks), backing links and messages
are compared with what qemu-img convert does with the same command line.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20


def allocated(path):
    return os.stat(path).st_blocks * 512


class ConvertTest(bt.TempDirTest):

    def amber(self, *args):
        r = bt.amber_img("convert", *args)
        bt.assert_no_crash(self, r)
        self.assertEqual(r.rc, 0, r.describe())
        return r

    def assertIdentical(self, a, b, fmt_a=None, fmt_b=None):
        args = ["compare"]
        if fmt_a:
            args += ["-f", fmt_a]
        if fmt_b:
            args += ["-F", fmt_b]
        r = bt.qemu_img(*(args + [a, b]))
        self.assertEqual(r.rc, 0, r.describe())

    def make_qcow2(self, name, size="16M", writes=(), extra=()):
        path = self.path(name)
        bt.qemu_img("create", "-q", "-f", "qcow2", *extra, path, size, check=True)
        if writes:
            bt.qemu_io(path, list(writes))
        return path

    def chain(self):
        """base <- mid <- top, each level with its own data, a zero cluster on top."""
        base = self.make_qcow2("base.qcow2", writes=["write -P 0x11 0 4M", "write -P 0x12 8M 1M"])
        mid = self.path("mid.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", mid, check=True)
        bt.qemu_io(mid, ["write -P 0x21 1M 512k", "write -P 0x22 12M 64k"])
        top = self.path("top.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top, check=True)
        bt.qemu_io(top, ["write -P 0x31 2M 128k", "write -z 0 64k", "write -P 0x32 15M 4k"])
        return base, mid, top

    def test_qcow2_to_raw(self):
        src = self.make_qcow2("s.qcow2", writes=["write -P 0x41 0 1M", "write -P 0x42 9M 64k"])
        out, ref = self.path("o.raw"), self.path("ref.raw")
        self.amber("-f", "qcow2", "-O", "raw", src, out)
        bt.qemu_img("convert", "-O", "raw", src, ref, check=True)
        self.assertIdentical(src, out, "qcow2", "raw")
        self.assertSameContent(ref, out, "qcow2->raw")
        self.assertEqual(os.path.getsize(out), 16 * MIB)
        self.assertEqual(allocated(out), allocated(ref))

    def test_raw_to_qcow2(self):
        raw = self.path("s.raw")
        bt.qemu_img("create", "-q", "-f", "raw", raw, "8M", check=True)
        bt.qemu_io(raw, ["write -P 0x51 64k 1M", "write -P 0x52 6M 4k"], fmt="raw")
        out, ref = self.path("o.qcow2"), self.path("ref.qcow2")
        self.amber("-f", "raw", "-O", "qcow2", raw, out)
        bt.qemu_img("convert", "-f", "raw", "-O", "qcow2", raw, ref, check=True)
        self.assertQemuCheckClean(out)
        self.assertIdentical(raw, out, "raw", "qcow2")
        self.assertLessEqual(allocated(out), allocated(ref) + 64 * 1024)

    def test_odd_sized_raw(self):
        raw = self.path("odd.raw")
        with open(raw, "wb") as f:
            f.write(bytes((i * 7 + 3) & 0xFF for i in range(1000)))
        for fmt in ("raw", "qcow2"):
            out, ref = self.path("o." + fmt), self.path("ref." + fmt)
            self.amber("-f", "raw", "-O", fmt, raw, out)
            bt.qemu_img("convert", "-f", "raw", "-O", fmt, raw, ref, check=True)
            self.assertIdentical(ref, out, fmt, fmt)
            self.assertEqual(os.path.getsize(out) if fmt == "raw" else 0,
                             os.path.getsize(ref) if fmt == "raw" else 0)

    def test_flatten_chain(self):
        _, _, top = self.chain()
        out = self.path("flat.qcow2")
        self.amber("-O", "qcow2", top, out)
        self.assertQemuCheckClean(out)
        self.assertIdentical(top, out)
        info = bt.qemu_img("info", out, check=True).out
        self.assertNotIn("backing file", info)

    def test_backing(self):
        base, mid, top = self.chain()
        # The new backing reads as top's backing (mid): a flattened copy of it.
        newback = self.path("newback.raw")
        bt.qemu_img("convert", "-O", "raw", mid, newback, check=True)
        out, ref, flat = self.path("b.qcow2"), self.path("ref.qcow2"), self.path("flat.qcow2")
        self.amber("-B", newback, "-F", "raw", "-O", "qcow2", top, out)
        bt.qemu_img("convert", "-B", newback, "-F", "raw", "-O", "qcow2", top, ref, check=True)
        self.amber("-O", "qcow2", top, flat)
        self.assertQemuCheckClean(out)
        info = bt.qemu_img("info", out, check=True).out
        self.assertIn("backing file: " + newback, info)
        self.assertIn("backing file format: raw", info)
        self.assertIdentical(top, out)
        self.assertLess(allocated(out), allocated(flat))
        # The same clusters as qemu-img's output are allocated in the top.
        amap = bt.qemu_img("map", "--output=json", out, check=True).out
        qmap = bt.qemu_img("map", "--output=json", ref, check=True).out
        self.assertEqual(amap.replace(out, "X"), qmap.replace(ref, "X"))

    def test_backing_needs_format(self):
        base, _, top = self.chain()
        for prog in (bt.amber_img, bt.qemu_img):
            r = prog("convert", "-B", base, "-O", "qcow2", top, self.path("x.qcow2"))
            self.assertEqual(r.rc, 1, r.describe())
            self.assertIn("Use of backing file requires explicit backing format", r.err)

    def test_sparseness(self):
        src = self.make_qcow2("s.qcow2", writes=["write -P 0x61 0 1M", "write -z 4M 1M",
                                                 "write -P 0 6M 256k"])
        for fmt in ("raw", "qcow2"):
            for sparse in (None, "0", "64k"):
                args = [] if sparse is None else ["-S", sparse]
                a, q = self.path("a." + fmt), self.path("q." + fmt)
                self.amber(*(args + ["-O", fmt, src, a]))
                bt.qemu_img("convert", *(args + ["-O", fmt, src, q]), check=True)
                self.assertIdentical(src, a, "qcow2", fmt)
                if fmt == "qcow2":
                    self.assertQemuCheckClean(a)
                what = "%s -S %s" % (fmt, sparse)
                # Metadata layouts may differ by a few clusters, data may not.
                self.assertLessEqual(abs(allocated(a) - allocated(q)), 256 * 1024,
                                     "%s: amber %d qemu %d" % (what, allocated(a), allocated(q)))
                if sparse == "0":
                    self.assertGreaterEqual(allocated(a), 16 * MIB, what)
                else:
                    self.assertLess(allocated(a), 2 * MIB, what)
                os.unlink(a)
                os.unlink(q)

    def test_existing_target(self):
        src = self.make_qcow2("s.qcow2", size="4M", writes=["write -P 0x71 0 1M"])
        target = self.path("t.raw")
        bt.qemu_img("create", "-q", "-f", "raw", target, "8M", check=True)
        bt.qemu_io(target, ["write -P 0x7f 0 8M"], fmt="raw")
        self.amber("-n", "-O", "raw", src, target)
        # The zeros of src were written; the tail past src stays.
        bt.qemu_io(target, ["read -P 0x71 0 1M", "read -P 0 1M 3M", "read -P 0x7f 4M 4M"],
                   fmt="raw")
        t2 = self.path("t2.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", t2, "4M", check=True)
        self.amber("-n", "--target-is-zero", "-O", "qcow2", src, t2)
        self.assertQemuCheckClean(t2)
        self.assertIdentical(src, t2)

    def test_concatenation(self):
        a = self.make_qcow2("a.qcow2", size="3M", writes=["write -P 0x81 0 3M"])
        raw = self.path("b.raw")
        bt.qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
        bt.qemu_io(raw, ["write -P 0x82 0 512k"], fmt="raw")
        c = self.make_qcow2("c.qcow2", size="2M", writes=["write -P 0x83 1M 1M"])
        out, ref = self.path("cat.qcow2"), self.path("ref.qcow2")
        self.amber("-O", "qcow2", a, raw, c, out)
        bt.qemu_img("convert", "-O", "qcow2", a, raw, c, ref, check=True)
        self.assertQemuCheckClean(out)
        self.assertIdentical(ref, out)
        self.assertIn("6 MiB", bt.qemu_img("info", out, check=True).out)

    def test_creation_options(self):
        src = self.make_qcow2("s.qcow2", writes=["write -P 0x91 0 2M"])
        cases = [("cluster_size=4k", "cluster_size: 4096"), ("compat=0.10", "compat: 0.10"),
                 ("cluster_size=2M,lazy_refcounts=on", "lazy refcounts: true"),
                 ("refcount_bits=1", "refcount bits: 1")]
        for opts, expect in cases:
            out = self.path("o.qcow2")
            self.amber("-O", "qcow2", "-o", opts, src, out)
            self.assertQemuCheckClean(out)
            self.assertIdentical(src, out)
            self.assertIn(expect, bt.qemu_img("info", out, check=True).out, opts)
            os.unlink(out)

    def test_workers_and_cache(self):
        src = self.make_qcow2("s.qcow2", size="64M",
                              writes=["write -P 0xa1 0 20M", "write -P 0xa2 33M 5M",
                                      "write -z 40M 1M", "write -P 0xa3 63M 1M"])
        for args in (["-m", "1"], ["-m", "16", "-W"], ["-t", "none", "-T", "none"],
                     ["-t", "writeback"], ["-m", "4", "-W", "-S", "0"]):
            for fmt in ("qcow2", "raw"):
                out = self.path("o." + fmt)
                self.amber(*(args + ["-O", fmt, src, out]))
                if fmt == "qcow2":
                    self.assertQemuCheckClean(out)
                self.assertIdentical(src, out, "qcow2", fmt)
                os.unlink(out)

    def test_progress(self):
        src = self.make_qcow2("s.qcow2", writes=["write -P 0xb1 0 1M"])
        a = bt.amber_img("convert", "-p", "-O", "raw", src, self.path("a.raw"))
        q = bt.qemu_img("convert", "-p", "-O", "raw", src, self.path("q.raw"))
        self.assertEqual((a.rc, a.out), (q.rc, q.out), a.describe())
        # Text mode reads qemu's "\r" line ends as "\n".
        self.assertTrue(a.out.startswith("    (0.00/100%)\n"), repr(a.out))
        self.assertTrue(a.out.endswith("    (100.00/100%)\n"), repr(a.out))
        a = bt.amber_img("convert", "-p", "-q", "-O", "raw", src, self.path("a.raw"))
        self.assertEqual((a.rc, a.out, a.err), (0, "", ""))

    def test_messages(self):
        """Failing command lines: the same exit status and stderr as qemu-img."""
        src = self.make_qcow2("s.qcow2", size="4M", writes=["write -P 0xc1 0 1M"])
        bt.qemu_img("create", "-q", "-f", "raw", self.path("small.raw"), "1M", check=True)
        cases = [
            ["-O", "raw", "missing.qcow2", "o.raw"],
            ["-f", "nosuch", "-O", "raw", "s.qcow2", "o.raw"],
            ["-O", "nosuch", "s.qcow2", "o.raw"],
            ["-O", "raw"],
            ["-O", "raw", "s.qcow2"],
            ["-n", "-O", "raw", "s.qcow2", "missing.raw"],
            ["-n", "-O", "raw", "s.qcow2", "small.raw"],
            ["-n", "-o", "cluster_size=4k", "-O", "qcow2", "s.qcow2", "small.raw"],
            ["-S", "100", "-O", "raw", "s.qcow2", "o.raw"],
            ["-S", "32M", "-O", "raw", "s.qcow2", "o.raw"],
            ["-S", "xyz", "-O", "raw", "s.qcow2", "o.raw"],
            ["-m", "0", "-O", "raw", "s.qcow2", "o.raw"],
            ["-m", "17", "-O", "raw", "s.qcow2", "o.raw"],
            ["--target-is-zero", "-O", "raw", "s.qcow2", "o.raw"],
            ["-t", "bogus", "-O", "raw", "s.qcow2", "o.raw"],
            ["-T", "bogus", "-O", "raw", "s.qcow2", "o.raw"],
            ["-F", "qcow2", "-O", "qcow2", "s.qcow2", "o.qcow2"],
            ["-B", "s.qcow2", "-F", "qcow2", "-O", "raw", "s.qcow2", "o.raw"],
            ["-O", "qcow2", "-o", "bogus=1", "s.qcow2", "o.qcow2"],
            ["-O", "qcow2", "-o", "cluster_size=1000", "s.qcow2", "o.qcow2"],
            ["-O", "qcow2", "-o", "compat=0.10,lazy_refcounts=on", "s.qcow2", "o.qcow2"],
            ["-x", "s.qcow2", "o.raw"],
            ["-O"],
        ]
        amber_name = os.path.basename(bt.tool("AMBER_IMG"))
        for case in cases:
            results = []
            for prog in ("QEMU_IMG", "AMBER_IMG"):
                work = self.path("w-" + prog)
                os.mkdir(work)
                for name in ("s.qcow2", "small.raw"):
                    shutil.copy(self.path(name), work)
                cwd = os.getcwd()
                os.chdir(work)
                try:
                    r = bt.run([bt.tool(prog), "convert"] + case)
                finally:
                    os.chdir(cwd)
                shutil.rmtree(work)
                results.append(r)
            q, a = results
            bt.assert_no_crash(self, a)
            self.assertEqual(a.rc, q.rc, "%s\n%s\n%s" % (case, q.describe(), a.describe()))
            self.assertEqual(a.err.replace(amber_name, "qemu-img"), q.err,
                             "%s\n%s\n%s" % (case, q.describe(), a.describe()))

    def test_compressed(self):
        """-c: the same bytes as qemu-img convert -c (QEMU's packing of
        compressed clusters), for zlib and zstd, 64 KiB and 4 KiB clusters,
        a chain as the source and a backing file on the target."""
        text = self.path("text.raw")
        with open(text, "wb") as f:
            line = b"".join(b"%06d lorem ipsum dolor sit amet %d\n" % (i, i * i % 977)
                            for i in range(2000))
            while f.tell() < 6 * MIB:
                f.write(line)
            f.write(os.urandom(MIB))  # does not shrink: written uncompressed
            f.write(bytes(MIB))       # zeros: not allocated
            f.write(line[:300000])    # a short last cluster
        base, mid, top = self.chain()
        cases = [("zlib", "64k", text, []), ("zstd", "64k", text, []), ("zlib", "4k", text, []),
                 ("zstd", "64k", top, []),
                 ("zlib", "64k", top, ["-B", mid, "-F", "qcow2"])]
        for ctype, cluster, src, extra in cases:
            with self.subTest(compression=ctype, cluster=cluster, src=os.path.basename(src),
                              extra=extra):
                opts = "compression_type=%s,cluster_size=%s" % (ctype, cluster)
                q = self.path("q.qcow2")
                a = self.path("a.qcow2")
                for p in (q, a):
                    if os.path.exists(p):
                        os.unlink(p)
                bt.qemu_img("convert", "-c", "-O", "qcow2", "-o", opts, *extra, src, q, check=True)
                self.amber("-c", "-O", "qcow2", "-o", opts, *extra, src, a)
                self.assertQemuCheckClean(a)
                r, report = bt.qemu_check_json(a)
                self.assertGreater(report.get("compressed-clusters", 0), 0, r.out)
                self.assertIdentical(src, a, None, "qcow2")
                with open(q, "rb") as fq, open(a, "rb") as fa:
                    self.assertTrue(fq.read() == fa.read(),
                                    "amber-img convert -c output differs from qemu-img's")

    def test_compressed_needs_qcow2(self):
        src = self.make_qcow2("s.qcow2", size="1M")
        for fmt in ("raw", "qcow2"):
            out = self.path("o." + fmt)
            r = bt.amber_img("convert", "-c", "-O", fmt, src, out)
            q = bt.qemu_img("convert", "-c", "-O", fmt, src, self.path("q." + fmt))
            bt.assert_no_crash(self, r)
            self.assertEqual(r.rc, q.rc, "%s\n%s" % (q.describe(), r.describe()))
            if fmt == "raw":
                self.assertEqual(r.rc, 1)
                self.assertIn("Compression not supported for this file format", r.err)
                self.assertFalse(os.path.exists(out))

    def test_refused_options(self):
        src = self.make_qcow2("s.qcow2", size="1M")
        out = self.path("o.qcow2")
        # (--object, --image-opts and encryption are test_luks.py's.)
        for args, name in ((["-C"], "-C"), (["-r", "1M"], "-r")):
            r = bt.amber_img("convert", *(args + ["-O", "qcow2", src, out]))
            bt.assert_no_crash(self, r)
            self.assertEqual(r.rc, 1, r.describe())
            self.assertIn(name, r.err, r.describe())
            self.assertIn("not supported", r.err, r.describe())
            self.assertFalse(os.path.exists(out), args)

    def both(self, args):
        """Runs convert with amber-img and qemu-img; returns (amber, qemu)."""
        a = bt.amber_img("convert", *[x.replace("@", "a") for x in args])
        bt.assert_no_crash(self, a)
        q = bt.qemu_img("convert", *[x.replace("@", "q") for x in args])
        self.assertEqual(a.rc, q.rc, a.describe() + q.describe())
        # The cause of a read error is Amber's own (qemu-img says EIO's text).
        self.assertEqual(a.err.replace("amber-img", "qemu-img").split(": ")[:2],
                         q.err.split(": ")[:2], a.describe())
        return a, q

    def test_snapshot(self):
        img = self.make_qcow2("s.qcow2", size="1M", writes=["write -P 1 0 64k"])
        bt.qemu_img("snapshot", "-c", "one", img, check=True)
        bt.qemu_io(img, ["write -P 2 0 64k"])
        bt.qemu_img("snapshot", "-c", "two", img, check=True)
        bt.qemu_io(img, ["write -P 3 0 64k"])
        bt.qemu_img("resize", "-q", img, "2M", check=True)
        for spec in ("one", "2", "snapshot.id=1", "snapshot.name=two",
                     "snapshot.id=1,snapshot.name=one"):
            self.both(["-O", "qcow2", "-l", spec, img, self.path("@.qcow2")])
            self.assertIdentical(self.path("a.qcow2"), self.path("q.qcow2"))
            bt.qemu_img("check", self.path("a.qcow2"), check=True)
        raw = self.path("r.raw")
        bt.qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
        for args in (["-l", "nosuch", img], ["-l", "snapshot.id=2,snapshot.name=one", img],
                     ["-l", "snapshot.foo=1", img], ["-l", "one", img, img], ["-l", "one", raw],
                     ["-s", "one", img]):
            self.both(["-O", "raw"] + args + [self.path("@.raw")])
        self.both(["-O", "raw", "-l", "snapshot.id=1", img, img, self.path("@.raw")])
        self.assertIdentical(self.path("a.raw"), self.path("q.raw"), "raw", "raw")

    def corrupt_compressed(self):
        src = self.path("src.raw")
        bt.qemu_img("create", "-q", "-f", "raw", src, "1M", check=True)
        bt.qemu_io(src, ["write -P 7 0 1M"], fmt="raw")
        img = self.path("c.qcow2")
        bt.qemu_img("convert", "-c", "-O", "qcow2", src, img, check=True)
        import struct
        with open(img, "r+b") as f:
            h = f.read(104)
            f.seek(struct.unpack(">Q", h[40:48])[0])
            l2 = struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00
            f.seek(l2 + 16)
            entry = struct.unpack(">Q", f.read(8))[0]
            f.seek(entry & ((1 << 54) - 1))
            f.write(b"\xff" * 16)
        return img

    def test_salvage(self):
        img = self.corrupt_compressed()
        a, _ = self.both(["-O", "raw", img, self.path("@.raw")])
        self.assertEqual(a.rc, 1)
        self.assertIn("error while reading at byte 131072", a.err)
        a = bt.amber_img("convert", "--salvage", "-O", "qcow2", img, self.path("a.qcow2"))
        bt.assert_no_crash(self, a)
        self.assertEqual(a.rc, 0, a.describe())
        warnings = [l for l in a.err.splitlines() if "warning: error while reading offset" in l]
        self.assertEqual(len(warnings), 128, a.describe())
        self.assertIn("offset 131072:", warnings[0])
        q = bt.qemu_img("convert", "--salvage", "-O", "raw", img, self.path("q.raw"))
        self.assertEqual(q.rc, 0)
        self.assertEqual(len(q.err.splitlines()), 128)
        self.assertIdentical(self.path("a.qcow2"), self.path("q.raw"), None, "raw")
        bt.qemu_img("check", self.path("a.qcow2"), check=True)

    def test_bitmaps(self):
        plain = self.make_qcow2("p.qcow2", size="1M", writes=["write -P 1 0 64k"])
        bm = self.make_qcow2("bm.qcow2", size="1M")
        bt.qemu_img("bitmap", "--add", bm, "b0", check=True)
        raw = self.path("r.raw")
        bt.qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
        self.both(["--bitmaps", "-O", "qcow2", plain, self.path("@.qcow2")])
        self.assertIdentical(self.path("a.qcow2"), plain)
        for args in (["--bitmaps", "-O", "raw", plain], ["--skip-broken-bitmaps", "-O", "qcow2", bm],
                     ["--bitmaps", "-O", "qcow2", plain, plain], ["--bitmaps", "-O", "qcow2", raw]):
            self.both(args + [self.path("@.out")])
        # The bitmap is copied (test_bitmaps.py compares the contents).
        self.both(["--bitmaps", "-O", "qcow2", bm, self.path("@.qcow2")])
        info = [bt.qemu_img("info", self.path(n + ".qcow2"), check=True).out for n in "aq"]
        self.assertIn("name: b0", info[0])
        self.assertEqual(info[0].split("bitmaps:")[1].split("refcount")[0],
                         info[1].split("bitmaps:")[1].split("refcount")[0])
        self.assertQemuCheckClean(self.path("a.qcow2"))

if __name__ == "__main__":
    bt.main()
