#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img dd against qemu-img 7.2 dd.

Each case runs both tools with the same operands (output names differ) in
the same directory: the exit status and messages must match (program name
and output file name normalised), and where qemu-img made an output the
two outputs must have the same format, virtual size and content (qemu-img
compare, and cmp for raw outputs).

Thread-safety: single-threaded test script.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20


class DdTest(bt.TempDirTest):
    def setUp(self):
        super().setUp()
        self.src = self.path("in.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", self.src, "5M", check=True)
        bt.qemu_io(self.src, ["write -P 0x5a 0 3M", "write -P 0x17 3M 1000k",
                              "write -P 0x33 4700k 11k"])
        self.raw_src = self.path("in.raw")
        bt.qemu_img("convert", "-O", "raw", self.src, self.raw_src, check=True)

    def both(self, *operands):
        """Runs each tool; returns (qemu result, amber result, made output)."""
        q_out, a_out = self.path("q.out"), self.path("a.out")
        for p in (q_out, a_out):
            if os.path.exists(p):
                os.unlink(p)
        args = [a.replace("OUT", "q.out") for a in operands]
        q = bt.run([bt.tool("QEMU_IMG"), "dd"] + args, cwd=self.dir)
        a = bt.run([bt.tool("AMBER_IMG"), "dd"] + [x.replace("q.out", "a.out") for x in args],
                   cwd=self.dir)
        bt.assert_no_crash(self, a)
        what = "dd %s\nqemu-img: %s\namber-img: %s" % (" ".join(operands), q.describe(),
                                                        a.describe())
        self.assertEqual(a.rc, q.rc, what)
        self.assertEqual(a.err.replace("amber-img", "qemu-img").replace("a.out", "q.out"),
                         q.err, what)
        self.assertEqual(a.out, q.out, what)
        self.assertEqual(os.path.exists(a_out), os.path.exists(q_out), what)
        if os.path.exists(q_out):
            qi = json.loads(bt.qemu_img("info", "--output=json", q_out, check=True).out)
            ai = json.loads(bt.qemu_img("info", "--output=json", a_out, check=True).out)
            self.assertEqual(ai["format"], qi["format"], what)
            self.assertEqual(ai["virtual-size"], qi["virtual-size"], what)
            c = bt.qemu_img("compare", "-f", qi["format"], "-F", qi["format"], q_out, a_out)
            self.assertEqual(c.rc, 0, what + "\n" + c.describe())
            if qi["format"] == "raw":
                self.assertEqual(bt.file_bytes(a_out), bt.file_bytes(q_out), what)
            else:
                self.assertQemuCheckClean(a_out)
        return q, a, os.path.exists(q_out)

    def test_copies(self):
        _, _, made = self.both("if=in.qcow2", "of=OUT")
        self.assertTrue(made)
        self.assertEqual(bt.file_bytes(self.path("a.out")), bt.file_bytes(self.raw_src))
        for ops in (["-O", "qcow2", "bs=1M", "count=2", "skip=1"],
                    ["bs=3", "count=20000", "skip=7"],
                    ["if=nonexistent", "if=in.qcow2"],  # the last if wins
                    ["bs=1.5k", "count=3", "skip=1"],
                    ["bs=1M", "bs=64k", "skip=7"],  # the last bs wins
                    ["bs=1k", "count=0"],
                    ["bs=1k", "count=100000"],  # more than the input: its size
                    ["-f", "raw"],  # the qcow2 file copied as raw bytes
                    ["-U", "-f", "qcow2", "-O", "qcow2", "bs=64k", "skip=10", "count=40"],
                    ["bs=4k", "skip=1280"]):  # skip == the input's size
            with self.subTest(ops=ops):
                _, _, made = self.both(*(ops + ["if=in.qcow2", "of=OUT"]))
                self.assertTrue(made, ops)

    def test_sizes(self):
        # count includes the skipped blocks, as qemu-img computes it.
        self.both("-O", "qcow2", "bs=1M", "count=3", "skip=2", "if=in.qcow2", "of=OUT")
        info = json.loads(bt.qemu_img("info", "--output=json", self.path("a.out")).out)
        self.assertEqual(info["virtual-size"], 1 * MIB)
        want = bt.file_bytes(self.raw_src)[2 * MIB:3 * MIB]
        raw = self.path("a.raw")
        bt.qemu_img("convert", "-O", "raw", self.path("a.out"), raw, check=True)
        self.assertEqual(bt.file_bytes(raw), want)

    def test_skip_past_end(self):
        q, a, made = self.both("bs=1k", "skip=100000", "if=in.qcow2", "of=OUT")
        self.assertTrue(made)
        self.assertEqual(a.rc, 0)
        self.assertIn("cannot skip to specified offset", a.err)
        self.assertEqual(os.path.getsize(self.path("a.out")), 0)

    def test_overwrites_output(self):
        with open(self.path("q.out"), "wb") as f:
            f.write(b"x" * (7 * MIB))
        self.both("if=in.qcow2", "of=OUT")
        self.assertEqual(os.path.getsize(self.path("a.out")), 5 * MIB)

    def test_messages(self):
        for ops in (["if=in.qcow2"], ["of=OUT"], [],
                    ["bs=0", "if=in.qcow2", "of=OUT"],
                    ["bs=3G", "if=in.qcow2", "of=OUT"],
                    ["bs=abc", "if=in.qcow2", "of=OUT"],
                    ["count=-1", "if=in.qcow2", "of=OUT"],
                    ["skip=x", "if=in.qcow2", "of=OUT"],
                    ["x=1", "if=in.qcow2", "of=OUT"],
                    ["foo", "if=in.qcow2", "of=OUT"],
                    ["=3", "if=in.qcow2", "of=OUT"],
                    ["if=nonexistent", "of=OUT"],
                    ["if=in.qcow2", "if=nonexistent", "of=OUT"],
                    ["-O", "bogus", "if=in.qcow2", "of=OUT"],
                    ["-f", "bogus", "if=in.qcow2", "of=OUT"],
                    ["-x", "if=in.qcow2", "of=OUT"],
                    ["-f"],
                    ["bs=0", "foo", "if=in.qcow2"]):  # the first bad operand speaks
            with self.subTest(ops=ops):
                q, a, made = self.both(*ops)
                self.assertNotEqual(q.rc, 0, ops)
                self.assertFalse(made, ops)


if __name__ == "__main__":
    bt.main()
