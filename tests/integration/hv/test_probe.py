#!/usr/bin/env python3
"""The PVH probe guest under amber-vmm on qcow2 (plain, linked clone,
extended_l2) and raw disks, covering every cache mode and 1 and 4 queues.
After each run: qemu-img check is clean and the guest's pattern is on disk."""
import hashlib
import os

import vmmlib as v

DISK_MB = 64
BASE_TAG_SECTOR = 40000

CASES = [
    # (name, kind, cache, queues)
    ('qcow2-writeback-q4', 'qcow2', 'writeback', 4),
    ('clone-none-q1', 'clone', 'none', 1),
    ('extl2-writethrough-q4', 'extl2', 'writethrough', 4),
    ('raw-directsync-q1', 'raw', 'directsync', 1),
    ('raw-unsafe-q4', 'raw', 'unsafe', 4),
]


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def prepare(tmp, kind):
    disk = os.path.join(tmp, 'disk.' + ('raw' if kind == 'raw' else 'qcow2'))
    base = None
    if kind == 'raw':
        with open(disk, 'wb') as f:
            f.truncate(DISK_MB << 20)
    elif kind == 'qcow2':
        v.create_image(disk, '%dM' % DISK_MB)
    elif kind == 'extl2':
        v.create_image(disk, '%dM' % DISK_MB, options='extended_l2=on,cluster_size=64k')
    elif kind == 'clone':
        raw = os.path.join(tmp, 'base.raw')
        with open(raw, 'wb') as f:
            f.truncate(DISK_MB << 20)
            f.seek(BASE_TAG_SECTOR * v.SECTOR)
            f.write(b'AMBERBASE data from the backing file')
        base = os.path.join(tmp, 'base.qcow2')
        v.run([v.QEMU_IMG, 'convert', '-f', 'raw', '-O', 'qcow2', raw, base])
        os.unlink(raw)
        v.create_image(disk, backing=base)
    return disk, base


def one_case(name, kind, cache, queues, seed):
    tmp = v.workdir('probe-' + name)
    disk, base = prepare(tmp, kind)
    fmt = 'raw' if kind == 'raw' else 'qcow2'
    base_sum = sha256(base) if base else None
    v.log('== %s: %s cache=%s queues=%d' % (name, kind, cache, queues))
    discard = None if kind == 'clone' else 'unmap'
    vm = v.run_probe_vmm(disk, fmt, cache, queues, seed, discard=discard)
    for q in range(queues):
        v.check('PROBE: queue %d write/read ok' % q in vm.output(), 'queue %d not exercised' % q)
        if discard:
            for what in ('discard', 'write-zeroes'):
                v.check('PROBE: queue %d %s ok' % (q, what) in vm.output(),
                        'queue %d: %s not offered/exercised with discard=unmap' % (q, what))
    if fmt == 'qcow2':
        v.qemu_img_check(disk)
    data = v.read_raw(disk, fmt, tmp)
    v.check(len(data) == DISK_MB << 20, 'virtual size changed: %d' % len(data))
    v.verify_probe_pattern(data, queues, seed)
    last = (DISK_MB << 20) // v.SECTOR - 1
    v.check(data[last * v.SECTOR:] == v.pattern_sector('AMBERLAST', last, seed),
            'last sector does not hold the AMBERLAST pattern')
    if base:
        v.check(sha256(base) == base_sum, 'the backing file was modified')
        v.qemu_img_check(base)
        tag = data[BASE_TAG_SECTOR * v.SECTOR:BASE_TAG_SECTOR * v.SECTOR + 9]
        v.check(tag == b'AMBERBASE', 'backing data not visible through the clone: %r' % tag)
    v.log('== %s ok' % name)


def test():
    failures = []
    for i, (name, kind, cache, queues) in enumerate(CASES):
        try:
            one_case(name, kind, cache, queues, seed=100 + i)
        except v.TestFailure as e:
            v.log('== %s FAILED: %s' % (name, e))
            failures.append(name)
    v.check(not failures, 'failed cases: %s' % ', '.join(failures))


if __name__ == '__main__':
    v.main(test)
