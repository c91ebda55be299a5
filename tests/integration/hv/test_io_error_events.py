#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""BLOCK_IO_ERROR and DEVICE_NEEDS_RESET end to end, through the control
socket of a running probe guest whose qcow2 image sits on a full tmpfs
(mounted here with size=; needs root, else skipped with 77):
 - werror=report: the guest (test=errors) gets IOERR for a write, the event
   says action "report", nospace, errno 28; the VM keeps running
   (query-status "running", no STOP); query-block counts the error; the
   guest then breaks its ring (avail index jump) and DEVICE_NEEDS_RESET
   names disk0; after the guest resets the device it reads again;
 - werror=ignore: the guest's fill "succeeds" (RESULT PASS) although the
   host failed the writes: events with action "ignore", no STOP;
 - werror=stop on a disk that has room: no error event, no STOP (the
   policy alone changes nothing)."""
import os
import subprocess

import vmmlib as v

TMPFS_SIZE = 8 << 20
FILLER = 6 << 20


def mount_tmpfs(path):
    if os.geteuid() != 0:
        print('SKIP: mounting a tmpfs needs root (this test fills a small file system)')
        raise SystemExit(v.SKIP)
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d' % TMPFS_SIZE, 'tmpfs', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        print('SKIP: cannot mount a tmpfs: %s' % p.stderr.strip())
        raise SystemExit(v.SKIP)


def named(c, name):
    return [e for e in c.events if e.get('event') == name]


def read_to_end(c):
    """Every event until amber-vmm closes the socket (it exited)."""
    try:
        while True:
            msg = c.read_msg()
            if 'event' in msg:
                c.events.append(msg)
    except (v.TestFailure, OSError):
        pass


def status_of(c):
    r = c.cmd('query-status')
    v.check('return' in r, 'query-status failed: %s' % r)
    return r['return']


def fresh_disk(small, filler=True):
    disk = os.path.join(small, 'disk.qcow2')
    for f in (disk, os.path.join(small, 'filler')):
        if os.path.exists(f):
            os.unlink(f)
    v.create_image(disk, '64M')
    if filler:
        with open(os.path.join(small, 'filler'), 'wb') as f:
            f.write(b'\xff' * FILLER)
    return disk


def report_and_needs_reset(tmp, small):
    disk = fresh_disk(small)
    sock = os.path.join(tmp, 'report.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'qcow2', 'writeback', 1, extra=',werror=report')],
                     kernel=v.PVH, cmdline='test=errors start=4096 mb=16 idle=1 seed=2',
                     control=sock)
    try:
        c = v.Control(sock)
        vm.wait_line(r'PROBE: RESULT PASS errors', 120)
        vm.wait_line(r'PROBE: idle', 30)
        out = vm.output()
        v.check('ERRORS: write status 1' in out, 'the guest saw no IOERR:\n' + out[-800:])
        e = c.wait_event('BLOCK_IO_ERROR', 10)
        d = e.get('data', {})
        v.check(d.get('device') == 'disk0' and d.get('operation') == 'write'
                and d.get('action') == 'report' and d.get('nospace') is True
                and d.get('errno') == 28 and d.get('kind') == 'no space' and d.get('message'),
                'BLOCK_IO_ERROR: %s' % e)
        n = c.wait_event('DEVICE_NEEDS_RESET', 10)
        v.check(n.get('data', {}).get('device') == 'disk0' and n['data'].get('reason'),
                'DEVICE_NEEDS_RESET: %s' % n)
        v.check(c.events.index(e) < c.events.index(n), 'events out of order: %s' % c.events)
        st = status_of(c)
        v.check(st['status'] == 'running' and st['running'] is True,
                'report must not stop the VM: %s' % st)
        v.check(not named(c, 'STOP'), 'STOP with werror=report: %s' % c.events)
        blk = c.cmd('query-block')['return'][0]
        v.check(blk['io_errors']['write']['enospc'] >= 1 and blk['stats']['failed_wr_operations'] >= 1,
                'query-block does not count the error: %s' % blk)
        v.check(len(named(c, 'DEVICE_NEEDS_RESET')) == 1, 'more than one DEVICE_NEEDS_RESET: %s'
                % c.events)
        v.check(c.cmd('quit').get('return') == {}, 'quit failed')
        v.check(vm.wait(30) == 0, 'amber-vmm did not exit 0 after quit')
        c.close()
    finally:
        vm.kill()
    v.check('write failed' in vm.stderr_text and '(stop)' not in vm.stderr_text,
            'stderr: %s' % vm.stderr_text[-1000:])
    v.qemu_img_check(disk)


def ignore(tmp, small):
    disk = fresh_disk(small)
    sock = os.path.join(tmp, 'ignore.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'qcow2', 'writeback', 1, extra=',werror=ignore')],
                     kernel=v.PVH, cmdline='test=fill start=4096 mb=8 seed=3', control=sock)
    try:
        c = v.Control(sock)
        vm.wait_line(r'PROBE: RESULT PASS fill', 120)
        v.check(vm.wait(30) == 1, 'the guest did not exit through the debug port')
        read_to_end(c)
        v.check(named(c, 'BLOCK_IO_ERROR'), 'no BLOCK_IO_ERROR: %s' % c.events)
        for e in named(c, 'BLOCK_IO_ERROR'):
            v.check(e['data'].get('action') == 'ignore' and e['data'].get('nospace') is True,
                    'BLOCK_IO_ERROR with werror=ignore: %s' % e)
        v.check(not named(c, 'STOP'), 'STOP with werror=ignore: %s' % c.events)
        c.close()
    finally:
        vm.kill()
    v.check('(ignore)' in vm.stderr_text, 'stderr: %s' % vm.stderr_text[-1000:])
    # What the guest was told it wrote is not all there: that is what
    # ignore means (doc/amber-vmm.md).
    size = os.path.getsize(disk)
    v.check(size < 8 << 20, 'the image holds %d bytes: were the writes really refused?' % size)
    v.qemu_img_check(disk)


def stop_with_room(tmp, small):
    disk = fresh_disk(small, filler=False)
    sock = os.path.join(tmp, 'room.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'qcow2', 'writeback', 1,
                                       extra=',werror=stop,rerror=stop')],
                     kernel=v.PVH, cmdline='test=fill start=4096 mb=2 seed=4', control=sock)
    try:
        c = v.Control(sock)
        vm.wait_line(r'PROBE: RESULT PASS fill', 120)
        v.check(vm.wait(30) == 1, 'the guest did not exit through the debug port')
        read_to_end(c)
        v.check(named(c, 'SHUTDOWN'), 'no SHUTDOWN event: %s' % c.events)
        v.check(not named(c, 'BLOCK_IO_ERROR') and not named(c, 'STOP'),
                'events on a healthy disk: %s' % c.events)
        c.close()
    finally:
        vm.kill()
    v.qemu_img_check(disk)


def test():
    tmp = v.workdir('io-events')
    small = os.path.join(tmp, 'small')
    os.mkdir(small)
    mount_tmpfs(small)
    try:
        report_and_needs_reset(tmp, small)
        ignore(tmp, small)
        stop_with_room(tmp, small)
    finally:
        subprocess.run(['umount', small])


if __name__ == '__main__':
    v.main(test)
