#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img bitmap and convert --bitmaps against qemu-img 7.2.

The oracle for bitmap contents is this file's own reader of the qcow2
bitmap directory, tables and data clusters (independent of Amber's code):
each bitmap reads as (name, granularity, flags, set bits as byte ranges).
Both tools' results must read the same, pass `qemu-img check`, and list
the same bitmaps in `qemu-img info`; qemu-img must also load Amber's
bitmaps (convert --bitmaps of Amber's file by qemu-img reads the same).
"""

import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

EXT_BITMAPS = 0x23852875


def directory(path):
    """[(entry offset in file, name, gran_bits, flags, table_off, table_size)]."""
    with open(path, "rb") as f:
        h = f.read(65536)
        cluster = 1 << struct.unpack(">I", h[20:24])[0]
        autoclear = struct.unpack(">Q", h[88:96])[0]
        off = struct.unpack(">I", h[100:104])[0]
        out = []
        while off + 8 <= len(h):
            t, ln = struct.unpack(">II", h[off:off + 8])
            if t == 0:
                break
            if t == EXT_BITMAPS and autoclear & 1:
                n, _, size, doff = struct.unpack(">IIQQ", h[off + 8:off + 32])
                f.seek(doff)
                d = f.read(size)
                at = 0
                for _ in range(n):
                    toff, tsize, flags, _t, gb, nl, _x = struct.unpack(">QIIBBHI", d[at:at + 24])
                    out.append((doff + at, d[at + 24:at + 24 + nl].decode(), gb, flags, toff, tsize))
                    at += (24 + nl + 7) & ~7
            off += 8 + ((ln + 7) & ~7)
        return cluster, out


def bitmaps(path, size):
    """{name: (granularity, flags, [dirty byte ranges])}, read from the file."""
    cluster, entries = directory(path)
    result = {}
    with open(path, "rb") as f:
        for _, name, gb, flags, toff, tsize in entries:
            ranges = []
            if not flags & 1:
                f.seek(toff)
                table = struct.unpack(">%dQ" % tsize, f.read(8 * tsize))
                granules = (size + (1 << gb) - 1) >> gb
                for i, e in enumerate(table):
                    data = e & 0x00fffffffffffe00
                    if data:
                        f.seek(data)
                        chunk = f.read(cluster)
                    elif e & 1:
                        chunk = b"\xff" * cluster
                    else:
                        continue
                    for byte, v in enumerate(chunk):
                        for b in range(8):
                            g = (i * cluster + byte) * 8 + b
                            if v & (1 << b) and g < granules:
                                ranges.append(g << gb)
            result[name] = (1 << gb, flags, ranges)
    return result


def info_bitmaps(path):
    out = bt.qemu_img("info", path, check=True).out
    return out.split("bitmaps:")[1].split("refcount bits")[0] if "bitmaps:" in out else ""


def set_flags(path, index, flags):
    _, entries = directory(path)
    with open(path, "r+b") as f:
        f.seek(entries[index][0] + 12)
        f.write(struct.pack(">I", flags))


SIZE = 10 << 20


class BitmapTest(bt.TempDirTest):

    def image(self, name, cluster="64k"):
        p = self.path(name)
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + cluster, p, str(SIZE),
                    check=True)
        bt.qemu_io(p, ["write -P 1 0 64k"])
        return p

    def pair(self, name, cluster="64k"):
        a, q = self.image("a-" + name, cluster), self.image("q-" + name, cluster)
        return a, q

    def both(self, a, q, *args, src=None):
        """amber-img bitmap on a, qemu-img bitmap on q; same rc and messages."""
        ra = bt.amber_img("bitmap", *[a if x == "@" else x for x in args])
        rq = bt.qemu_img("bitmap", *[q if x == "@" else x for x in args])
        bt.assert_no_crash(self, ra)
        self.assertEqual(ra.rc, rq.rc, ra.describe() + rq.describe())
        norm = lambda t: re.sub(r"#block\d+", "#block", t.replace(a, "X").replace(q, "X"))
        self.assertEqual(norm(ra.err).replace("amber-img", "qemu-img"), norm(rq.err),
                         ra.describe())
        return ra

    def assertSame(self, a, q):
        self.assertQemuCheckClean(a)
        self.assertEqual(info_bitmaps(a), info_bitmaps(q))
        self.assertEqual(bitmaps(a, SIZE), bitmaps(q, SIZE))

    def test_actions(self):
        a, q = self.pair("x.qcow2")
        self.both(a, q, "--add", "@", "b1")
        self.both(a, q, "--add", "-g", "4k", "--disable", "@", "b2")
        self.both(a, q, "--add", "-g", "1M", "@", "b3")
        for p in (a, q):  # guest writes through QEMU dirty the enabled bitmaps
            bt.qemu_io(p, ["write 1M 64k", "write 5M 4k", "write 9M 300k"])
        self.assertTrue(bitmaps(a, SIZE)["b1"][2])
        self.both(a, q, "--merge", "b1", "@", "b2")
        self.both(a, q, "--merge", "b3", "--enable", "@", "b2")
        self.both(a, q, "--add", "--merge", "b2", "--disable", "@", "b4")
        self.both(a, q, "--clear", "@", "b1")
        self.both(a, q, "--remove", "@", "b3")
        self.assertSame(a, q)
        # amber-img check counts the bitmap clusters (no leaks), on both files.
        for p in (a, q):
            r = bt.amber_img("check", p)
            self.assertEqual(r.rc, 0, r.describe())
        # Bitmaps Amber wrote load in QEMU: qemu-img copies them intact.
        c = self.path("c.qcow2")
        bt.qemu_img("convert", "--bitmaps", "-O", "qcow2", a, c, check=True)
        self.assertEqual(bitmaps(c, SIZE), bitmaps(a, SIZE))
        # Guest writes by Amber still make the bitmaps stale.
        bt.amber_io(a, ["write 0 512 7", "flush"])
        self.assertEqual(info_bitmaps(a), "")

    def test_errors(self):
        a, q = self.pair("e.qcow2")
        self.both(a, q, "--add", "@", "b1")
        src_a, src_q = self.pair("src.qcow2")
        self.both(src_a, src_q, "--add", "@", "s")
        for args in (["--add", "@", "b1"], ["--add", "-g", "1000", "@", "n"],
                     ["--add", "-g", "256", "@", "n"], ["--add", "-g", "4G", "@", "n"],
                     ["--add", "-g", "abc", "@", "n"], ["--add", "@", ""],
                     ["--add", "@", "x" * 1024], ["--remove", "@", "nope"],
                     ["--clear", "@", "nope"], ["--enable", "@", "nope"],
                     ["--disable", "@", "nope"], ["--merge", "nope", "@", "b1"],
                     ["--merge", "b1", "@", "nope"], ["@", "b1"], ["--add", "@"],
                     ["-g", "4k", "--remove", "@", "b1"], ["-b", "x", "--add", "@", "b"],
                     ["-F", "qcow2", "--add", "@", "b"], ["--disable", "--add", "@", "b9"],
                     ["--bogus", "@", "b"], ["--merge", "b1", "-b", "nofile", "@", "b1"]):
            self.both(a, q, *args)
        # -b: a bitmap of another image (found or not).
        ra = bt.amber_img("bitmap", "--merge", "s", "-b", src_a, "-F", "qcow2", a, "b1")
        rq = bt.qemu_img("bitmap", "--merge", "s", "-b", src_q, "-F", "qcow2", q, "b1")
        self.assertEqual((ra.rc, ra.err), (rq.rc, rq.err.replace("qemu-img", "amber-img")))
        self.assertSame(a, q)
        v2 = self.path("v2.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M", check=True)
        raw = self.path("r.raw")
        bt.qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
        for img in (v2, raw):
            self.both(img, img, "--add", "@", "b")
            self.both(img, img, "--add", "-f", "raw" if img == raw else "qcow2", "@", "b")

    def test_in_use_and_convert(self):
        a, q = self.pair("u.qcow2")
        for p in (a, q):
            for name in ("good", "bad", "off"):
                bt.qemu_img("bitmap", "--add", p, name, check=True)
            bt.qemu_img("bitmap", "--disable", p, "off", check=True)
            bt.qemu_io(p, ["write 1M 64k", "write 7M 128k"])
            set_flags(p, 1, 3)  # "bad": in use (a crashed writer)
        for args in (["--clear", "@", "bad"], ["--enable", "@", "bad"],
                     ["--merge", "bad", "@", "good"], ["--merge", "good", "@", "bad"],
                     ["--add", "@", "bad"]):
            self.both(a, q, *args)
        # convert refuses it, or skips it with --skip-broken-bitmaps.
        for extra in ([], ["--skip-broken-bitmaps"]):
            outs = [self.path(n + "-c.qcow2") for n in "aq"]
            for o in outs:
                if os.path.exists(o):
                    os.unlink(o)
            ra = bt.amber_img("convert", "--bitmaps", *extra, "-O", "qcow2", a, outs[0])
            rq = bt.qemu_img("convert", "--bitmaps", *extra, "-O", "qcow2", q, outs[1])
            bt.assert_no_crash(self, ra)
            self.assertEqual(ra.rc, rq.rc, ra.describe())
            self.assertEqual(ra.err.replace(a, "X").replace("amber-img", "qemu-img"),
                             rq.err.replace(q, "X"))
        self.assertSame(outs[0], outs[1])
        self.assertEqual(sorted(bitmaps(outs[0], SIZE)), ["good", "off"])
        self.assertTrue(bitmaps(outs[0], SIZE)["good"][2])
        # Removing the in-use bitmap works in both.
        self.both(a, q, "--remove", "@", "bad")
        self.assertSame(a, q)

    def test_convert_cluster_sizes(self):
        src = self.image("s.qcow2", cluster="4k")
        bt.qemu_img("bitmap", "--add", "-g", "512", src, "fine", check=True)
        bt.qemu_img("bitmap", "--add", src, "plain", check=True)
        bt.qemu_io(src, ["write 3M 1M", "write 9M 4k"])
        for opts in ("cluster_size=64k", "cluster_size=512"):
            outs = [self.path(n + ".qcow2") for n in "aq"]
            for o in outs:
                if os.path.exists(o):
                    os.unlink(o)
            bt.amber_img("convert", "--bitmaps", "-O", "qcow2", "-o", opts, src, outs[0], check=True)
            bt.qemu_img("convert", "--bitmaps", "-O", "qcow2", "-o", opts, src, outs[1], check=True)
            self.assertSame(outs[0], outs[1])
            self.assertEqual(bitmaps(outs[0], SIZE), bitmaps(src, SIZE))

    def test_hostile_directory(self):
        img = self.image("h.qcow2")
        bt.qemu_img("bitmap", "--add", img, "b", check=True)
        _, entries = directory(img)
        with open(img, "r+b") as f:  # granularity bits 40
            f.seek(entries[0][0] + 17)
            f.write(b"\x28")
        for argv in (["bitmap", "--remove", img, "b"], ["convert", "--bitmaps", "-O", "qcow2",
                                                      img, self.path("o.qcow2")],
                     ["info", img]):
            ra = bt.amber_img(*argv)
            bt.assert_no_crash(self, ra)
            self.assertEqual(ra.rc, 1, ra.describe())
            self.assertIn("Bitmap 'b' doesn't satisfy the constraints", ra.err)
        with open(img, "r+b") as f:  # a table entry with reserved bits
            f.seek(entries[0][0] + 17)
            f.write(b"\x10")
            f.seek(entries[0][4])
            f.write(struct.pack(">Q", 0xff00000000000002))
        ra = bt.amber_img("bitmap", "--clear", img, "b")
        bt.assert_no_crash(self, ra)
        self.assertEqual(ra.rc, 1)
        self.assertIn("Could not read bitmap_table table from image for bitmap 'b'", ra.err)


if __name__ == "__main__":
    bt.main()
