#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img rebase against qemu-img 7.2 rebase as the oracle.

The same chain is rebased by both tools (onto a level of its own chain,
onto an unrelated image, onto a shorter one, onto nothing, and with -u).
Each result must read as the guest content before the rebase (`qemu-img
compare` with a copy of the original chain), pass `qemu-img check`, and
have the same allocation (`qemu-img map`) and header (backing file and
format) as qemu-img's result. Messages and exit codes must be qemu-img's;
an image another process writes is refused and left unchanged.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20


class RebaseTest(bt.TempDirTest):

    def build(self, where):
        """base (4M) <- mid <- top (6M, grown past its backing files)."""
        os.makedirs(where)
        p = lambda n: os.path.join(where, n)  # noqa: E731
        bt.qemu_img("create", "-q", "-f", "qcow2", p("base.qcow2"), "4M", check=True)
        bt.qemu_io(p("base.qcow2"), ["write -P 1 0 4M"])
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                    p("mid.qcow2"), check=True)
        bt.qemu_io(p("mid.qcow2"), ["write -P 2 1M 1M", "write -z 2M 64k", "write -P 5 2500k 3k"])
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2",
                    p("top.qcow2"), "6M", check=True)
        bt.qemu_io(p("top.qcow2"), ["write -P 3 3M 512k", "write -P 4 1536k 1k",
                                    "write -P 6 5M 64k"])
        bt.qemu_img("create", "-q", "-f", "qcow2", p("other.qcow2"), "2M", check=True)
        bt.qemu_io(p("other.qcow2"), ["write -P 1 0 512k", "write -P 9 1M 1M"])
        return p("top.qcow2")

    def setUp(self):
        super().setUp()
        self.orig = self.build(self.path("orig"))

    def fresh(self, name):
        where = self.path(name)
        shutil.copytree(self.path("orig"), where)
        return os.path.join(where, "top.qcow2")

    def map_of(self, img):
        r = bt.qemu_img("map", "--output=json", img, check=True)
        out = json.loads(r.out)
        for e in out:
            e.pop("offset", None)  # host offsets depend on allocation order
        return out

    def backing_of(self, img):
        info = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
        return info.get("backing-filename"), info.get("backing-filename-format")

    def both(self, args, name):
        q = self.fresh("q_" + name)
        a = self.fresh("a_" + name)
        rq = bt.qemu_img("rebase", *(args + [q]))
        ra = bt.amber_img("rebase", *(args + [a]))
        bt.assert_no_crash(self, ra)
        self.assertEqual(ra.rc, rq.rc, "%s\n%s\n%s" % (args, rq.describe(), ra.describe()))
        err = ra.err.replace(os.path.dirname(a), os.path.dirname(q))
        self.assertEqual(err.replace("amber-img", "qemu-img"), rq.err)
        return q, a, ra

    def test_safe_rebases(self):
        cases = [("onto_base", ["-b", "base.qcow2", "-F", "qcow2"]),
                 ("onto_other", ["-b", "other.qcow2", "-F", "qcow2"]),
                 ("onto_nothing", ["-b", ""]),
                 ("onto_mid", ["-b", "mid.qcow2", "-F", "qcow2"]),
                 ("progress", ["-p", "-b", "other.qcow2", "-F", "qcow2"])]
        for name, args in cases:
            with self.subTest(case=name):
                q, a, ra = self.both(args, name)
                self.assertEqual(ra.rc, 0, ra.describe())
                self.assertQemuCheckClean(a)
                c = bt.qemu_img("compare", self.orig, a)
                self.assertEqual(c.rc, 0, "%s: content changed\n%s" % (name, c.describe()))
                self.assertEqual(self.backing_of(a), self.backing_of(q))
                self.assertEqual(self.map_of(a), self.map_of(q), name)
                if "-p" in args:
                    self.assertIn("(100.00/100%)", ra.out)
                    self.assertTrue(ra.out.endswith("\n"), repr(ra.out))
                else:
                    self.assertEqual(ra.out, "")

    def test_unsafe(self):
        for name, args in (("u_other", ["-u", "-b", "other.qcow2", "-F", "qcow2"]),
                           ("u_missing", ["-u", "-b", "missing.qcow2", "-F", "qcow2"]),
                           ("u_none", ["-u", "-b", ""])):
            with self.subTest(case=name):
                q, a, ra = self.both(args, name)
                self.assertEqual(ra.rc, 0, ra.describe())
                self.assertEqual(self.backing_of(a), self.backing_of(q))
                # Only the header changed: the image's own clusters are as before.
                if name != "u_missing":
                    self.assertQemuCheckClean(a)
                    self.assertEqual(self.map_of(a), self.map_of(q))
                else:
                    m = bt.qemu_img("map", a)
                    self.assertEqual(m.rc, 1, m.describe())

    def test_messages(self):
        cases = [[], ["-b", "base.qcow2"], ["-u", "-b", "x"], ["-b", "nonexist.qcow2", "-F", "qcow2"],
                 ["-b", "base.qcow2", "-F", "qcow2", "-t", "bogus"],
                 ["-b", "base.qcow2", "-F", "bogus"], ["-b", "base.qcow2", "-F", "qcow2", "extra"]]
        for i, args in enumerate(cases):
            with self.subTest(args=args):
                q, a, ra = self.both(args, "m%d" % i)
                self.assertNotEqual(ra.rc, 0, ra.describe())
                # A rebase that fails before copying leaves the image as it was.
                if args != ["-b", "base.qcow2"]:
                    self.assertEqual(bt.file_bytes(a), bt.file_bytes(self.orig), args)

    def test_missing_format_fails_after_copy(self):
        # qemu-img 7.2 copies, then refuses to store a backing file name
        # without a format: the content stays right through the old chain.
        q, a, ra = self.both(["-b", "base.qcow2"], "nofmt")
        self.assertEqual(ra.rc, 1)
        self.assertEqual(self.backing_of(a), ("mid.qcow2", "qcow2"))
        self.assertEqual(bt.qemu_img("compare", self.orig, a).rc, 0)
        self.assertEqual(self.map_of(a), self.map_of(q))

    def test_raw_image_is_refused_untouched(self):
        raw = self.path("plain.raw")
        with open(raw, "wb") as f:
            f.write(b"\x77" * MIB)
        before = bt.file_bytes(raw)
        r = bt.amber_img("rebase", "-f", "raw", "-b", os.path.join(self.path("orig"), "base.qcow2"),
                         "-F", "qcow2", raw)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("Operation not supported", r.err)
        self.assertEqual(bt.file_bytes(raw), before)

    def test_in_use_image_is_refused(self):
        a = self.fresh("busy")
        before = bt.file_bytes(a)
        proc = subprocess.Popen([bt.tool("AMBER_IO"), "-f", "qcow2", a], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "opened")
            r = bt.amber_img("rebase", "-b", "", a)
            self.assertEqual(r.rc, 1, r.describe())
            self.assertIn('Failed to get "write" lock', r.err)
        finally:
            proc.stdin.close()
            proc.wait()
        self.assertEqual(bt.file_bytes(a), before)

    def test_deep_chain_onto_its_base(self):
        """A 12-level chain rebased straight onto its base: only what the
        levels above hold is copied."""
        where = self.path("deep")
        os.makedirs(where)
        bt.qemu_img("create", "-q", "-f", "qcow2", os.path.join(where, "l0.qcow2"), "8M",
                    check=True)
        bt.qemu_io(os.path.join(where, "l0.qcow2"), ["write -P 1 0 8M"])
        for i in range(1, 12):
            bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "l%d.qcow2" % (i - 1), "-F", "qcow2",
                        os.path.join(where, "l%d.qcow2" % i), check=True)
            bt.qemu_io(os.path.join(where, "l%d.qcow2" % i),
                       ["write -P %d %dk 100k" % (i + 1, 600 * i)])
        top = os.path.join(where, "l11.qcow2")
        flat = self.path("flat.raw")
        bt.qemu_img("convert", "-O", "raw", top, flat, check=True)
        r = bt.amber_img("rebase", "-b", "l0.qcow2", "-F", "qcow2", top)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertQemuCheckClean(top)
        self.assertEqual(bt.qemu_img("compare", "-F", "qcow2", flat, top).rc, 0)
        self.assertEqual(self.backing_of(top), ("l0.qcow2", "qcow2"))
        # The top now holds the ten middle levels' data and nothing else.
        st = json.loads(bt.qemu_img("map", "--output=json", top, check=True).out)
        own = sum(e["length"] for e in st if e["depth"] == 0 and e["data"])
        self.assertGreaterEqual(own, 11 * 100 * 1024)
        self.assertLess(own, 12 * 192 * 1024)


if __name__ == "__main__":
    bt.main()
