#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 external data files (data_file=, data_file_raw=) against qemu-img 7.2.

Both ways, with real qemu-img / qemu-io as the oracle: an image qemu-img made
is read and written by Amber (amber-io) and read back by qemu-io with
pattern checks, its data found in the data file at the guest offset and the
qcow2 file still passing `qemu-img check`; an image `amber-img create` made
is byte for byte qemu-img's (header and data file), is written by qemu-io
and then read by amber-img convert. amber-img info / map print what
qemu-img prints, create's "Formatting" line and error messages are
qemu-img's, and compressed writes are refused. Data file names are relative
to the working directory, as in QEMU 7.2, so every command runs in the
test's directory.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 4 * MIB


class DataFileTest(bt.TempDirTest):

    def qimg(self, *args):
        return bt.qemu_img(*args, cwd=self.dir)

    def aimg(self, *args):
        return bt.amber_img(*args, cwd=self.dir)

    def qio(self, img, commands):
        return bt.qemu_io(img, commands, cwd=self.dir)

    def assertQemuCheckClean(self, path, fmt="qcow2", allow_leaks=False):
        # In the test's directory: the data file name is relative to it.
        r = self.qimg("check", "--output=json", "-f", fmt, path)
        self.assertEqual(r.rc, 0, r.describe())
        report = json.loads(r.out)
        for key in ("corruptions", "leaks", "check-errors"):
            self.assertEqual(report.get(key, 0), 0, key + "\n" + r.describe())

    def data_bytes(self, name, offset, length):
        with open(self.path(name), "rb") as f:
            f.seek(offset)
            return f.read(length)

    def test_qemu_image_amber_writes_qemu_reads(self):
        self.qimg("create", "-q", "-f", "qcow2", "-o", "data_file=d.raw", "q.qcow2", str(SIZE))
        self.qio("q.qcow2", ["write -P 0x11 0 64k", "write -P 0x22 1M 4k", "write -P 0x66 3M 64k"])
        script = [
            "read 0 65536 17",          # qemu's data, through the data file
            "read 1048576 4096 34",
            "read 1052672 61440 0",     # rest of a cluster qemu wrote partly
            "write 0 512 51",           # in place
            "write 2097152 131072 68",  # new clusters, host == guest offset
            "write 3145728 1000 85",    # byte-granular into qemu's cluster
            "write 200704 4096 119",    # partial new cluster at 196k
            "discard 1048576 65536",
            "zero 3211264 65536",
        ]
        bt.amber_io(self.path("q.qcow2"), script, fmt="qcow2", cwd=self.dir)
        self.qio("q.qcow2", [
            "read -P 0x33 0 512", "read -P 0x11 512 65024", "read -P 0x44 2M 128k",
            "read -P 0x55 3M 1000", "read -P 0x66 3146728 64536", "read -P 0 1M 64k",
            "read -P 0x77 196k 4k", "read -P 0 192k 4k", "read -P 0 200k 60k",
            "read -P 0 3136k 64k",
        ])
        # The data sits in the data file at the guest offset.
        self.assertEqual(self.data_bytes("d.raw", 2 * MIB, 4096), b"\x44" * 4096)
        self.assertEqual(self.data_bytes("d.raw", 196 * 1024, 4096), b"\x77" * 4096)
        self.assertQemuCheckClean(self.path("q.qcow2"))
        # A data cluster is not refcounted in the qcow2 file: it did not grow
        # by the written data (header, refcounts, L1, one L2 table).
        self.assertLessEqual(os.path.getsize(self.path("q.qcow2")), 5 * 65536)
        for args in (["map", "--output=json"], ["map"], ["info"], ["info", "--output=json"]):
            a, q = self.aimg(*args, "q.qcow2"), self.qimg(*args, "q.qcow2")
            self.assertEqual((a.rc, a.out), (q.rc, q.out), "%s\n%s\n%s" % (args, a.describe(),
                                                                         q.describe()))
        r = self.aimg("check", "q.qcow2")
        self.assertEqual(r.rc, 0, r.describe())

    def test_amber_create_matches_qemu(self):
        for opts in ("data_file=d.raw", "data_file=d.raw,data_file_raw=on",
                     "compat=1.1,data_file=d.raw,data_file_raw=off,lazy_refcounts=on"):
            a = self.aimg("create", "-f", "qcow2", "-o", opts, "a.qcow2", str(SIZE))
            q = self.qimg("create", "-f", "qcow2", "-o", opts.replace("d.raw", "e.raw"),
                          "q.qcow2", str(SIZE))
            self.assertEqual(a.rc, 0, a.describe())
            self.assertEqual(a.out.replace("a.qcow2", "X").replace("d.raw", "D"),
                             q.out.replace("q.qcow2", "X").replace("e.raw", "D"), opts)
            self.assertEqual(os.path.getsize(self.path("d.raw")), SIZE, opts)
            with open(self.path("a.qcow2"), "rb") as f:
                ab = f.read()
            with open(self.path("q.qcow2"), "rb") as f:
                qb = f.read().replace(b"e.raw", b"d.raw")
            self.assertEqual(ab, qb, "qcow2 file differs from qemu-img's for " + opts)
            self.assertQemuCheckClean(self.path("a.qcow2"))

    def test_amber_image_qemu_writes(self):
        # An existing data file is emptied and sized, as qemu-img does.
        with open(self.path("d.raw"), "wb") as f:
            f.write(b"\x99" * (8 * MIB))
        self.aimg("create", "-q", "-f", "qcow2", "-o", "data_file=d.raw", "a.qcow2", str(SIZE))
        self.assertEqual(os.path.getsize(self.path("d.raw")), SIZE)
        self.assertEqual(self.data_bytes("d.raw", 0, 4096), bytes(4096))
        self.qio("a.qcow2", ["write -P 0x5a 0 64k", "write -P 0x21 1M 4k", "write -z 2M 64k",
                             "write -P 0x22 3M 128k", "discard 3M 64k"])
        self.assertQemuCheckClean(self.path("a.qcow2"))
        r = self.aimg("check", "a.qcow2")
        self.assertEqual(r.rc, 0, r.describe())
        # amber-img reads it the way qemu-img does.
        self.aimg("convert", "-O", "raw", "a.qcow2", "a.img")
        self.qimg("convert", "-O", "raw", "a.qcow2", "q.img")
        self.assertSameContent(self.path("q.img"), self.path("a.img"), "convert of the image")
        # And copies it into a new data-file image qemu reads the same.
        r = self.aimg("convert", "-O", "qcow2", "-o", "data_file=c.raw", "a.qcow2", "c.qcow2")
        self.assertEqual(r.rc, 0, r.describe())
        r = self.qimg("compare", "a.qcow2", "c.qcow2")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertQemuCheckClean(self.path("c.qcow2"))
        # data_file_raw: the data file alone is the guest's disk.
        self.aimg("create", "-q", "-f", "qcow2", "-o", "data_file=r.raw,data_file_raw=on",
                  "r.qcow2", str(SIZE))
        bt.amber_io(self.path("r.qcow2"), ["write 1048576 65536 66", "write 0 4096 7"],
                    fmt="qcow2", cwd=self.dir)
        self.qio("r.qcow2", ["read -P 0x42 1M 64k", "read -P 7 0 4k", "read -P 0 4k 60k"])
        r = self.qimg("compare", "-f", "qcow2", "-F", "raw", "r.qcow2", "r.raw")
        self.assertEqual(r.rc, 0, r.describe())
        info = json.loads(self.aimg("info", "--output=json", "r.qcow2").out)
        self.assertEqual(info["format-specific"]["data"]["data-file-raw"], True)

    def test_errors_match_qemu(self):
        self.qimg("create", "-q", "-f", "qcow2", "b.qcow2", "1M")
        cases = [
            ["create", "-f", "qcow2", "-o", "data_file_raw=on", "x.qcow2", "1M"],
            ["create", "-f", "qcow2", "-o", "compat=0.10,data_file=d.raw", "v2.qcow2", "1M"],
            ["create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "-o",
             "data_file=d2.raw,data_file_raw=on", "o.qcow2"],
            ["create", "-f", "raw", "-o", "data_file=d.raw", "r.img", "1M"],
        ]
        for argv in cases:
            a, q = self.aimg(*argv), self.qimg(*argv)
            self.assertEqual(a.rc, q.rc, a.describe())
            self.assertEqual(a.err.replace("amber-img", "qemu-img"), q.err, argv)
            self.assertEqual(a.out, q.out, argv)
        # A missing data file, and the feature bit without a name.
        self.qimg("create", "-q", "-f", "qcow2", "-o", "data_file=gone.raw", "m.qcow2", "1M")
        os.unlink(self.path("gone.raw"))
        a, q = self.aimg("map", "m.qcow2"), self.qimg("map", "m.qcow2")
        self.assertEqual((a.rc, a.err.replace("amber-img", "qemu-img")), (q.rc, q.err))
        a, q = self.aimg("info", "m.qcow2"), self.qimg("info", "m.qcow2")  # needs no data file
        self.assertEqual((a.rc, a.out), (q.rc, q.out), a.describe())
        with open(self.path("b.qcow2"), "r+b") as f:
            f.seek(72)
            bits = int.from_bytes(f.read(8), "big")
            f.seek(72)
            f.write((bits | 4).to_bytes(8, "big"))
        a = self.aimg("map", "b.qcow2")
        self.assertEqual(a.rc, 1, a.describe())
        self.assertIn("'data-file' is required for this image", a.err)
        # Compressed writes are refused, as qemu-img refuses them.
        self.qimg("create", "-q", "-f", "qcow2", "-o", "data_file=s.raw", "s.qcow2", "1M")
        self.qio("s.qcow2", ["write -P 3 0 64k"])
        r = self.aimg("convert", "-c", "-O", "qcow2", "-o", "data_file=cc.raw", "s.qcow2",
                      "cc.qcow2")
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("Operation not supported", r.err)
        # Snapshots of data-file images are refused (QEMU cannot either).
        r = self.aimg("snapshot", "-c", "s1", "s.qcow2")
        self.assertEqual(r.rc, 1, r.describe())


if __name__ == "__main__":
    bt.main()
