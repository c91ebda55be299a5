#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile qcow2 corpus: every crafted image is refused cleanly.

The images come from tests/data/qcow2_corpus.py (valid qemu-img images plus
byte patches, one or more per check group of doc/qcow2-format.md section 10), generated
into a temporary folder. For each one the engine (amber-img info, amber-cat
reads, amber-img check, amber-io writes) must end by itself -- no signal, no
sanitizer report, no hang -- and refuse with an error line that names the
field or structure at fault. The same test runs in a -Dsanitize=true build.
"""

import importlib.util
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

TIMEOUT = 60
# A fixed mutation seed, so CI runs are reproducible; AMBER_MUTATE_SEED=N
# picks another one, AMBER_MUTATE_SEED=random draws a fresh one (printed
# below, so a failure can be replayed with that number).
DEFAULT_MUTATE_SEED = 20261202


def mutate_seed():
    value = os.environ.get("AMBER_MUTATE_SEED", "")
    if value == "random":
        return random.SystemRandom().randrange(1, 2**31)
    return int(value) if value else DEFAULT_MUTATE_SEED


MUTATE_SEED = mutate_seed()
MUTATE_ITERATIONS = int(os.environ.get("AMBER_MUTATE_ITERATIONS") or 5000)


def load_generator():
    path = os.environ.get("AMBER_CORPUS_GENERATOR")
    if not path or not os.path.exists(path):
        raise AssertionError("AMBER_CORPUS_GENERATOR does not name the generator: %r" % path)
    spec = importlib.util.spec_from_file_location("qcow2_corpus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class HostileCorpus(bt.TempDirTest):
    @classmethod
    def setUpClass(cls):
        if os.environ.get("AMBER_SANITIZE") == "1":
            print("sanitizer build: amber-img and helpers run with ASan+UBSan", flush=True)
        os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:allocator_may_return_null=1")

    def setUp(self):
        super().setUp()
        os.environ["QEMU_IMG"] = bt.tool("QEMU_IMG")
        os.environ["QEMU_IO"] = bt.tool("QEMU_IO")
        self.cases = load_generator().generate(self.path("corpus"))
        self.assertGreaterEqual(len(self.cases), 40, "corpus generator produced too few images")

    def refused(self, case, r, what):
        bt.assert_no_crash(self, r)
        self.assertNotEqual(r.rc, 0, "%s accepted %s (%s)\n%s" % (what, case.name, case.group,
                                                                   r.describe()))
        self.assertTrue(r.err.strip(), "%s gave no error line for %s" % (what, case.name))
        self.assertRegex(r.err.lower(), re.compile(case.keywords, re.I),
                         "%s: the error for %s does not name the problem\n%s"
                         % (what, case.name, r.describe()))

    def info(self, case):
        return bt.amber_img("info", "-f", "qcow2", case.path, timeout=TIMEOUT)

    def cat(self, case):
        return bt.amber_cat(case.path, self.path("out.raw"), fmt="qcow2", check=False,
                            timeout=TIMEOUT)

    def check_image(self, case):
        return bt.amber_img("check", "-f", "qcow2", case.path, timeout=TIMEOUT)

    def run_case(self, case):
        if case.mode == "open":
            self.refused(case, self.info(case), "amber-img info")
            self.refused(case, self.cat(case), "read (amber-cat)")
            r = self.check_image(case)
            bt.assert_no_crash(self, r)
            self.assertNotEqual(r.rc, 0, "amber-img check passed %s\n%s" % (case.name, r.describe()))
        elif case.mode == "read":
            bt.assert_no_crash(self, self.info(case))
            self.refused(case, self.cat(case), "read (amber-cat)")
            r = self.check_image(case)
            bt.assert_no_crash(self, r)
            self.assertIn(r.rc, (1, 2), "amber-img check must report %s\n%s" % (case.name, r.describe()))
        elif case.mode == "chain":
            bt.assert_no_crash(self, self.info(case))
            chain = bt.amber_img("info", "--backing-chain", "-f", "qcow2", case.path, timeout=TIMEOUT)
            self.refused(case, chain, "amber-img info --backing-chain")
            self.refused(case, self.cat(case), "read (amber-cat)")
            bt.assert_no_crash(self, self.check_image(case))
        elif case.mode == "bomb":
            self.run_bomb(case)
        elif case.mode == "corrupt":
            r = bt.amber_img("info", "--output=json", "-f", "qcow2", case.path, timeout=TIMEOUT)
            bt.assert_no_crash(self, r)
            self.assertEqual(r.rc, 0, r.describe())
            self.assertTrue(json.loads(r.out)["format-specific"]["data"]["corrupt"], r.describe())
            c = self.cat(case)
            bt.assert_no_crash(self, c)
            self.assertEqual(c.rc, 0, "a corrupt image must stay readable\n" + c.describe())
            w = bt.amber_io(case.path, ["write 0 512 1"], fmt="qcow2", check=False, timeout=TIMEOUT)
            self.refused(case, w, "read-write open (amber-io)")
        elif case.mode == "overlap":
            before = self.path("before.raw")
            bt.qemu_img("convert", "-f", "qcow2", "-O", "raw", case.path, before, check=True)
            # Allocate new clusters: a correct engine must not place them over the L1 table.
            w = bt.amber_io(case.path, ["write 4194304 1048576 0x99", "flush"], fmt="qcow2",
                            check=False, timeout=TIMEOUT)
            bt.assert_no_crash(self, w)
            after = self.path("after.raw")
            r = bt.qemu_img("convert", "-U", "-f", "qcow2", "-O", "raw", case.path, after)
            self.assertEqual(r.rc, 0, r.describe())
            data_before, data_after = bt.file_bytes(before), bt.file_bytes(after)
            self.assertEqual(data_before[:4194304], data_after[:4194304],
                             "existing data lost: metadata overwritten\n" + w.describe())
        else:
            self.fail("unknown mode " + case.mode)

    def run_bomb(self, case):
        reference = self.path("qemu.raw")
        q = bt.qemu_img("convert", "-f", "qcow2", "-O", "raw", case.path, reference, timeout=TIMEOUT)
        c = self.cat(case)
        bt.assert_no_crash(self, c)
        if c.rc != 0:
            self.refused(case, c, "read (amber-cat)")
            return
        self.assertEqual(q.rc, 0, "qemu-img refuses %s but Amber read it\n%s" % (case.name, q.describe()))
        self.assertSameContent(reference, self.path("out.raw"), case.name)

    def test_corpus(self):
        for case in self.cases:
            with self.subTest(case=case.name, group=case.group):
                print("  %-36s %-11s %s" % (case.name, case.group, case.mode), flush=True)
                self.run_case(case)

    def test_mutation_fuzz(self):
        """Random field mutations of valid images (tests/fuzz/qcow2_mutate.cpp):
        the driver may refuse them but must never crash, hang or trip a sanitizer."""
        templates = sorted(load_generator().make_bases(self.path("templates")).values())
        print("qcow2-mutate: seed %d, %d iterations (AMBER_MUTATE_SEED=N|random / AMBER_MUTATE_ITERATIONS)"
              % (MUTATE_SEED, MUTATE_ITERATIONS), flush=True)
        r = bt.run([bt.tool("AMBER_MUTATE"), "-s", str(MUTATE_SEED), "-n", str(MUTATE_ITERATIONS),
                    "-d", self.dir] + templates, timeout=900)
        last = [l for l in r.out.splitlines() if l.startswith("iteration")][-1:]
        bt.assert_no_crash(self, r)
        self.assertEqual(r.rc, 0, "mutant crashed or hung; last started: %s\n%s"
                         % (last, r.describe()))
        self.assertIn("no crash", r.out)

    def test_every_group_covered(self):
        groups = {c.group for c in self.cases}
        self.assertEqual(groups, {"header", "extensions", "entries", "snapshots", "refcounts",
                                  "chains"})


if __name__ == "__main__":
    bt.main()
