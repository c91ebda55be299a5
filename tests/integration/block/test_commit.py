#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img commit against qemu-img 7.2 commit as the oracle.

The same chain is committed by both tools (into the backing file, with -d,
and with -b into a deeper base); every resulting image must pass
`qemu-img check`, compare equal to qemu-img's result level by level, and
the top must still read as the guest content before the commit.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20


class CommitTest(bt.TempDirTest):

    def build_chain(self, where, layers):
        """A chain of `layers` qcow2 images in `where`; returns the names."""
        os.makedirs(where, exist_ok=True)
        names = ["l%d.qcow2" % i for i in range(layers)]
        bt.qemu_img("create", "-q", "-f", "qcow2", os.path.join(where, names[0]), "4M",
                    check=True)
        bt.qemu_io(os.path.join(where, names[0]), ["write -P 1 0 1M"])
        for i in range(1, layers):
            size = "8M" if i == layers - 1 else "4M"
            path = os.path.join(where, names[i])
            bt.qemu_img("create", "-q", "-f", "qcow2", "-b", names[i - 1], "-F", "qcow2", path,
                        size, check=True)
            cmds = ["write -P %d %dk 192k" % (i + 1, 512 * i)]
            if i == 1:
                cmds.append("write -z 3M 64k")
            if i == layers - 1:
                cmds.append("write -P 9 6M 64k")
            bt.qemu_io(path, cmds)
        return names

    def commit_both(self, layers, opts):
        src = self.path("src")
        names = self.build_chain(src, layers)
        expect = self.path("expect.raw")
        bt.qemu_img("convert", "-O", "raw", os.path.join(src, names[-1]), expect, check=True)
        results = {}
        for tool, runner in (("q", bt.qemu_img), ("a", bt.amber_img)):
            d = self.path(tool)
            shutil.copytree(src, d)
            cwd = os.getcwd()
            os.chdir(d)
            try:
                results[tool] = runner("commit", *(opts + [names[-1]]))
            finally:
                os.chdir(cwd)
        bt.assert_no_crash(self, results["a"])
        self.assertEqual(results["q"].rc, 0, results["q"].describe())
        self.assertEqual(results["a"].rc, 0, results["a"].describe())
        if "-p" not in opts:
            self.assertEqual(results["a"].out, results["q"].out)
        self.assertIn("Image committed.", results["a"].out)
        for n in names:
            a = os.path.join(self.path("a"), n)
            self.assertQemuCheckClean(a)
            r = bt.qemu_img("compare", "-q", os.path.join(self.path("q"), n), a)
            self.assertEqual(r.rc, 0, "%s differs from qemu-img's\n%s" % (n, r.describe()))
            qi = bt.qemu_img("info", os.path.join(self.path("q"), n), check=True)
            ai = bt.qemu_img("info", a, check=True)
            self.assertEqual([l for l in qi.out.splitlines() if "virtual size" in l],
                             [l for l in ai.out.splitlines() if "virtual size" in l])
        top = os.path.join(self.path("a"), names[-1])
        r = bt.qemu_img("compare", "-q", top, expect)
        self.assertEqual(r.rc, 0, "top no longer reads the guest content\n" + r.describe())
        return names

    def test_into_backing_empties_top(self):
        names = self.commit_both(3, [])
        m = bt.qemu_img("map", "--output=json", os.path.join(self.path("a"), names[-1]),
                        check=True)
        self.assertNotIn('"depth": 0, "present": true', m.out.replace("\n", " "))

    def test_drop_keeps_top(self):
        self.commit_both(3, ["-d"])

    def test_deep_base(self):
        self.commit_both(5, ["-b", "l0.qcow2"])

    def test_progress(self):
        self.commit_both(4, ["-p"])

    def test_errors(self):
        names = self.build_chain(self.path("e"), 2)
        base = os.path.join(self.path("e"), names[0])
        top = os.path.join(self.path("e"), names[1])
        for args in (["commit", base], ["commit", "-b", "nosuch", top],
                     ["commit", self.path("missing.qcow2")]):
            q = bt.qemu_img(*args)
            a = bt.amber_img(*args)
            bt.assert_no_crash(self, a)
            self.assertEqual(a.rc, q.rc, a.describe())
            self.assertEqual(a.err.replace("amber-img:", "qemu-img:"), q.err)

    def test_images_in_use_are_refused(self):
        """A writer on the top, or any user of the base (its reader refuses
        writers), makes commit fail before anything is written."""
        names = self.build_chain(self.path("busy"), 2)
        base = os.path.join(self.path("busy"), names[0])
        top = os.path.join(self.path("busy"), names[1])
        for held, read_only in ((top, False), (base, True)):
            with self.subTest(held=os.path.basename(held), read_only=read_only):
                before = (bt.file_bytes(base), bt.file_bytes(top))
                argv = [bt.tool("AMBER_IO"), "-f", "qcow2"] + (["-r"] if read_only else []) + [held]
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
                try:
                    self.assertEqual(proc.stdout.readline().strip(), "opened")
                    r = bt.amber_img("commit", top)
                    self.assertEqual(r.rc, 1, r.describe())
                    self.assertIn("lock", r.err)
                finally:
                    proc.stdin.close()
                    proc.wait()
                self.assertEqual((bt.file_bytes(base), bt.file_bytes(top)), before)


if __name__ == "__main__":
    bt.main()
