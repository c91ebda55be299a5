#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img commit and convert killed with SIGKILL part-way.

commit: a three-level qcow2 chain (base <- mid <- top, 64 MiB, each layer
with its own data pattern, a zeroed range in the top) is copied, the
commit (`commit -b base top`, and plain `commit top` into mid) started and
killed after 10%, 30% .. 90% of an uninterrupted run's duration, plus random
delays. After every kill `qemu-img check` of every file in the chain finds
no corruption (leaks allowed) and the guest content read through the top
is the pre-commit chain's (qemu-img compare against its flattened copy):
a crash in the middle leaves the chain readable with the same content.
Rerunning the commit then completes, with the same content still.

convert: `convert -O qcow2` (also -c, and -m 4 -W) of the chain's top is
killed part-way. The source files are byte-for-byte unchanged and check
clean; the partial target opens (qemu-img info), checks without
corruption (leaks allowed), and every range it maps reads as the source.

Seeded; AMBER_CC_CRASH_SEED=N reproduces.

Thread-safety: single-threaded test script.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

MIB = 1 << 20
SIZE = 64 * MIB
CHAIN = ("base.qcow2", "mid.qcow2", "top.qcow2")
FRACTIONS = [0.1, 0.3, 0.5, 0.7, 0.9]
RANDOM_ROUNDS = 2
SEED = int(os.environ.get("AMBER_CC_CRASH_SEED") or random.SystemRandom().randrange(1, 2**31))
print("commit-convert-crash: seed %d (AMBER_CC_CRASH_SEED=%d to reproduce)" % (SEED, SEED),
      flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CrashBase(bt.TempDirTest):
    def setUp(self):
        super().setUp()
        self.rng = random.Random(SEED ^ (hash(self.id()) & 0xFFFF))
        self.orig = self.path("orig")
        os.mkdir(self.orig)
        base, mid, top = (os.path.join(self.orig, n) for n in CHAIN)
        bt.qemu_img("create", "-q", "-f", "qcow2", base, str(SIZE), check=True)
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid,
                    check=True)
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top,
                    check=True)
        bt.qemu_io(base, ["write -P 0xa1 0 %d" % SIZE])
        bt.qemu_io(mid, ["write -P 0x%02x %dM 2M" % (0xb0 + i % 16, i)
                         for i in range(0, 64, 4)])
        bt.qemu_io(top, ["write -P 0x%02x %dM 1536k" % (0xc0 + i % 16, i)
                         for i in range(1, 62, 3)] + ["write -z 20M 3M", "write -z 50M 64k"])
        self.flat = self.path("flat.raw")
        bt.qemu_img("convert", "-O", "raw", top, self.flat, check=True)
        # The flattening must differ from each lower layer, or the compare
        # below could not see a lost layer.
        for lower in (base, mid):
            self.assertEqual(bt.qemu_img("compare", "-F", "raw", lower, self.flat).rc, 1)
        self.sums = {n: sha256(os.path.join(self.orig, n)) for n in CHAIN}

    def fresh_chain(self, name):
        d = self.path(name)
        shutil.rmtree(d, ignore_errors=True)
        os.mkdir(d)
        for n in CHAIN:
            shutil.copyfile(os.path.join(self.orig, n), os.path.join(d, n))
        return d

    def timed(self, argv):
        t0 = time.monotonic()
        r = bt.run(argv)
        duration = time.monotonic() - t0
        self.assertEqual(r.rc, 0, r.describe())
        return duration

    def kill_after(self, argv, delay):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        for marker in bt.SANITIZER_MARKERS:
            self.assertNotIn(marker, err.decode(errors="replace"), argv)
        return proc.returncode

    def delays(self, duration):
        return ([f * duration for f in FRACTIONS] +
                [self.rng.uniform(0, duration) for _ in range(RANDOM_ROUNDS)])

    def assert_checks(self, path, what):
        r, report = bt.qemu_check_json(path)
        self.assertIsNotNone(report, "%s: %s\n%s" % (what, path, r.describe()))
        self.assertIn(r.rc, (0, 3), "%s: %s\n%s" % (what, path, r.describe()))
        self.assertEqual(report.get("corruptions", 0), 0, "%s: %s\n%s" % (what, path,
                                                                          r.describe()))
        self.assertEqual(report.get("check-errors", 0), 0, "%s: %s\n%s" % (what, path,
                                                                           r.describe()))
        a = bt.amber_img("check", "-f", "qcow2", path)
        self.assertIn(a.rc, (0, 3), "%s: amber-img check %s\n%s" % (what, path, a.describe()))
        return report.get("leaks", 0)

    def assert_reads_flat(self, top, what):
        c = bt.qemu_img("compare", "-f", "qcow2", "-F", "raw", top, self.flat)
        self.assertEqual(c.rc, 0, "%s: content through the top changed\n%s" % (what,
                                                                              c.describe()))


class CommitCrash(CrashBase):
    def run_commit(self, extra, label):
        trial = self.fresh_chain("trial")
        amber = bt.tool("AMBER_IMG")
        duration = self.timed([amber, "commit", "-q"] + extra + [os.path.join(trial, "top.qcow2")])
        self.assert_reads_flat(os.path.join(trial, "top.qcow2"), label + " uninterrupted")
        target = "base.qcow2" if "-b" in extra else "mid.qcow2"
        killed = progressed = leaky = 0
        for i, delay in enumerate(self.delays(duration)):
            d = self.fresh_chain("run")
            top = os.path.join(d, "top.qcow2")
            argv = [amber, "commit", "-q"] + extra + [top]
            what = "%s round %d delay %.4f s of %.4f (seed %d)" % (label, i, delay, duration,
                                                                  SEED)
            rc = self.kill_after(argv, delay)
            self.assertIn(rc, (0, -signal.SIGKILL), what)
            killed += rc == -signal.SIGKILL
            progressed += sha256(os.path.join(d, target)) != self.sums[target]
            for n in CHAIN:
                leaky += self.assert_checks(os.path.join(d, n), what) != 0
            self.assert_reads_flat(top, what)
            # A second run completes and keeps the content.
            r = bt.amber_img("commit", "-q", *(extra + [top]))
            self.assertEqual(r.rc, 0, what + ": rerun\n" + r.describe())
            for n in CHAIN:
                self.assert_checks(os.path.join(d, n), what + " after the rerun")
            self.assert_reads_flat(top, what + " after the rerun")
            if "-b" not in extra:
                # The top was emptied: every byte now comes from below it.
                m = json.loads(bt.qemu_img("map", "--output=json", top, check=True).out)
                self.assertFalse([e for e in m if e["depth"] == 0 and e["data"]],
                                 what + ": top still holds data after the rerun")
        print("commit-crash: %s %.1f ms: %d rounds, %d killed, %d with %s changed, "
              "%d files with leaks" % (label, duration * 1000, len(FRACTIONS) + RANDOM_ROUNDS, killed,
                                       progressed, target, leaky), flush=True)
        self.assertGreater(killed, 0, label + ": no kill landed before the end")
        self.assertGreater(progressed, 0, label + ": no kill landed after the copy began")

    def test_commit_to_base(self):
        self.run_commit(["-b", "base.qcow2"], "commit -b base")

    def test_commit_to_mid(self):
        self.run_commit([], "commit")


class ConvertCrash(CrashBase):
    def assert_partial_target(self, target, what):
        info = bt.qemu_img("info", "--output=json", target)
        self.assertEqual(info.rc, 0, what + "\n" + info.describe())
        leaks = self.assert_checks(target, what)
        if json.loads(info.out)["virtual-size"] == 0:
            return leaks  # killed inside create, before the size was set (as qemu-img's)
        # Whatever the partial target maps holds the source's bytes.
        raw = self.path("partial.raw")
        bt.qemu_img("convert", "-O", "raw", target, raw, check=True)
        got, want = bt.file_bytes(raw), bt.file_bytes(self.flat)
        self.assertEqual(len(got), len(want), what)
        m = json.loads(bt.qemu_img("map", "--output=json", target, check=True).out)
        bad = [(e["start"], e["length"]) for e in m
               if e["present"] and
               got[e["start"]:e["start"] + e["length"]] != want[e["start"]:e["start"] + e["length"]]]
        self.assertFalse(bad, "%s: mapped ranges differ from the source: %s" % (what, bad[:5]))
        return leaks

    def run_convert(self, extra, label):
        src = os.path.join(self.orig, "top.qcow2")
        amber = bt.tool("AMBER_IMG")
        target = self.path("target.qcow2")
        duration = self.timed([amber, "convert"] + extra + ["-O", "qcow2", src, target])
        self.assertEqual(bt.qemu_img("compare", "-F", "raw", target, self.flat).rc, 0, label)
        killed = partial = 0
        for i, delay in enumerate(self.delays(duration)):
            if os.path.exists(target):
                os.unlink(target)
            what = "%s round %d delay %.4f s of %.4f (seed %d)" % (label, i, delay, duration,
                                                                  SEED)
            rc = self.kill_after([amber, "convert"] + extra + ["-O", "qcow2", src, target], delay)
            self.assertIn(rc, (0, -signal.SIGKILL), what)
            killed += rc == -signal.SIGKILL
            for n in CHAIN:
                path = os.path.join(self.orig, n)
                self.assertEqual(sha256(path), self.sums[n], "%s: source %s changed" % (what, n))
            if not os.path.exists(target) or os.path.getsize(target) == 0:
                continue  # killed before the target was created
            with open(target, "rb") as f:
                if f.read(4) == bytes(4):
                    # Killed while creating it, before its header (written
                    # after the refcount structures it names): not an image.
                    continue
            partial += bt.qemu_img("compare", "-F", "raw", target, self.flat).rc != 0
            self.assert_partial_target(target, what)
        for n in CHAIN:
            self.assertQemuCheckClean(os.path.join(self.orig, n))
        print("convert-crash: %s %.1f ms: %d rounds, %d killed, %d partial targets" %
              (label, duration * 1000, len(FRACTIONS) + RANDOM_ROUNDS, killed, partial), flush=True)
        self.assertGreater(partial, 0, label + ": no kill left a partial target")

    def test_convert(self):
        self.run_convert([], "convert -O qcow2")

    def test_convert_compressed(self):
        self.run_convert(["-c"], "convert -c -O qcow2")

    def test_convert_parallel(self):
        self.run_convert(["-m", "4", "-W"], "convert -m 4 -W -O qcow2")


if __name__ == "__main__":
    bt.main()
