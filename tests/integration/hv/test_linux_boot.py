#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Full Linux boot (Debian cloud kernel + busybox initramfs) under
amber-vmm with a virtio-blk disk: the guest loads virtio_pci/virtio_blk,
reads and writes /dev/vda and reports LINUX: RESULT PASS. Needs hardware
KVM; on the kvm_pvm software backend it is skipped (exit 77)."""
import os
import sys

import linuxguest
import vmmlib as v


def test():
    if not linuxguest.hardware_kvm():
        print('SKIPPED: no hardware KVM (kvm_pvm software backend) — full Linux boot not run', flush=True)
        sys.exit(v.SKIP)
    kernel, initrd = linuxguest.build()
    tmp = v.workdir('linux')
    raw = os.path.join(tmp, 'linux.raw')
    with open(raw, 'wb') as f:
        f.truncate(64 << 20)
        f.seek(0)
        f.write(b'AMBERLINUXDISK')
    disk = os.path.join(tmp, 'linux.qcow2')
    v.run([v.QEMU_IMG, 'convert', '-f', 'raw', '-O', 'qcow2', raw, disk])
    vm = v.start_vmm(disks=[v.disk_arg(disk, queues=2)], kernel=kernel, memory='512M', cpus=2,
                     cmdline='console=ttyS0 amber_seed=9', extra=['--initrd', initrd])
    try:
        vm.wait_line(r'LINUX: RESULT', 300)
        rc = vm.wait(60)
    finally:
        vm.kill()
    v.check('LINUX: RESULT PASS' in vm.output(), 'Linux guest failed\n' + vm.describe())
    v.check(rc == 1, 'exit status %d, want 1' % rc)
    v.qemu_img_check(disk)
    data = v.read_raw(disk, 'qcow2', tmp)
    want = b'AMBERLINUXWRITE seed=9'
    v.check(data[4096 * 512:4096 * 512 + len(want)] == want, 'the guest write is not in the image')


if __name__ == '__main__':
    v.main(test)
