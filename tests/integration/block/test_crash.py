#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash consistency of the qcow2 engine.

Process crash: amber-crash writes and flushes, logging what each flush made
durable; it is killed with SIGKILL at random points. Afterwards amber-img
check and qemu-img check find no corruption (leaks allowed and repaired by
`check -r leaks`), and every logged write is present with its data.

Power loss: amber-powerloss runs the engine over an io::FaultFile on an
io::MemoryFile and crash()es it, reverting a random subset of unflushed
updates; the surviving images must read back consistently (checked inside
the helper) and pass qemu-img check. Lazy-refcount images may need
`check -r all` (the dirty bit says so); Amber's own read-write open must
repair them.

Seeded; the seed is printed; AMBER_CRASH_SEED=N reproduces.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SEED = int(os.environ.get("AMBER_CRASH_SEED") or random.SystemRandom().randrange(1, 2**31))
print("block-crash: seed %d (AMBER_CRASH_SEED=%d to reproduce)" % (SEED, SEED), flush=True)


def verify_durable(testcase, raw_path, log_lines, what):
    """Every sector holds its last durable write, or a write newer than all
    logged ones (completed but not yet flushed when the process died)."""
    expected = {}
    max_logged = 0
    for line in log_lines:
        _, seq, off, length = line.split()
        seq, off, length = int(seq), int(off), int(length)
        max_logged = max(max_logged, seq)
        for s in range(off // 512, (off + length) // 512):
            if expected.get(s, 0) < seq:
                expected[s] = seq
    data = bt.file_bytes(raw_path)
    bad = []
    for s in range(len(data) // 512):
        tag = bt.sector_tag(data[s * 512:(s + 1) * 512], s * 512)
        want = expected.get(s, 0)
        if tag is None or not (tag == want or tag > max_logged):
            bad.append((s * 512, tag, want))
    testcase.assertFalse(bad, "%s: %d sectors lost durable data; first (offset, found tag, "
                         "durable tag): %s" % (what, len(bad), bad[:5]))
    return len(expected)


class ProcessCrash(bt.TempDirTest):
    def one_kill(self, opts, seed):
        img = self.path("crash.qcow2")
        if os.path.exists(img):
            os.unlink(img)
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", opts, img, "32M", check=True)
        rng = random.Random(seed)
        # The log goes to a file, not a pipe: a full pipe would stall the
        # writer and every kill would land at the same point.
        log_path = self.path("crash.log")
        with open(log_path, "w") as log, open(self.path("crash.err"), "w") as err_file:
            proc = subprocess.Popen([bt.tool("AMBER_CRASH"), "-s", str(seed), img],
                                    stdout=log, stderr=err_file)
        deadline = time.time() + 20
        while time.time() < deadline and not bt.file_bytes(log_path).startswith(b"opened\n"):
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.1, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out = bt.file_bytes(log_path).decode()
        err = bt.file_bytes(self.path("crash.err")).decode()
        self.assertTrue(out.startswith("opened\n"), "amber-crash did not start: " + err)
        self.assertEqual(proc.returncode, -signal.SIGKILL, "writer died early: " + err)
        lines = [l for l in out.split("\n")[:-1] if l.startswith("D ")]
        what = "opts=%s seed=%d" % (opts, seed)
        self.assertTrue(lines, "%s: no durable write before the kill\n%s" % (what, err))

        a = bt.amber_img("check", "-f", "qcow2", img)
        self.assertIn(a.rc, (0, 3), "%s: amber-img check\n%s" % (what, a.describe()))
        r, report = bt.qemu_check_json(img)
        self.assertIsNotNone(report, r.describe())
        self.assertEqual(report.get("corruptions", 0), 0, "%s\n%s" % (what, r.describe()))
        self.assertIn(r.rc, (0, 3), r.describe())
        if report.get("leaks", 0):
            fix = bt.qemu_img("check", "-r", "leaks", img)
            self.assertEqual(fix.rc, 0, fix.describe())
            self.assertQemuCheckClean(img)
        raw = self.path("crash.raw")
        bt.amber_cat(img, raw, fmt="qcow2")
        covered = verify_durable(self, raw, lines, what)
        # Same verdict through QEMU's reader.
        bt.qemu_img("convert", "-O", "raw", img, raw, check=True)
        verify_durable(self, raw, lines, what + " (read by qemu-img)")
        print("  %s: %d durable writes, %d sectors verified" % (what, len(lines), covered),
              flush=True)

    def test_sigkill(self):
        rng = random.Random(SEED)
        for i, opts in enumerate(["cluster_size=65536", "extended_l2=on", "cluster_size=4096",
                                  "cluster_size=65536", "refcount_bits=1", "compat=0.10"]):
            with self.subTest(opts=opts, iteration=i):
                self.one_kill(opts, rng.randrange(1, 2**31))


class PowerLoss(bt.TempDirTest):
    ITERATIONS = 8

    def run_template(self, name, opts, prepare=()):
        tmpl = self.path(name + ".template.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", opts, tmpl, "16M", check=True)
        for step in prepare:
            step(tmpl)
        seed = SEED ^ (hash(name) & 0xFFFF)
        prefix = self.path(name)
        r = bt.run([bt.tool("AMBER_POWERLOSS"), "-s", str(seed), "-i", str(self.ITERATIONS),
                    tmpl, prefix], timeout=600)
        print(r.out.rstrip(), flush=True)
        self.assertEqual(r.rc, 0, "%s seed %d\n%s" % (name, seed, r.describe()))
        lazy = "lazy_refcounts=on" in opts
        for i in range(self.ITERATIONS):
            img = "%s-%d.qcow2" % (prefix, i)
            self.assertTrue(os.path.exists(img), img)
            what = "%s iteration %d (seed %d)" % (name, i, seed)
            info = json.loads(bt.qemu_img("info", "--output=json", img, check=True).out)
            if lazy and info.get("dirty-flag"):
                # Amber's read-write open must rebuild the refcounts.
                w = bt.amber_io(img, [], fmt="qcow2", check=False)
                self.assertEqual(w.rc, 0, what + "\n" + w.describe())
            q, report = bt.qemu_check_json(img)
            self.assertIsNotNone(report, what + "\n" + q.describe())
            self.assertEqual(report.get("corruptions", 0), 0, what + "\n" + q.describe())
            self.assertEqual(report.get("check-errors", 0), 0, what + "\n" + q.describe())
            a = bt.amber_img("check", "-f", "qcow2", img)
            self.assertIn(a.rc, (0, 3), what + ": amber-img check\n" + a.describe())
            if report.get("leaks", 0):
                fix = bt.qemu_img("check", "-r", "leaks", img)
                self.assertEqual(fix.rc, 0, what + "\n" + fix.describe())
                self.assertQemuCheckClean(img)

    def test_plain(self):
        self.run_template("plain", "cluster_size=65536")

    def test_small_clusters(self):
        self.run_template("c4k", "cluster_size=4096")

    def test_extended_l2(self):
        self.run_template("extl2", "extended_l2=on")

    def test_lazy_refcounts(self):
        self.run_template("lazy", "lazy_refcounts=on")

    def test_with_snapshot(self):
        def fill(img):
            bt.qemu_io(img, ["write -P 0x33 0 16M"])
            bt.qemu_img("snapshot", "-c", "snap1", img, check=True)
        self.run_template("snapshot", "cluster_size=65536", (fill,))


if __name__ == "__main__":
    bt.main()
