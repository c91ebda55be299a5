#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""werror=enospc (the default) on a full host disk: a qcow2 image on a small
tmpfs (mounted here with size=; needs root, else skipped with 77) next to a
filler file, and a probe guest that writes more than fits (test=fill
stamp=1). The VM stops: BLOCK_IO_ERROR with action "stop" and nospace,
STOP with status io-error, query-status "io-error" / running false, and the
guest makes no progress. A resume while the disk is still full stops it
again (the held request failed again). Then the test deletes the filler,
resumes, the guest finishes, every sector it wrote reads back from the
image (qemu-img convert to raw) and qemu-img check is clean. Before all
that, pause / resume of the running VM gives STOP paused / RESUME.
Second VM: stopped on ENOSPC, then system_reset (RESET, still io-error,
the held request dropped), resume (the guest starts over and stops again
on the full disk) and quit while a request is held: the process exits 0
at once with SHUTDOWN host-quit, and the image is still consistent."""
import os
import struct
import subprocess
import time

import vmmlib as v

TMPFS_SIZE = 24 << 20
FILLER = 16 << 20
START = 4096          # first sector the guest writes
FILL_MB = 12          # more than the tmpfs has left while the filler is there
SEED = 5
CHUNK = 65536         # the guest's write size (probe.c: big[])


def expected_chunk():
    return bytes(((i * 31 + SEED + 1) | 1) & 0xff for i in range(CHUNK))


def verify(data):
    """Every sector the guest wrote: its number, then the fill bytes."""
    chunk = expected_chunk()
    bad = []
    for k in range(FILL_MB * 2048):
        sector = START + k
        got = data[sector * v.SECTOR:(sector + 1) * v.SECTOR]
        within = (k * v.SECTOR) % CHUNK
        want = struct.pack('<I', sector) + chunk[within + 4:within + v.SECTOR]
        if got != want:
            bad.append(sector)
    v.check(not bad, '%d sectors do not hold what the guest wrote, first %s'
            % (len(bad), bad[:8]))


def status_of(c):
    r = c.cmd('query-status')
    v.check('return' in r, 'query-status failed: %s' % r)
    return r['return']


def events_named(c, name):
    return [e for e in c.events if e.get('event') == name]


def wait_events(c, name, count, timeout=60):
    deadline = time.monotonic() + timeout
    while len(events_named(c, name)) < count:
        v.check(time.monotonic() < deadline, 'only %d %s events within %ds: %s'
                % (len(events_named(c, name)), name, timeout, c.events))
        c.cmd('query-version')   # reads the events that came meanwhile
        time.sleep(0.2)
    return events_named(c, name)


def mount_tmpfs(path):
    if os.geteuid() != 0:
        print('SKIP: mounting a tmpfs needs root (this test fills a small file system)')
        raise SystemExit(v.SKIP)
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d' % TMPFS_SIZE, 'tmpfs', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        print('SKIP: cannot mount a tmpfs: %s' % p.stderr.strip())
        raise SystemExit(v.SKIP)


def reset_and_quit_while_held(tmp, small):
    disk = os.path.join(small, 'disk2.qcow2')
    filler = os.path.join(small, 'filler')
    v.create_image(disk, '64M')
    with open(filler, 'wb') as f:
        f.write(b'\xff' * FILLER)
    sock = os.path.join(tmp, 'ctl2.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'qcow2', 'writeback', 1)], kernel=v.PVH,
                     cmdline='test=fill start=%d mb=%d seed=%d' % (START, FILL_MB, SEED),
                     control=sock)
    try:
        c = v.Control(sock)
        wait_events(c, 'STOP', 1)
        v.check(status_of(c)['status'] == 'io-error', 'not io-error on a full disk')
        v.check(c.cmd('system_reset').get('return') == {}, 'system_reset failed')
        c.wait_event('RESET', 10)
        v.check(status_of(c)['status'] == 'io-error', 'system_reset left io-error')
        v.check(c.cmd('resume').get('return') == {}, 'resume after reset failed')
        # The guest starts over on the still-full disk: stopped again.
        wait_events(c, 'BLOCK_IO_ERROR', 2)
        wait_events(c, 'STOP', 2)
        v.check(vm.output().count('PROBE: amber probe guest starting') == 2,
                'the guest did not start over after system_reset')
        t0 = time.monotonic()
        v.check(c.cmd('quit').get('return') == {}, 'quit failed')
        shutdown = c.wait_event('SHUTDOWN', 20)
        v.check(shutdown.get('data') == {'reason': 'host-quit'}, 'SHUTDOWN: %s' % shutdown)
        rc = vm.wait(20)
        v.check(rc == 0, 'amber-vmm exit status %d after quit\n%s' % (rc, vm.describe()))
        v.check(time.monotonic() - t0 < 10, 'quit with a held request took %.1fs'
                % (time.monotonic() - t0))
        c.close()
    finally:
        vm.kill()
    v.check('held requests dropped' in vm.stderr_text,
            'no line about the dropped requests:\n%s' % vm.stderr_text[-1000:])
    os.unlink(filler)
    v.qemu_img_check(disk)


def test():
    tmp = v.workdir('enospc')
    small = os.path.join(tmp, 'small')
    os.mkdir(small)
    mount_tmpfs(small)
    vm = None
    try:
        disk = os.path.join(small, 'disk.qcow2')
        filler = os.path.join(small, 'filler')
        v.create_image(disk, '64M')
        with open(filler, 'wb') as f:
            f.write(b'\xff' * FILLER)
        sock = os.path.join(tmp, 'ctl.sock')
        vm = v.start_vmm(disks=[v.disk_arg(disk, 'qcow2', 'writeback', 1)], kernel=v.PVH,
                         cmdline='test=fill start=%d mb=%d stamp=1 seed=%d wait=60'
                         % (START, FILL_MB, SEED), control=sock)
        c = v.Control(sock)
        vm.wait_line(r'PROBE: waiting for host', 60)

        # A normal pause and resume first.
        v.check(c.cmd('pause').get('return') == {}, 'pause failed')
        v.check(status_of(c)['status'] == 'paused', 'not paused after pause')
        stop = c.wait_event('STOP', 10)
        v.check(stop.get('data') == {'status': 'paused'}, 'STOP after pause: %s' % stop)
        v.check(c.cmd('resume').get('return') == {}, 'resume failed')
        v.check(status_of(c)['status'] == 'running', 'not running after resume')
        c.wait_event('RESUME', 10)

        vm.send(b'g')
        errors = wait_events(c, 'BLOCK_IO_ERROR', 1)
        e = errors[0].get('data', {})
        v.check(e.get('device') == 'disk0' and e.get('operation') == 'write'
                and e.get('action') == 'stop' and e.get('nospace') is True
                and e.get('errno') == 28, 'BLOCK_IO_ERROR: %s' % errors[0])
        stops = wait_events(c, 'STOP', 2)
        v.check(stops[1].get('data') == {'status': 'io-error'}, 'STOP after the error: %s' % stops[1])
        v.check(c.events.index(errors[0]) < c.events.index(stops[1]),
                'STOP came before BLOCK_IO_ERROR: %s' % c.events)
        st = status_of(c)
        v.check(st['status'] == 'io-error' and st['running'] is False, 'query-status: %s' % st)
        v.check('PROBE: RESULT' not in vm.output(), 'the guest finished on a full disk')
        # Stopped means stopped: no serial progress while the disk is full.
        lines = len(vm.lines)
        time.sleep(1.0)
        v.check(len(vm.lines) == lines, 'the guest ran while stopped: %s' % vm.output()[-300:])
        blk = c.cmd('query-block')['return'][0]
        v.check(blk['io_errors']['write']['enospc'] >= 1, 'query-block: %s' % blk['io_errors'])
        v.check(vm.p.poll() is None, 'amber-vmm exited')
        v.check(c.cmd('pause').get('return') == {}, 'pause while stopped failed')
        v.check(status_of(c)['status'] == 'io-error', 'pause changed io-error')

        # Resume while still full: the held write fails again, stop again.
        v.check(c.cmd('resume').get('return') == {}, 'resume failed')
        wait_events(c, 'BLOCK_IO_ERROR', 2)
        stops = wait_events(c, 'STOP', 3)
        v.check(stops[2].get('data') == {'status': 'io-error'}, 'second STOP: %s' % stops[2])
        v.check(len(events_named(c, 'RESUME')) == 2, 'RESUME events: %s' % c.events)
        deadline = time.monotonic() + 10
        while status_of(c)['status'] != 'io-error':
            v.check(time.monotonic() < deadline, 'not io-error again after a failed retry')
            time.sleep(0.1)

        # Free the space, resume: the guest finishes.
        os.unlink(filler)
        v.check(c.cmd('resume').get('return') == {}, 'resume failed')
        vm.wait_line(r'PROBE: RESULT PASS fill', 120)
        rc = vm.wait(60)
        v.check(rc == 1, 'amber-vmm exit status %d, want 1\n%s' % (rc, vm.describe()))
        v.check(len(events_named(c, 'STOP')) == 3, 'a STOP after the space was freed: %s'
                % c.events)
        v.check('(stop)' in vm.stderr_text, 'no stop line on stderr:\n%s' % vm.stderr_text)
        c.close()
        vm = None

        data = v.read_raw(disk, 'qcow2', tmp)
        verify(data)
        v.qemu_img_check(disk)
        v.log('all %d sectors read back; qemu-img check clean' % (FILL_MB * 2048))
        os.unlink(disk)
        reset_and_quit_while_held(tmp, small)
    finally:
        if vm is not None:
            vm.kill()
        subprocess.run(['umount', small])


if __name__ == '__main__':
    v.main(test)
