#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest discards (discard=unmap) give space back: the image file's
allocated size (st_blocks) shrinks after the guest discards what it wrote."""
import os

import vmmlib as v

FILL_MB = 16


def allocated(path):
    return os.stat(path).st_blocks * 512


def run_mode(disk, fmt, mode):
    vm = v.start_vmm(disks=[v.disk_arg(disk, fmt, 'writeback', 1, discard='unmap')], kernel=v.PVH,
                     cmdline='test=%s mb=%d start=4096 seed=3' % (mode, FILL_MB))
    rc = vm.wait(180)
    v.check('PROBE: RESULT PASS %s' % mode in vm.output() and rc == 1,
            '%s run failed (rc %d)\n%s' % (mode, rc, vm.describe()))


def one(fmt):
    tmp = v.workdir('discard-' + fmt)
    disk = os.path.join(tmp, 'disk.' + fmt)
    if fmt == 'raw':
        with open(disk, 'wb') as f:
            f.truncate(64 << 20)
    else:
        v.create_image(disk, '64M')
    run_mode(disk, fmt, 'fill')
    before = allocated(disk)
    v.check(before >= FILL_MB << 20, '%s: only %d bytes allocated after writing %d MiB' % (fmt, before, FILL_MB))
    run_mode(disk, fmt, 'discard')
    after = allocated(disk)
    v.log('%s: allocated %d -> %d bytes' % (fmt, before, after))
    v.check(before - after >= (FILL_MB << 20) // 2,
            '%s: discard freed only %d bytes (%d -> %d)' % (fmt, before - after, before, after))
    if fmt == 'qcow2':
        v.qemu_img_check(disk)


def test():
    errors = []
    for fmt in ('qcow2', 'raw'):
        try:
            one(fmt)
        except v.TestFailure as e:
            v.log('%s FAILED: %s' % (fmt, e))
            errors.append(fmt)
    v.check(not errors, 'failed: %s' % errors)


if __name__ == '__main__':
    v.main(test)
