#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Interoperability of Amber's qcow2 engine and amber-img with qemu-img 7.2.

QEMU -> Amber: images that qemu-img creates with each create option and
qemu-io fills (plain, compressed, with backing files, with a snapshot) read
back through the engine (amber-cat) identical to `qemu-img convert -O raw`,
and amber-img info/map print what qemu-img prints for the same file.

Amber -> QEMU: images that `amber-img create` makes with each option and the
engine writes (amber-io) pass `qemu-img check` with no errors and no leaks,
`qemu-img compare` equal to the expected content, and info/map agree.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 8 * MIB

# qemu-io commands that exercise partial clusters, zero writes, discards and
# the last cluster of an 8 MiB disk.
QEMU_WRITES = [
    "write -P 0xab 0 64k",
    "write -P 0xcd 1M 192k",
    "write -P 0x11 200k 12k",
    "write -z 1056k 16k",
    "discard 1152k 8k",
    "write -P 0x5a 8128k 64k",
]

# name -> (create -o options, size); every one also gets QEMU_WRITES.
QEMU_CREATE_CASES = {
    "cluster_512": ("cluster_size=512", SIZE),
    "cluster_4k": ("cluster_size=4096", SIZE),
    "cluster_64k": ("cluster_size=65536", SIZE),
    "cluster_2M": ("cluster_size=2M", 16 * MIB),
    "compat_0.10": ("compat=0.10", SIZE),
    "compat_1.1": ("compat=1.1", SIZE),
    "extended_l2": ("extended_l2=on", SIZE),
    "extended_l2_16k": ("extended_l2=on,cluster_size=16k", SIZE),
    "extended_l2_2M": ("extended_l2=on,cluster_size=2M", 16 * MIB),
    "lazy_refcounts": ("lazy_refcounts=on", SIZE),
    "prealloc_off": ("preallocation=off", SIZE),
    "prealloc_metadata": ("preallocation=metadata", SIZE),
    "prealloc_falloc": ("preallocation=falloc", SIZE),
    "prealloc_full": ("preallocation=full", SIZE),
    "refcount_1": ("refcount_bits=1", SIZE),
    "refcount_2": ("refcount_bits=2", SIZE),
    "refcount_4": ("refcount_bits=4", SIZE),
    "refcount_8": ("refcount_bits=8", SIZE),
    "refcount_16": ("refcount_bits=16", SIZE),
    "refcount_32": ("refcount_bits=32", SIZE),
    "refcount_64": ("refcount_bits=64", SIZE),
    "compression_zstd": ("compression_type=zstd", SIZE),
}

# Options for `amber-img create` (same spelling as qemu-img).
AMBER_CREATE_CASES = dict(QEMU_CREATE_CASES)
AMBER_CREATE_CASES.update({
    "default": ("", SIZE),
    "compat_0.10_refcount_16": ("compat=0.10,cluster_size=4096", SIZE),
})

AMBER_SCRIPT = [
    "write 0 65536 0xab",
    "writep 1048576 196608 7",
    "write 204800 12288 0x11",
    "zero 1081344 16384",
    "flush",
    "writep 3145728 1048576 9",
    "discard 2097152 2097152",
    "zero 3670016 65536 unmap",
    "write 8323072 65536 0x5a",
    "writep 512 1024 3",
    "flush",
]


def compressible(size):
    """Text-like bytes that deflate and zstd shrink a lot."""
    line = b"Amber qcow2 compressed cluster test line %08d with some words in it\n"
    out = bytearray()
    n = 0
    while len(out) < size:
        out += line % n
        n += 1
    return bytes(out[:size])


def strip_volatile(info):
    """info JSON minus what legitimately differs between two tools."""
    if isinstance(info, list):
        return [strip_volatile(i) for i in info]
    info = dict(info)
    info.pop("actual-size", None)
    return info


class InteropBase(bt.TempDirTest):
    maxDiff = 4000

    def compare_info_and_map(self, path, extra_info=()):
        q = bt.qemu_img("info", "--output=json", *extra_info, path, check=True)
        a = bt.amber_img("info", "--output=json", *extra_info, path)
        self.assertEqual(a.rc, 0, a.describe())
        try:
            a_json = json.loads(a.out)
        except ValueError:
            self.fail("amber-img info printed no JSON\n" + a.describe())
        self.assertEqual(strip_volatile(a_json), strip_volatile(json.loads(q.out)),
                         "info --output=json differs for %s" % path)
        if not extra_info:
            self.assertIn("actual-size", a_json, "amber-img info lacks actual-size")
        q = bt.qemu_img("map", "--output=json", path, check=True)
        a = bt.amber_img("map", "--output=json", path)
        self.assertEqual(a.rc, 0, a.describe())
        try:
            a_map = json.loads(a.out)
        except ValueError:
            self.fail("amber-img map printed no JSON\n" + a.describe())
        q_map = json.loads(q.out)
        if a_map != q_map:
            i = next((k for k, (x, y) in enumerate(zip(a_map, q_map)) if x != y),
                     min(len(a_map), len(q_map)))
            self.fail("map --output=json differs for %s (%d vs %d extents); first difference at "
                      "extent %d:\n  amber-img: %s\n  qemu-img:  %s"
                      % (path, len(a_map), len(q_map), i, a_map[i:i + 2], q_map[i:i + 2]))

    def read_back(self, path, expected_raw, fmt=None):
        actual = path + ".amber.raw"
        r = bt.amber_cat(path, actual, fmt=fmt, check=False)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertSameContent(expected_raw, actual, "guest content of %s read by Amber" % path)


class QemuToAmber(InteropBase):
    """Images made by qemu-img/qemu-io, read by Amber."""

    def make_cases(self):
        """name -> (image path, expected raw path)."""
        cases = {}
        for name, (opts, size) in QEMU_CREATE_CASES.items():
            img = self.path(name + ".qcow2")
            bt.qemu_img("create", "-q", "-f", "qcow2", "-o", opts, img, str(size), check=True)
            bt.qemu_io(img, QEMU_WRITES)
            cases[name] = img
        # Compressed clusters from convert -c, both compression types, then
        # an overwrite of part of a compressed cluster.
        src = self.path("text.raw")
        with open(src, "wb") as f:
            f.write(compressible(4 * MIB))
        for ctype in ("zlib", "zstd"):
            img = self.path("compressed_%s.qcow2" % ctype)
            bt.qemu_img("convert", "-c", "-O", "qcow2", "-o", "compression_type=" + ctype, src, img,
                        check=True)
            bt.qemu_io(img, ["write -P 0x77 70k 4k"])
            cases["compressed_" + ctype] = img
        # Backing files: qcow2 and raw, with data in both levels.
        base_q = self.path("base.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", base_q, str(SIZE), check=True)
        bt.qemu_io(base_q, ["write -P 0x21 0 4M", "write -P 0x22 6M 1M"])
        base_r = self.path("base.raw")
        bt.qemu_img("create", "-q", "-f", "raw", base_r, str(SIZE), check=True)
        bt.qemu_io(base_r, ["write -P 0x31 0 4M"], fmt="raw")
        for name, base, bfmt, opts in (("backing_qcow2", base_q, "qcow2", ""),
                                       ("backing_raw", base_r, "raw", ""),
                                       ("backing_qcow2_extl2", base_q, "qcow2", "extended_l2=on"),
                                       ("backing_qcow2_v2", base_q, "qcow2", "compat=0.10")):
            img = self.path(name + ".qcow2")
            args = ["create", "-q", "-f", "qcow2", "-b", os.path.basename(base), "-F", bfmt]
            if opts:
                args += ["-o", opts]
            bt.qemu_img(*(args + [img]), check=True)
            bt.qemu_io(img, QEMU_WRITES)
            cases[name] = img
        # Internal snapshot, then more writes to the active layer.
        img = self.path("snapshot.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, str(SIZE), check=True)
        bt.qemu_io(img, ["write -P 0x41 0 2M"])
        bt.qemu_img("snapshot", "-c", "snap1", img, check=True)
        bt.qemu_io(img, QEMU_WRITES)
        cases["snapshot"] = img
        # Lazy refcounts left dirty: qemu-io aborts after writing.
        img = self.path("lazy_dirty.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", img, str(SIZE),
                    check=True)
        bt.run([bt.tool("QEMU_IO"), "-f", "qcow2", "-c", "write -P 0x61 0 1M", "-c", "abort", img])
        info = json.loads(bt.qemu_img("info", "--output=json", "-U", img, check=True).out)
        self.assertTrue(info.get("dirty-flag"), "qemu-io abort did not leave a dirty image")
        cases["lazy_dirty"] = img
        return cases

    def test_read_back_identical(self):
        for name, img in self.make_cases().items():
            with self.subTest(image=name):
                expected = img + ".qemu.raw"
                bt.qemu_img("convert", "-U", "-O", "raw", img, expected, check=True)
                self.read_back(img, expected)

    def test_snapshot_content_unchanged_by_open(self):
        cases = self.make_cases()
        img = cases["snapshot"]
        before = self.path("snap1.before.raw")
        bt.qemu_img("convert", "-l", "snap1", "-O", "raw", img, before, check=True)
        self.read_back(img, _convert(img, self.path("active.raw")))
        after = self.path("snap1.after.raw")
        bt.qemu_img("convert", "-l", "snap1", "-O", "raw", img, after, check=True)
        self.assertSameContent(before, after, "snapshot content after Amber opened the image")

    def test_info_and_map_agree(self):
        for name, img in self.make_cases().items():
            with self.subTest(image=name):
                self.compare_info_and_map(img)
        with self.subTest(image="backing-chain"):
            self.compare_info_and_map(self.path("backing_qcow2.qcow2"), ("--backing-chain",))

    def test_check_agrees(self):
        """amber-img check --output=json reports what qemu-img check reports."""
        for name, img in self.make_cases().items():
            with self.subTest(image=name):
                q = bt.qemu_img("check", "--output=json", img)
                a = bt.amber_img("check", "--output=json", img)
                self.assertEqual(a.rc, q.rc, "exit codes differ\n%s\n%s" % (a.describe(), q.describe()))
                try:
                    a_json = json.loads(a.out)
                except ValueError:
                    self.fail("amber-img check printed no JSON\n" + a.describe())
                self.assertEqual(a_json, json.loads(q.out), "check --output=json differs for " + name)

    def test_info_dirty_image(self):
        img = self.make_cases()["lazy_dirty"]
        a = bt.amber_img("info", "--output=json", "-U", img)
        self.assertEqual(a.rc, 0, a.describe())
        self.assertTrue(json.loads(a.out).get("dirty-flag"), a.describe())


def _convert(img, out):
    bt.qemu_img("convert", "-O", "raw", img, out, check=True)
    return out


class AmberToQemu(InteropBase):
    """Images made by amber-img create and written by the Amber engine."""

    def make_base(self):
        base = self.path("base.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", base, str(SIZE), check=True)
        bt.qemu_io(base, ["write -P 0x21 0 4M", "write -P 0x22 6M 1M"])
        raw = self.path("base.expected.raw")
        _convert(base, raw)
        return base, raw

    def create_and_write(self, name, opts, size, backing=None, script=AMBER_SCRIPT):
        img = self.path(name + ".qcow2")
        args = ["create", "-f", "qcow2"]
        if opts:
            args += ["-o", opts]
        initial = None
        if backing:
            base, base_fmt, base_raw = backing
            args += ["-b", os.path.basename(base), "-F", base_fmt]
            initial = bt.file_bytes(base_raw)
        r = bt.amber_img(*(args + [img, str(size)]))
        self.assertEqual(r.rc, 0, r.describe())
        model = bt.Model(size, initial)
        lines = [l for l in script
                 if len(l.split()) < 3 or int(l.split()[1], 0) + int(l.split()[2], 0) <= size]
        for line in lines:
            model.apply(line)
        w = bt.amber_io(img, lines, fmt="qcow2", check=False)
        self.assertEqual(w.rc, 0, w.describe())
        expected = self.path(name + ".expected.raw")
        model.save(expected)
        return img, expected

    def verify(self, img, expected):
        self.assertQemuCheckClean(img)
        c = bt.qemu_img("compare", "-f", "raw", "-F", "qcow2", expected, img)
        self.assertEqual(c.rc, 0, "qemu-img compare\n" + c.describe())
        self.compare_info_and_map(img)

    def test_create_options(self):
        for name, (opts, size) in AMBER_CREATE_CASES.items():
            with self.subTest(case=name):
                img, expected = self.create_and_write(name, opts, size)
                # The create options must be what qemu-img sees.
                info = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
                for opt in filter(None, opts.split(",")):
                    key, value = opt.split("=")
                    self.assert_option(info, key, value)
                self.verify(img, expected)

    def assert_option(self, info, key, value):
        data = info["format-specific"]["data"]
        sizes = {"512": 512, "4096": 4096, "65536": 65536, "2M": 2 * MIB, "16k": 16384}
        if key == "cluster_size":
            self.assertEqual(info["cluster-size"], sizes[value])
        elif key == "compat":
            self.assertEqual(data["compat"], value)
        elif key == "extended_l2":
            self.assertEqual(data["extended-l2"], value == "on")
        elif key == "lazy_refcounts":
            self.assertEqual(data["lazy-refcounts"], value == "on")
        elif key == "refcount_bits":
            self.assertEqual(data["refcount-bits"], int(value))
        elif key == "compression_type":
            self.assertEqual(data["compression-type"], value)

    def test_write_into_compressed_clusters(self):
        src = self.path("text.raw")
        with open(src, "wb") as f:
            f.write(compressible(4 * MIB))
        for ctype in ("zlib", "zstd"):
            with self.subTest(compression=ctype):
                img = self.path("c_%s.qcow2" % ctype)
                bt.qemu_img("convert", "-c", "-O", "qcow2", "-o", "compression_type=" + ctype,
                            src, img, check=True)
                script = ["write 70656 4096 0x77", "writep 1048576 65536 5",
                          "zero 2097152 131072", "discard 3145728 65536"]
                # A partial write into each cluster of the last MiB: QEMU
                # packs compressed data at any byte offset, so about half
                # of these clusters' descriptors have bit 0 set, which is
                # not the zero flag in a compressed entry.
                script += ["write %d 512 0x%02x" % (3 * MIB + 65536 + c * 65536 + (c % 7) * 4096,
                                                    0x30 + c) for c in range(15)]
                script.append("flush")
                model = bt.Model(4 * MIB, bt.file_bytes(src))
                for line in script:
                    model.apply(line)
                w = bt.amber_io(img, script, fmt="qcow2", check=False)
                self.assertEqual(w.rc, 0, w.describe())
                expected = self.path("c_%s.expected.raw" % ctype)
                model.save(expected)
                self.verify(img, expected)

    def test_write_dirty_lazy_image(self):
        """A lazy-refcounts image left dirty by a crashed QEMU: Amber's
        read-write open repairs the refcounts before writing."""
        img = self.path("dirty.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", img, str(SIZE),
                    check=True)
        bt.run([bt.tool("QEMU_IO"), "-f", "qcow2", "-c", "write -P 0x61 0 1M", "-c", "abort", img])
        r, report = bt.qemu_check_json(img)
        self.assertGreater(report.get("corruptions", 0), 0, "image not dirty as planned\n" + r.describe())
        script = ["write 2097152 65536 0x62", "flush"]
        w = bt.amber_io(img, script, fmt="qcow2", check=False)
        self.assertEqual(w.rc, 0, w.describe())
        model = bt.Model(SIZE)
        for line in ["write 0 1048576 0x61"] + script:
            model.apply(line)
        expected = self.path("dirty.expected.raw")
        model.save(expected)
        self.assertQemuCheckClean(img)
        info = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
        self.assertFalse(info["dirty-flag"], "dirty bit still set after Amber closed the image")
        c = bt.qemu_img("compare", "-f", "raw", "-F", "qcow2", expected, img)
        self.assertEqual(c.rc, 0, c.describe())

    def test_resize(self):
        img, expected = self.create_and_write("resize", "", SIZE)
        r = bt.amber_img("resize", img, "16M")
        self.assertEqual(r.rc, 0, r.describe())
        info = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
        self.assertEqual(info["virtual-size"], 16 * MIB)
        self.assertQemuCheckClean(img)
        c = bt.qemu_img("compare", "-f", "raw", "-F", "qcow2", expected, img)
        self.assertEqual(c.rc, 0, "grown image must read as before plus zeros\n" + c.describe())
        r = bt.amber_img("resize", img, "4M")
        self.assertNotEqual(r.rc, 0, "shrinking without --shrink must fail\n" + r.describe())
        self.assertIn("--shrink", r.err + r.out, r.describe())
        r = bt.amber_img("resize", "--shrink", img, "4M")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertQemuCheckClean(img)
        small = self.path("resize.small.raw")
        with open(small, "wb") as f:
            f.write(bt.file_bytes(expected)[:4 * MIB])
        c = bt.qemu_img("compare", "-f", "raw", "-F", "qcow2", small, img)
        self.assertEqual(c.rc, 0, "shrunk image lost its head\n" + c.describe())
        self.compare_info_and_map(img)

    def test_preallocation_allocates(self):
        for mode in ("metadata", "falloc", "full"):
            with self.subTest(preallocation=mode):
                img = self.path("pre_%s.qcow2" % mode)
                r = bt.amber_img("create", "-f", "qcow2", "-o", "preallocation=" + mode, img, "16M")
                self.assertEqual(r.rc, 0, r.describe())
                m = json.loads(bt.qemu_img("map", "--output=json", img, check=True).out)
                self.assertTrue(all(e["present"] for e in m), "not all preallocated: %s" % m)
                if mode != "metadata":
                    self.assertGreaterEqual(os.stat(img).st_blocks * 512, 16 * MIB)
                self.assertQemuCheckClean(img)

    def test_backing_files(self):
        base, base_raw = self.make_base()
        raw_base = self.path("base.raw")
        bt.qemu_img("convert", "-O", "raw", base, raw_base, check=True)
        script = [l for l in AMBER_SCRIPT]
        for name, backing, opts in (("overlay_qcow2", (base, "qcow2", base_raw), ""),
                                    ("overlay_raw", (raw_base, "raw", base_raw), ""),
                                    ("overlay_extl2", (base, "qcow2", base_raw), "extended_l2=on")):
            with self.subTest(case=name):
                img, expected = self.create_and_write(name, opts, SIZE, backing, script)
                self.verify(img, expected)
                self.compare_info_and_map(img, ("--backing-chain",))
        with self.subTest(case="overlay_v2_no_discard"):
            v2_script = [l for l in AMBER_SCRIPT if not l.startswith("discard")]
            img, expected = self.create_and_write("overlay_v2", "compat=0.10", SIZE,
                                                  (base, "qcow2", base_raw), v2_script)
            self.verify(img, expected)


if __name__ == "__main__":
    bt.main()
