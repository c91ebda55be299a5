#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""werror=enospc (the default) on IDE and SCSI disks: the probe guest's
IDE mode (test=ide, primary master) and SCSI mode (test=scsi, target 0
LUN 0) on a qcow2 image that sits on a small full tmpfs (mounted here;
needs root, else skipped with 77). The first cluster the guest writes
fails with ENOSPC: BLOCK_IO_ERROR names the drive as query-block does
(ide0-0-0, scsi0-0-0-0) with action "stop" and nospace, STOP io-error
follows, query-status says io-error, query-block's row for the drive
counts the ENOSPC write, and the guest makes no progress. The test then
deletes the filler and resumes: the held command runs again and the
probe passes every check, as on a disk with room; qemu-img check finds
no corruption (a leaked cluster from the failed allocation is allowed)."""
import os
import subprocess
import time

import vmmlib as v

TMPFS_SIZE = 8 << 20
SERIAL = 'AMBER-STOP-1'


def mount_tmpfs(path):
    if os.geteuid() != 0:
        print('SKIP: mounting a tmpfs needs root (this test fills a small file system)')
        raise SystemExit(v.SKIP)
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d' % TMPFS_SIZE, 'tmpfs', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        print('SKIP: cannot mount a tmpfs: %s' % p.stderr.strip())
        raise SystemExit(v.SKIP)


def fill(path):
    """Writes `path` until the file system is full."""
    with open(path, 'wb', buffering=0) as f:
        try:
            while True:
                f.write(b'\xff' * 4096)
        except OSError:
            pass


def named(c, name):
    return [e for e in c.events if e.get('event') == name]


def wait_events(c, name, count, timeout=120):
    deadline = time.monotonic() + timeout
    while len(named(c, name)) < count:
        v.check(time.monotonic() < deadline, 'only %d %s events within %ds: %s'
                % (len(named(c, name)), name, timeout, c.events))
        c.cmd('query-version')  # reads the events that came meanwhile
        time.sleep(0.2)
    return named(c, name)


def one_bus(tmp, small, bus):
    disk = os.path.join(small, '%s.qcow2' % bus)
    filler = os.path.join(small, 'filler')
    v.create_image(disk, '64M')
    fill(filler)
    sock = os.path.join(tmp, '%s.sock' % bus)
    if bus == 'ide':
        device = 'ide0-0-0'
        extra = ['--ide', 'bus=0,unit=0,media=disk,path=%s,format=qcow2' % disk]
        cmdline = 'test=ide cd=0 mem_mb=64 disk_sectors=%d' % ((64 << 20) // v.SECTOR)
        done = 'PROBE: RESULT PASS ide'
    else:
        device = 'scsi0-0-0-0'
        extra = ['--scsi', 'path=%s,format=qcow2,serial=%s' % (disk, SERIAL)]
        cmdline = 'test=scsi discard=0 serial=%s' % SERIAL
        done = 'PROBE: RESULT PASS scsi'
    vm = v.start_vmm(kernel=v.PVH, memory='64M', extra=extra, cmdline=cmdline, control=sock)
    try:
        c = v.Control(sock)
        errors = wait_events(c, 'BLOCK_IO_ERROR', 1)
        e = errors[0].get('data', {})
        v.check(e.get('device') == device and e.get('action') == 'stop'
                and e.get('nospace') is True and e.get('errno') == 28,
                '%s: BLOCK_IO_ERROR: %s' % (bus, errors[0]))
        stops = wait_events(c, 'STOP', 1)
        v.check(stops[0].get('data') == {'status': 'io-error'}, '%s: STOP: %s' % (bus, stops[0]))
        st = c.cmd('query-status')['return']
        v.check(st['status'] == 'io-error' and st['running'] is False,
                '%s: query-status: %s' % (bus, st))
        rows = {r['device']: r for r in c.cmd('query-block')['return']}
        v.check(device in rows and rows[device]['io_errors']['write']['enospc'] >= 1,
                '%s: query-block: %s' % (bus, rows))
        lines = len(vm.lines)
        time.sleep(0.5)
        v.check(len(vm.lines) == lines, '%s: the guest ran while stopped' % bus)
        v.check(done not in vm.output(), '%s: the guest finished on a full disk' % bus)
        os.unlink(filler)
        v.check(c.cmd('resume').get('return') == {}, '%s: resume failed' % bus)
        vm.wait_line(done, 240)
        rc = vm.wait(60)
        v.check(rc == 1, '%s: exit status %d, want 1\n%s' % (bus, rc, vm.describe()))
        failed = [l for l in vm.output().splitlines() if ' FAIL ' in l]
        v.check(not failed, '%s: failed checks %s' % (bus, failed))
        c.close()
    finally:
        vm.kill()
    # A cluster allocated for the write that hit ENOSPC may stay leaked
    # (qemu-img: "waste of disk space, but no harm to data"), as under QEMU.
    v.qemu_img_check(disk, allow_leaks=True)
    os.unlink(disk)


def test():
    tmp = v.workdir('idescsistop')
    small = os.path.join(tmp, 'small')
    os.mkdir(small)
    mount_tmpfs(small)
    try:
        for bus in ('ide', 'scsi'):
            one_bus(tmp, small, bus)
    finally:
        subprocess.run(['umount', small])


if __name__ == '__main__':
    v.main(test)
