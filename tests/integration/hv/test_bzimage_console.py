#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bzImage direct boot on this machine: amber-vmm --kernel vmlinuz reaches
the kernel's first console output ("Linux version" via earlyprintk on
ttyS0) within a few minutes; then the VM is killed. (On kvm_pvm a stock
kernel later stops on an emulation failure, so nothing after the first
lines is asserted.)"""
import vmmlib as v
import linuxguest

TIMEOUT = 240


def test():
    kernel, initrd = linuxguest.build()
    vm = v.start_vmm(kernel=kernel, memory='256M', disks=[],
                     cmdline='console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1',
                     extra=['--initrd', initrd])
    try:
        m = vm.wait_line(r'Linux version|early console', TIMEOUT)
        t = vm.line_time(r'Linux version|early console') - vm.t_start
        v.log('first kernel console line after %.1f s: %s' % (t, m.string))
    finally:
        vm.kill()


if __name__ == '__main__':
    v.main(test)
