#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""snapshot_bench.py: `amber-img snapshot -a` vs `qemu-img snapshot -a`.

A sparse 20 GiB-virtual qcow2 image (64 KiB clusters) gets a few hundred
MiB written at scattered offsets (qemu-io), with a snapshot after each of
10 rounds of writes. Then each tool reverts the same copy of that image to
snapshot 1, 5 and 10 in turn, REPS times, alternating tools; the medians
of the wall-clock times are printed side by side. A benchmark, not a test.

Usage: tests/bench/snapshot_bench.py [path/to/amber-img]
Environment: QEMU_IMG, QEMU_IO, REPS (5), BENCH_DIR (/var/tmp),
  MIB_PER_ROUND (32: 10 rounds -> 320 MiB scattered).
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
AMBER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "block",
                                                            "tool", "amber-img")
QEMU_IMG = os.environ.get("QEMU_IMG", "qemu-img")
QEMU_IO = os.environ.get("QEMU_IO", "qemu-io")
REPS = int(os.environ.get("REPS", "5"))
MIB_PER_ROUND = int(os.environ.get("MIB_PER_ROUND", "32"))
GIB = 1 << 30


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def main():
    work = tempfile.mkdtemp(prefix="amber-snapbench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    try:
        base = os.path.join(work, "base.qcow2")
        run(QEMU_IMG, "create", "-q", "-f", "qcow2", base, str(20 * GIB))
        rng = random.Random(1)
        for round_no in range(1, 11):
            # 256 KiB writes at random 256 KiB-aligned offsets over 20 GiB.
            cmds = []
            for _ in range(MIB_PER_ROUND * 4):
                off = rng.randrange(0, 20 * GIB // (256 << 10)) * (256 << 10)
                cmds += ["-c", "write -P %d %d 256k" % (round_no, off)]
            run(QEMU_IO, "-f", "qcow2", *cmds, base)
            run(QEMU_IMG, "snapshot", "-c", "s%d" % round_no, base)
        size = os.path.getsize(base)
        print("image: 20 GiB virtual, %d MiB written in 10 rounds, 10 snapshots, file %.0f MiB"
              % (MIB_PER_ROUND * 10, size / (1 << 20)))
        img = os.path.join(work, "img.qcow2")
        shutil.copyfile(base, img)
        times = {"qemu-img": [], "amber-img": []}
        for _ in range(REPS):
            for tool, path in (("qemu-img", QEMU_IMG), ("amber-img", AMBER)):
                for snap in ("s1", "s5", "s10"):
                    t0 = time.monotonic()
                    run(path, "snapshot", "-a", snap, img)
                    times[tool].append(time.monotonic() - t0)
        q = statistics.median(times["qemu-img"]) * 1000
        a = statistics.median(times["amber-img"]) * 1000
        print("%-24s %12s %12s %10s" % ("snapshot -a (median)", "qemu-img ms", "amber-img ms",
                                        "amber/qemu"))
        print("%-24s %12.1f %12.1f %10.2f" % ("revert to s1/s5/s10", q, a, a / q))
        check = subprocess.run([QEMU_IMG, "check", img], capture_output=True, text=True)
        print("qemu-img check after %d reverts: rc %d" % (len(times["qemu-img"]) * 2,
                                                          check.returncode))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
