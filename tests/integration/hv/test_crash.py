#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SIGKILL during guest writes: the probe's write loop prints
"FLUSHED seq=N" after every completed flush; after killing amber-vmm the
image checks clean (leaks allowed) and every write up to the last
acknowledged flush is on disk."""
import os
import re
import signal
import time

import vmmlib as v

SEED = 4242


def one(name, fmt, cache, kill_after_flushes):
    tmp = v.workdir('crash-' + name)
    disk = os.path.join(tmp, 'd.' + fmt)
    if fmt == 'raw':
        with open(disk, 'wb') as f:
            f.truncate(64 << 20)
    else:
        v.create_image(disk, '64M')
    vm = v.start_vmm(disks=[v.disk_arg(disk, fmt, cache, 1)], kernel=v.PVH,
                     cmdline='test=writeloop batch=8 seed=%d' % SEED)
    try:
        vm.wait_line(r'LOOP: start', 60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(re.findall(r'FLUSHED seq=', vm.output())) >= kill_after_flushes:
                break
            time.sleep(0.05)
    finally:
        vm.kill(signal.SIGKILL)
    seqs = [int(x) for x in re.findall(r'FLUSHED seq=(\d+)', vm.output())]
    v.check(seqs, '%s: no flush completed before the kill\n%s' % (name, vm.describe()))
    last = max(seqs)
    v.log('%s: killed after %d flushes, last flushed seq %d' % (name, len(seqs), last))
    if fmt == 'qcow2':
        out = v.qemu_img_check(disk, allow_leaks=True)
        v.log(out.strip())
    data = v.read_raw(disk, fmt, tmp)
    for seq in range(last + 1):
        s = v.LOOP_BASE + seq
        got = data[s * v.SECTOR:(s + 1) * v.SECTOR]
        want = v.pattern_sector('AMBERLOOP', seq, SEED)
        v.check(got == want, '%s: write seq %d (acknowledged before flush %d) is missing: %r'
                % (name, seq, last, got[:40]))


def test():
    errors = []
    for args in (('qcow2-writeback', 'qcow2', 'writeback', 40), ('qcow2-none', 'qcow2', 'none', 25),
                 ('raw-writeback', 'raw', 'writeback', 25)):
        try:
            one(*args)
        except v.TestFailure as e:
            v.log('%s FAILED: %s' % (args[0], e))
            errors.append(args[0])
    v.check(not errors, 'failed: %s' % errors)


if __name__ == '__main__':
    v.main(test)
