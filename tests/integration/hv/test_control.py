#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-vmm's control socket (line-delimited JSON, doc/amber-vmm.md): the
greeting, query-version, query-status (with the pid), query-chardev,
pause/resume (the guest makes no progress while paused), query-block byte
counters grow with guest I/O and only the one deliberately bad request fails
(a guest error: no host io_errors counted), system_powerdown is answered
and changes nothing for a guest without ACPI (test_powerbutton.py has one
with it), quit gives a SHUTDOWN host-quit event and exit status 0.
Only the documented command names are used."""
import os
import time

import vmmlib as v

# disk0's counters the guest's probe I/O must move (reads, writes, flushes).
GROWING = ('rd_operations', 'rd_bytes', 'wr_operations', 'wr_bytes', 'flush_operations')
# The failure counters after the probe: exactly its one deliberate read past
# the end (probe.c step 6, answered IOERR); any other failure is a bug.
FAILED = {'failed_rd_operations': 1, 'failed_wr_operations': 0,
          'failed_flush_operations': 0, 'failed_discard_operations': 0}


def ret(reply, what):
    v.check('return' in reply, '%s failed: %s' % (what, reply))
    return reply['return']


def status_of(c):
    return ret(c.cmd('query-status'), 'query-status')['status']


def disk0_stats(c):
    disks = ret(c.cmd('query-block'), 'query-block')
    v.check(isinstance(disks, list) and len(disks) == 1 and disks[0].get('device') == 'disk0',
            'query-block should list exactly disk0: %s' % disks)
    stats = disks[0]['stats']
    for key in GROWING + tuple(FAILED):
        v.check(isinstance(stats.get(key), int) and not isinstance(stats.get(key), bool),
                'query-block stats lack integer %s: %s' % (key, stats))
    return stats


def test():
    tmp = v.workdir('control')
    disk = os.path.join(tmp, 'd.qcow2')
    v.create_image(disk, '16M')
    sock = os.path.join(tmp, 'ctl.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk)], kernel=v.PVH, control=sock,
                     cmdline='test=probe idle=1 eventidx=0 wait=60')
    try:
        vm.wait_line(r'PROBE: waiting for host', 60)
        c = v.Control(sock)
        version = ret(c.cmd('query-version'), 'query-version')
        v.check(version.get('program') == 'amber-vmm' and version['protocol']['major'] == 1,
                'query-version: %s' % version)
        v.check(c.greeting is not None and
                c.greeting['greeting']['protocol'] == version['protocol'],
                'the greeting should come first with the protocol version: %s' % c.greeting)
        status = ret(c.cmd('query-status'), 'query-status')
        v.check(status.get('status') == 'running' and status.get('running') is True,
                'query-status before pause: %s' % status)
        v.check(status.get('pid') == vm.pid, 'query-status pid %s, process %d' % (status.get('pid'), vm.pid))
        chardev = ret(c.cmd('query-chardev'), 'query-chardev')
        v.check(chardev == [{'label': 'serial0', 'backend': 'stdio', 'path': ''}],
                'query-chardev: %s' % chardev)
        before = disk0_stats(c)
        v.log('query-block before I/O: %s' % before)

        ret(c.cmd('pause'), 'pause')
        v.check(status_of(c) == 'paused', 'query-status after pause is not paused')
        n_lines = len(vm.output().splitlines())
        vm.send(b'g')   # the guest's go signal, which it must not see while paused
        time.sleep(3)
        v.check(len(vm.output().splitlines()) == n_lines,
                'the guest printed while paused:\n' + vm.output()[-500:])
        ret(c.cmd('resume'), 'resume')
        v.check(status_of(c) == 'running', 'query-status after resume is not running')

        vm.wait_line(r'PROBE: idle', 120)
        after = disk0_stats(c)
        v.log('query-block after I/O: %s' % after)
        for key in GROWING:
            v.check(after[key] > before[key], '%s did not grow: %s -> %s' % (key, before, after))
        for key, want in FAILED.items():
            v.check(before[key] == 0, '%s is %d before any I/O: %s' % (key, before[key], before))
            v.check(after[key] == want, '%s is %d, not %d: %s' % (key, after[key], want, after))
        # The probe's bad read is the guest's error, not a host I/O error:
        # every io_errors counter is present and still 0.
        io_errors = ret(c.cmd('query-block'), 'query-block')[0].get('io_errors')
        for op in ('read', 'write', 'flush', 'discard', 'write-zeroes'):
            for cls in ('eio', 'enospc', 'other'):
                got = (io_errors or {}).get(op, {}).get(cls)
                v.check(got == 0, 'io_errors %s/%s is %r, not 0: %s' % (op, cls, got, io_errors))

        # The PVH probe has no ACPI: the button is pressed, nobody listens.
        r = c.cmd('system_powerdown')
        v.check(r.get('return') == {}, 'system_powerdown failed: %s' % r)
        v.check(status_of(c) == 'running', 'not running after an unheard system_powerdown')
        r = c.cmd('quit')
        v.check(r.get('return') == {}, 'quit failed: %s' % r)
        shutdown = c.wait_event('SHUTDOWN', 20)
        v.check(shutdown.get('data') == {'reason': 'host-quit'}, 'SHUTDOWN after quit: %s' % shutdown)
        rc = vm.wait(20)
        v.check(rc == 0, 'amber-vmm exited with %d after quit, not 0' % rc)
        c.close()
    finally:
        vm.kill()
    v.qemu_img_check(disk)


if __name__ == '__main__':
    v.main(test)
