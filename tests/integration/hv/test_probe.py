#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The PVH probe guest under amber-vmm on qcow2 (plain, linked clone,
extended_l2) and raw disks, covering every cache mode and 1 and 4 queues.
While the guest idles after its probe, the running amber-vmm is inspected:
the image fd's open flags carry the cache mode (fdinfo: O_DIRECT for
none/directsync, O_DSYNC for writethrough/directsync, neither otherwise) and
every queue has its own iothread (named blk-qN in /proc/PID/task/*/comm).
After each run: qemu-img check is clean and the guest's pattern is on disk."""
import hashlib
import os
import signal

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


# Open flags (octal in /proc/PID/fdinfo/FD), x86-64 values.
O_DIRECT = 0o40000
O_DSYNC = 0o10000
WANT_FLAGS = {
    'none': O_DIRECT,
    'directsync': O_DIRECT | O_DSYNC,
    'writethrough': O_DSYNC,
    'writeback': 0,
    'unsafe': 0,
}


def fd_flags(pid, path):
    """The open flags of every fd of `pid` open on `path`."""
    want = os.path.realpath(path)
    flags = []
    fd_dir = '/proc/%d/fd' % pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != want:
                continue
            with open('/proc/%d/fdinfo/%s' % (pid, fd)) as f:
                for line in f:
                    if line.startswith('flags:'):
                        flags.append(int(line.split()[1], 8))
        except OSError:
            continue
    return flags


def thread_names(pid):
    names = []
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                names.append(f.read().strip())
        except OSError:
            continue
    return names


def inspect_running(vm, disk, cache, queues):
    """Checks the live process: the image fd's cache flags, one iothread per queue."""
    flags = fd_flags(vm.pid, disk)
    v.check(flags, 'amber-vmm has no fd open on %s' % disk)
    want = WANT_FLAGS[cache]
    for f in flags:
        v.check(f & (O_DIRECT | O_DSYNC) == want,
                'cache=%s: image fd flags 0%o, want O_DIRECT %s and O_DSYNC %s'
                % (cache, f, 'set' if want & O_DIRECT else 'clear', 'set' if want & O_DSYNC else 'clear'))
    names = thread_names(vm.pid)
    iothreads = sorted(n for n in names if n.startswith('blk-q'))
    v.check(iothreads == sorted('blk-q%d' % q for q in range(queues)),
            'queues=%d: iothreads %s, want one blk-qN per queue (threads: %s)' % (queues, iothreads, names))


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
    vm = v.start_vmm(disks=[v.disk_arg(disk, fmt, cache, queues, discard=discard)], kernel=v.PVH,
                     cmdline='queues=%d seed=%d idle=1' % (queues, seed))
    try:
        vm.wait_line(r'PROBE: idle', 120)
        v.check('PROBE: RESULT PASS' in vm.output(), 'probe did not pass\n' + vm.describe())
        inspect_running(vm, disk, cache, queues)
    finally:
        vm.kill(signal.SIGTERM)
    v.check(vm.p.returncode == 0, 'amber-vmm exit status %s after SIGTERM, want 0\n%s'
            % (vm.p.returncode, vm.describe()))
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
