#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pause / resume / system_reset / quit while two vCPUs exit to the VMM as
fast as they can (the probe guest's smpexit mode: every vCPU writes port
0x80 in a loop). Each must take effect with both vCPUs in the exit loop:
pause returns only once every vCPU has parked (a vCPU that missed the
request would hang it), resume runs them again, reset reruns the guest from
the start with both CPUs (the APs back to waiting for SIPI), quit ends the
process with status 0."""
import os
import time

import vmmlib as v

CPUS = 2
COUNT = 100000000  # far more exits than the test lasts


def test():
    tmp = v.workdir('smp-control')
    sock = os.path.join(tmp, 'ctl.sock')
    vm = v.start_vmm(kernel=v.PVH, cpus=CPUS, control=sock,
                     cmdline='test=smpexit cpus=%d count=%d' % (CPUS, COUNT))
    try:
        vm.wait_line(r'SMPEXIT start cpus=%d' % CPUS, 60)
        c = v.Control(sock)
        for _ in range(3):
            r = c.cmd('pause')
            v.check(c.cmd('query-status').get('return', {}).get('status') == 'paused',
                    'not paused after pause: %s' % r)
            r = c.cmd('resume')
            v.check(c.cmd('query-status').get('return', {}).get('status') == 'running',
                    'not running after cont: %s' % r)
        starts = vm.output().count('PROBE: amber probe guest starting')
        r = c.cmd('system_reset')
        v.check('return' in r, 'system_reset failed: %s' % r)
        deadline = time.monotonic() + 60
        while vm.output().count('SMPEXIT start') < 2:
            v.check(time.monotonic() < deadline, 'the guest did not restart both CPUs after system_reset\n'
                    + vm.describe())
            time.sleep(0.1)
        v.check(vm.output().count('PROBE: amber probe guest starting') == starts + 1,
                'expected exactly one restart\n' + vm.describe())
        c.cmd('quit')
        rc = vm.wait(30)
        v.check(rc == 0, 'exit status %d after quit, want 0\n%s' % (rc, vm.describe()))
    finally:
        vm.kill()


if __name__ == '__main__':
    v.main(test)
