#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img snapshot -c / -a / -d killed with SIGKILL at random points.

Each round copies a prepared image (4 KiB clusters, data in every L2
table, two snapshots), starts the operation and kills it after a random
delay up to a little longer than the operation takes. The image must then
open (amber-img info and qemu-img info), pass `qemu-img check` with at
most leaks, and hold the old or the new state: the same active content
(qemu-img compare against a raw copy) and snapshot list as before, or as
after an uninterrupted run.

One window is allowed and counted (block/qcow2/snapshot.h): a kill
between create's refcount increments and its header switch (one flush)
leaves an OFLAG_COPIED mismatch over leaked clusters, which QEMU's own
create has too; `qemu-img check -r leaks` must then leave the image clean.

Seeded; AMBER_SNAPSHOT_CRASH_SEED=N reproduces, AMBER_SNAPSHOT_CRASH_ROUNDS
sets the rounds per operation (default 40).
"""

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
SIZE = 128 * MIB
SEED = int(os.environ.get("AMBER_SNAPSHOT_CRASH_SEED") or random.SystemRandom().randrange(1, 2**31))
ROUNDS = int(os.environ.get("AMBER_SNAPSHOT_CRASH_ROUNDS") or 40)
print("snapshot-crash: seed %d (AMBER_SNAPSHOT_CRASH_SEED=%d to reproduce)" % (SEED, SEED),
      flush=True)


def snapshot_names(img):
    info = json.loads(bt.qemu_img("info", "-U", "--output=json", img, check=True).out)
    return [s["name"] for s in info.get("snapshots", [])]


class SnapshotCrash(bt.TempDirTest):
    def setUp(self):
        super().setUp()
        self.rng = random.Random(SEED)
        self.base = self.path("base.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", self.base,
                    str(SIZE), check=True)
        # One 4 KiB write per MiB: every L2 table (2 MiB each) has data.
        bt.qemu_io(self.base, ["write -P 0x%02x %dM 4k" % (1 + i % 200, i) for i in range(128)])
        bt.qemu_img("snapshot", "-c", "one", self.base, check=True)
        bt.qemu_io(self.base, ["write -P 0xee %dM 8k" % i for i in range(0, 128, 3)])
        bt.qemu_img("snapshot", "-c", "two", self.base, check=True)
        bt.qemu_io(self.base, ["write -P 0xdd %dM 4k" % i for i in range(1, 128, 5)])
        self.base_raw = self.path("base.raw")
        bt.qemu_img("convert", "-O", "raw", self.base, self.base_raw, check=True)
        self.one_raw = self.path("one.raw")
        bt.qemu_img("convert", "-O", "raw", "-l", "one", self.base, self.one_raw, check=True)

    def same(self, img, raw):
        return bt.qemu_img("compare", "-U", "-f", "qcow2", "-F", "raw", img, raw).rc == 0

    def run_op(self, args, old, new):
        name = args[0][1:]
        # An uninterrupted run for its duration.
        trial = self.path("trial.qcow2")
        shutil.copyfile(self.base, trial)
        t0 = time.monotonic()
        bt.amber_img("snapshot", *(args + [trial]), check=True)
        duration = time.monotonic() - t0
        window = copied = old_seen = new_seen = 0
        for rnd in range(ROUNDS):
            img = self.path("crash.qcow2")
            shutil.copyfile(self.base, img)
            delay = self.rng.uniform(0, duration * 1.2)
            proc = subprocess.Popen([bt.tool("AMBER_IMG"), "snapshot"] + args + [img],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            what = "-%s round %d delay %.4f s (seed %d)" % (name, rnd, delay, SEED)
            a = bt.amber_img("info", img)
            self.assertEqual(a.rc, 0, what + "\n" + a.describe())
            r, report = bt.qemu_check_json(img)
            self.assertIsNotNone(report, what + "\n" + r.describe())
            self.assertEqual(report.get("check-errors", 0), 0, what + "\n" + r.describe())
            if report.get("corruptions", 0) != 0:
                lines = [l for l in r.err.splitlines() if l.strip()]
                bad = [l for l in lines if "OFLAG_COPIED" not in l and "Leaked" not in l]
                self.assertEqual(bad, [], what + "\n" + r.describe())
                fixed = self.path("fixed.qcow2")
                shutil.copyfile(img, fixed)
                bt.qemu_img("check", "-q", "-r", "leaks", fixed)
                self.assertQemuCheckClean(fixed)
                copied += 1
            names = snapshot_names(img)
            if names == old[0] and self.same(img, old[1]):
                old_seen += 1
            elif names == new[0] and self.same(img, new[1]):
                new_seen += 1
            else:
                self.fail("%s: neither the old nor the new state (snapshots %s)" % (what, names))
            window += report.get("leaks", 0) != 0
        print("snapshot-crash: -%s %.1f ms: %d rounds, %d old, %d new, %d with leaks, "
              "%d in the OFLAG_COPIED window" % (name, duration * 1000, ROUNDS, old_seen,
                                                 new_seen, window, copied), flush=True)

    def test_create(self):
        self.run_op(["-c", "three"], (["one", "two"], self.base_raw),
                    (["one", "two", "three"], self.base_raw))

    def test_apply(self):
        self.run_op(["-a", "one"], (["one", "two"], self.base_raw), (["one", "two"], self.one_raw))

    def test_delete(self):
        self.run_op(["-d", "one"], (["one", "two"], self.base_raw), (["two"], self.base_raw))


if __name__ == "__main__":
    bt.main()
