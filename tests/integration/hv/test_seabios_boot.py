#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS (--firmware) POSTs under amber-vmm and boots the boot-sector probe
from a qcow2 disk on virtio-blk; its int 13h writes land in the image."""
import os

import vmmlib as v


def test():
    tmp = v.workdir('seabios')
    raw = os.path.join(tmp, 'boot.raw')
    v.run(['python3', os.path.join(v.SOURCE_ROOT, 'tests/guest/bootsector/mkdisk.py'), v.BOOT_BIN, raw, '2'])
    disk = os.path.join(tmp, 'boot.qcow2')
    v.run([v.QEMU_IMG, 'convert', '-f', 'raw', '-O', 'qcow2', raw, disk])
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'qcow2', 'writeback', 1)], firmware=v.SEABIOS)
    rc = vm.wait(120)
    out = vm.output()
    v.check('SeaBIOS' in out or 'BOOT:' in out, 'no SeaBIOS banner on the serial console\n' + vm.describe())
    v.check('BOOT: stage1 loaded by BIOS' in out, 'SeaBIOS did not boot the disk\n' + vm.describe())
    v.check('BOOT: RESULT PASS' in out, 'boot probe did not pass\n' + vm.describe())
    v.check(rc == 1, 'exit status %d, want 1 (isa-debug-exit value 0)\n%s' % (rc, vm.describe()))
    v.qemu_img_check(disk)
    data = v.read_raw(disk, 'qcow2', tmp)
    for lba, tag in ((32, b'AMBERBOOTWRITE0'), (33, b'AMBERBOOTWRITE1')):
        got = data[lba * 512:lba * 512 + len(tag)]
        v.check(got == tag, 'sector %d holds %r, want %r' % (lba, got, tag))


if __name__ == '__main__':
    v.main(test)
