#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ISA floppy controller without drives, amber-vmm against QEMU 7.2:
 - the PVH probe's test=fdc (tests/guest/pvh/fdc_probe.c) prints CMOS
   0x10/0x14/0x3D/0x38, the registers at 0x3F0-0x3F7, a DOR reset with
   IRQ 6 (the 8259's IRR), the four SENSE INTERRUPT answers, VERSION,
   PART ID, SPECIFY, DUMPREG, CONFIGURE, LOCK, an invalid opcode, SENSE
   DRIVE STATUS, SEEK / RECALIBRATE interrupts, a READ on no medium and a
   DSR reset; every FDC line must be QEMU's (-nodefaults, as libvirt runs
   it: no default floppy drive), run with -accel kvm (TCG if KVM fails);
 - SeaBIOS without a bootable disk: its boot lines (Booting from ...,
   Boot failed ..., No bootable device.) must be QEMU's (its fallback
   floppy entry, then the hard disk one; QEMU without its kvmvapic ROM),
   without a retry (etc/boot-fail-wait -1)."""
import os
import re
import shutil

import vmmlib as v

BOOT_LINE = re.compile(r'^(Booting from .*|Boot failed.*|No bootable device.*)$', re.M)


def fdc_lines(text):
    return [line for line in text.splitlines() if line.startswith('FDC ')]


def qemu_base(accel):
    # Under KVM, QEMU loads its kvmvapic.bin option ROM, a legacy ROM that
    # SeaBIOS boots as a hard disk entry ahead of its fallback floppy one;
    # amber-vmm has no such ROM, so the oracle runs without it.
    vapic = ['-global', 'kvm-apic.vapic=false'] if accel == 'kvm' else []
    return [v.QEMU, '-nodefaults', '-machine', 'pc', '-accel', accel, '-m', '64',
            '-display', 'none', '-monitor', 'none', '-no-reboot'] + vapic


def qemu_probe():
    for accel in ('kvm', 'tcg'):
        vm = v.Proc(qemu_base(accel) + ['-serial', 'stdio',
                                        '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                                        '-kernel', v.PVH, '-append', 'test=fdc'], name='qemu')
        rc = vm.wait(120)
        lines = fdc_lines(vm.output())
        if rc == 1 and lines and lines[-1] == 'FDC DONE':
            v.log('QEMU (%s) ran the probe' % accel)
            return lines
        v.log('QEMU -accel %s: exit %s\n%s' % (accel, rc, vm.describe()))
    v.check(False, 'QEMU did not run the fdc probe')
    return None


def amber_probe():
    vm = v.start_vmm(kernel=v.PVH, memory='64M', cmdline='test=fdc')
    rc = vm.wait(120)
    lines = fdc_lines(vm.output())
    v.check(rc == 1 and lines and lines[-1] == 'FDC DONE',
            'amber-vmm: the probe did not finish (exit %s)\n%s' % (rc, vm.describe()))
    return lines


def boot_lines(path, proc, timeout):
    text = v.wait_file_text(proc, path, lambda t: 'No bootable device' in t, timeout)
    return BOOT_LINE.findall(text.replace('\r', ''))


def seabios(tmp):
    qlog = os.path.join(tmp, 'qemu-debugcon.log')
    alog = os.path.join(tmp, 'amber-debugcon.log')
    want = []
    for accel in ('kvm', 'tcg'):  # TCG when QEMU gets no KVM
        qemu = v.Proc(qemu_base(accel) + ['-serial', 'none',
                                          '-chardev', 'file,id=dbg,path=' + qlog,
                                          '-device', 'isa-debugcon,iobase=0x402,chardev=dbg'],
                      name='qemu')
        want = boot_lines(qlog, qemu, 120)
        if want:
            break
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', serial='none',
                     extra=['--debugcon', 'file:' + alog])
    got = boot_lines(alog, vm, 60)
    v.log('SeaBIOS boot lines: %s' % got)
    v.check(got and got[-1].rstrip() == 'No bootable device.',
            'amber-vmm: SeaBIOS retries or never gives up: %s' % got)
    v.check(any(line.startswith('Booting from Floppy') for line in got),
            'SeaBIOS has no floppy boot entry: %s' % got)
    v.check([l.rstrip() for l in got] == [l.rstrip() for l in want],
            'SeaBIOS boot lines differ:\n amber-vmm: %s\n QEMU:      %s' % (got, want))


def test():
    tmp = v.workdir('fdcprobe')
    got = amber_probe()
    for line in got:
        v.log(line)
    v.check('FDC version: msr=d0 result 90 | msr=80 sra=ff irr6=1' in got,
            'VERSION is not 0x90: %s' % got)
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle steps skipped' % v.QEMU)
        return
    want = qemu_probe()
    v.check(got == want, 'amber-vmm and QEMU differ:\n%s' % '\n'.join(
        '%s\n   QEMU: %s' % (a, b) for a, b in zip(got, want) if a != b) +
        ('\n(%d lines vs %d)' % (len(got), len(want))))
    if os.path.exists(v.SEABIOS):
        seabios(tmp)


if __name__ == '__main__':
    v.main(test)
