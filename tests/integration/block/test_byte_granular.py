#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Byte-granular requests: reads and writes at any byte offset and length.

qemu's block layer takes them (read-modify-write of the partial sectors),
so `qemu-img bench -S 40009 -o 1000` works; so must amber-img's. Checked
two ways, with real qemu-img as the oracle:
- the same unaligned bench run by both tools on identical images leaves
  identical images (qemu-img compare), which qemu-img check finds clean;
- unaligned writes, zeroes and reads through the engine give exactly the
  bytes a Python model of the disk predicts, neighbours included (read back
  through qemu-img convert to raw), over a backing file, with extended L2
  subclusters, and on raw; the same with cache=none (O_DIRECT).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 64 * MIB

# (name, qemu-img create options, with a backing file)
LAYOUTS = [
    ("qcow2", "-o cluster_size=65536", False),
    ("qcow2-backing", "-o cluster_size=65536", True),
    ("qcow2-extl2-backing", "-o cluster_size=65536,extended_l2=on", True),
    ("raw", "", False),
]

# Requests that start and end inside sectors, cross a sector, a 4 KiB
# block, a 64 KiB cluster and a 2 KiB subcluster boundary, fit inside one
# sector, and are longer than the 1 MiB bounce buffer.
OPS = [
    ("write", 1000, 3000, 0x11),
    ("write", 65000, 1000, 0x22),
    ("write", 131071, 1, 0x33),
    ("write", 200000, 100, 0x44),
    ("write", 2047, 3, 0x55),
    ("write", 3 * MIB + 7, 2 * MIB + 13, 0x66),
    ("zero", 1500, 700, None),
    ("zero", 3 * MIB + 100, 70000, None),
    ("zero", 199990, 5, None),
]


class ByteGranular(bt.TempDirTest):
    def make(self, name, layout, fmt_opts, backing):
        fmt = "raw" if layout == "raw" else "qcow2"
        path = self.path(name)
        args = ["create", "-f", fmt] + fmt_opts.split()
        if backing:
            base = self.path(name + ".base")
            bt.qemu_img("create", "-f", "qcow2", base, str(SIZE), check=True)
            # Backing data under every op, so a read-modify-write that
            # read the wrong layer shows.
            bt.qemu_io(base, ["write -P 0x77 0 8M"])
            args += ["-b", base, "-F", "qcow2"]
        bt.qemu_img(*(args + [path, str(SIZE)]), check=True)
        return path, fmt

    def model(self, backing):
        data = bytearray(SIZE)
        if backing:
            data[0:8 * MIB] = b"\x77" * (8 * MIB)
        for op, off, length, byte in OPS:
            data[off:off + length] = bytes([byte if op == "write" else 0]) * length
        return data

    def script(self):
        lines = []
        for op, off, length, byte in OPS:
            lines.append("write %d %d %d" % (off, length, byte) if op == "write"
                         else "zero %d %d" % (off, length))
            if op == "write":
                lines.append("read %d %d %d" % (off, length, byte))
        lines.append("flush")
        return lines

    def check_content(self, path, fmt, expected):
        raw = self.path("flat.raw")
        bt.qemu_img("convert", "-f", fmt, "-O", "raw", path, raw, check=True)
        actual = bt.file_bytes(raw)
        self.assertEqual(len(actual), len(expected))
        if actual != bytes(expected):
            self.fail("content differs from the model at byte %s" %
                      bt.first_difference(bytes(expected), actual))

    def test_unaligned_writes_match_the_model(self):
        for layout, opts, backing in LAYOUTS:
            for cache in ("writeback", "none"):
                with self.subTest(layout=layout, cache=cache):
                    path, fmt = self.make("m-%s-%s" % (layout, cache), layout, opts, backing)
                    bt.amber_io(path, self.script(), fmt=fmt, extra=["-t", cache])
                    if fmt == "qcow2":
                        self.assertQemuCheckClean(path)
                    self.check_content(path, fmt, self.model(backing))

    def test_unaligned_bench_matches_qemu_img_bench(self):
        bench = ["-w", "-c", "1000", "-d", "8", "-s", "4096", "-S", "40009", "-o", "1000",
                 "--pattern=0x5a"]
        for layout, opts, backing in LAYOUTS:
            with self.subTest(layout=layout):
                ours, fmt = self.make("b-amber-%s" % layout, layout, opts, backing)
                theirs, _ = self.make("b-qemu-%s" % layout, layout, opts, backing)
                r = bt.amber_img("bench", "-f", fmt, *bench, ours)
                self.assertEqual(r.rc, 0, r.describe())
                self.assertIn("Run completed", r.out, r.describe())
                bt.qemu_img("bench", "-f", fmt, *bench, theirs, check=True)
                # The requests really landed (at 1000 + k * 40009).
                bt.qemu_io(ours, ["read -P 0x5a 1000 4096", "read -P 0x5a %d 4096" % (1000 + 999 * 40009)],
                           fmt=fmt)
                r = bt.qemu_img("compare", "-f", fmt, "-F", fmt, ours, theirs)
                self.assertEqual(r.rc, 0, "amber-img bench and qemu-img bench left different "
                                 "images\n" + r.describe())
                if fmt == "qcow2":
                    self.assertQemuCheckClean(ours)
                # Reads at the same offsets succeed.
                r = bt.amber_img("bench", "-f", fmt, "-c", "1000", "-d", "8", "-s", "4096",
                                 "-S", "40009", "-o", "1000", ours)
                self.assertEqual(r.rc, 0, r.describe())

    def test_past_the_end_is_still_refused(self):
        path, fmt = self.make("end", "qcow2", "", False)
        r = bt.amber_io(path, ["write %d 2 1" % (SIZE - 1)], fmt=fmt, check=False)
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertIn("beyond the end", r.err)
        r = bt.amber_io(path, ["write %d 1 1" % (SIZE - 1), "read %d 1 1" % (SIZE - 1)], fmt=fmt)
        bt.qemu_io(path, ["read -P 1 %d 1" % (SIZE - 1), "read -P 0 %d 511" % (SIZE - 512)])


if __name__ == "__main__":
    bt.main()
