#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A running amber-vmm holds its writable image locked the way QEMU does:
a second amber-vmm and qemu-img (without -U) are refused with "Failed to
get"; qemu-img -U still reads it; the lock goes away with the process."""
import os

import vmmlib as v


def test():
    tmp = v.workdir('lock')
    disk = os.path.join(tmp, 'd.qcow2')
    v.create_image(disk, '16M')
    vm = v.start_vmm(disks=[v.disk_arg(disk)], kernel=v.PVH, cmdline='test=idle')
    try:
        vm.wait_line(r'PROBE: idle', 60)
        second = v.Proc(v.vmm_argv(disks=[v.disk_arg(disk)], kernel=v.PVH, cmdline='test=idle',
                                   name='t2'), name='second amber-vmm')
        rc = second.wait(60)
        v.check(rc != 0, 'second amber-vmm on a locked image exited 0\n' + second.describe())
        v.check('Failed to get' in second.stderr_text,
                'second amber-vmm error lacks "Failed to get": %r' % second.stderr_text[-800:])
        v.check('PROBE: idle' not in second.output(), 'second amber-vmm ran the guest')
        for cmd in (['info'], ['check']):
            p = v.run([v.QEMU_IMG] + cmd + [disk], check_rc=False)
            v.check(p.returncode != 0 and 'Failed to get' in p.stderr,
                    'qemu-img %s without -U was not refused: rc %d %s' % (cmd[0], p.returncode, p.stderr))
        p = v.run([v.QEMU_IMG, 'info', '-U', disk], check_rc=False)
        v.check(p.returncode == 0, 'qemu-img info -U failed: %s' % p.stderr)
        raw = os.path.join(tmp, 'd.raw')
        with open(raw, 'wb') as f:
            f.truncate(16 << 20)
    finally:
        vm.kill()
    v.qemu_img_check(disk)
    # raw images are locked against writers too.
    vm = v.start_vmm(disks=[v.disk_arg(raw, 'raw')], kernel=v.PVH, cmdline='test=idle')
    try:
        vm.wait_line(r'PROBE: idle', 60)
        # QEMU lets readers at a raw image in use, not writers.
        p = v.run([v.QEMU_IMG, 'resize', '-f', 'raw', raw, '32M'], check_rc=False)
        v.check(p.returncode != 0 and 'Failed to get' in p.stderr,
                'qemu-img resize of a raw image in use was not refused: rc %d %s' % (p.returncode, p.stderr))
    finally:
        vm.kill()


if __name__ == '__main__':
    v.main(test)
