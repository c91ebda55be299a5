#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""--memory ...,hugepages=on: guest RAM comes from 2 MiB hugetlb pages (seen
in /proc/PID/smaps), and too few free pages gives a clear error that names
nr_hugepages. Reserves pages through /proc/sys/vm/nr_hugepages when it may
(root) and restores the old value afterwards."""
import os
import re

import vmmlib as v

NR = '/proc/sys/vm/nr_hugepages'
FREE = '/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages'
GUEST_MB = 64


def read_int(path):
    with open(path) as f:
        return int(f.read().strip())


def hugetlb_mappings(pid):
    """(size_kB, kernel_page_kB, name) for every mapping of the process."""
    maps = []
    cur = None
    with open('/proc/%d/smaps' % pid) as f:
        for line in f:
            m = re.match(r'^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$', line)
            if m:
                cur = {'size': (int(m.group(2), 16) - int(m.group(1), 16)) // 1024, 'name': m.group(3)}
                maps.append(cur)
                continue
            k = re.match(r'^(\w+):\s+(\d+) kB', line)
            if k and cur is not None:
                cur[k.group(1)] = int(k.group(2))
    return maps


def negative():
    free = read_int(FREE)
    mb = (free + 16) * 2
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=idle', memory='%dM,hugepages=on' % mb,
                     disks=[])
    rc = vm.wait(60)
    v.check(rc != 0, 'hugepages=on with %d MiB but %d free pages: exit status 0' % (mb, free))
    v.check('nr_hugepages' in vm.stderr_text,
            'the error does not mention nr_hugepages: %r' % vm.stderr_text[-1000:])
    v.check('PROBE:' not in vm.output(), 'the guest ran despite missing hugepages')
    v.log('too few hugepages: rc %d, %s' % (rc, vm.stderr_text.strip().splitlines()[-1:]))


def positive():
    needed = GUEST_MB // 2
    old = read_int(NR)
    changed = False
    try:
        free = read_int(FREE)
        if free < needed + 2:
            try:
                with open(NR, 'w') as f:
                    f.write(str(old + needed + 2 - free))
                changed = True
            except OSError as e:
                v.log('cannot reserve hugepages (%s); positive part not run' % e)
                return False
        free = read_int(FREE)
        v.check(free >= needed, 'the kernel reserved only %d free hugepages (need %d)' % (free, needed))
        tmp = v.workdir('huge')
        disk = os.path.join(tmp, 'd.qcow2')
        v.create_image(disk, '16M')
        vm = v.start_vmm(kernel=v.PVH, cmdline='test=probe idle=1 eventidx=0',
                         memory='%dM,hugepages=on' % GUEST_MB, disks=[v.disk_arg(disk)])
        try:
            vm.wait_line(r'PROBE: idle', 120)
            maps = hugetlb_mappings(vm.pid)
            huge = [m for m in maps if m.get('KernelPageSize') == 2048 and m['size'] >= GUEST_MB * 1024 // 2]
            v.check(huge, 'no hugetlb mapping (KernelPageSize 2048 kB) of guest RAM size in smaps: %s'
                    % [(m['size'], m.get('KernelPageSize'), m['name']) for m in maps if m['size'] >= 16384])
            touched = sum(m.get('Private_Hugetlb', 0) + m.get('Shared_Hugetlb', 0) for m in huge)
            v.log('hugetlb mappings: %s, touched %d kB' % ([(m['size'], m['name']) for m in huge], touched))
            v.check(touched > 0, 'hugetlb mapping present but no hugetlb pages in use')
        finally:
            vm.kill()
        return True
    finally:
        if changed:
            with open(NR, 'w') as f:
                f.write(str(old))


def test():
    v.check(os.path.exists(FREE), 'no 2 MiB hugepage support on this host (%s)' % FREE)
    negative()
    positive()


if __name__ == '__main__':
    v.main(test)
