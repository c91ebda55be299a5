#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ACPI power button: the power-button probe (tests/guest/bootsector/
powerbtn.S) booted by SeaBIOS finds PMBASE, enables ACPI through SMI_CMD
0xB2, enables PWRBTN_EN and an IRQ 9 (SCI) handler and prints READY;
system_powerdown on the control socket must then reach that handler as
PWRBTN_STS (write-1-to-clear), and its S5 (SLP_TYP 0 | SLP_EN) must give
SHUTDOWN guest-shutdown and exit status 0, as QEMU does. A guest that never
set PWRBTN_EN: system_powerdown is answered and nothing else happens (no
interrupt, the VM keeps running). The same probe first runs under QEMU 7.2
(TCG, pc) with QMP's system_powerdown as the oracle, when QEMU is here."""
import os
import shutil
import socket
import subprocess
import time

import vmmlib as v

POWERBTN_BIN = os.path.join(v.GUEST_DIR, 'powerbtn.bin')


def make_disk(tmp, button):
    """A 1 MiB raw disk holding the probe (SeaBIOS skips smaller disks)."""
    code = open(POWERBTN_BIN, 'rb').read()
    v.check(len(code) == 512 and b'PBMODE=1' in code, 'powerbtn.bin is not the probe')
    if not button:
        code = code.replace(b'PBMODE=1', b'PBMODE=0')
    path = os.path.join(tmp, 'pb%d.raw' % button)
    with open(path, 'wb') as f:
        f.write(code + bytes(1024 * 1024 - len(code)))
    return path


def qemu_oracle(tmp, disk):
    """The probe under QEMU: READY, POWERBUTTON after system_powerdown, exit 0."""
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle step skipped' % v.QEMU)
        return
    qmp = os.path.join(tmp, 'qmp.sock')
    vm = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-nographic',
                 '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                 '-drive', 'file=%s,format=raw,if=virtio' % disk,
                 '-qmp', 'unix:%s,server=on,wait=off' % qmp], name='qemu')
    try:
        vm.wait_line(r'PWRBTN: READY$', 60)
        s = socket.socket(socket.AF_UNIX)
        s.connect(qmp)
        f = s.makefile('rw')
        f.readline()
        for cmd in ('qmp_capabilities', 'system_powerdown'):
            f.write('{"execute":"%s"}\n' % cmd)
            f.flush()
        vm.wait_line(r'PWRBTN: POWERBUTTON', 30)
        rc = vm.wait(30)
        s.close()
        v.check(rc == 0, 'QEMU exited %d after the guest S5, not 0' % rc)
        v.check('FAIL' not in vm.output() and 'SPURIOUS' not in vm.output(),
                'the probe failed under QEMU\n' + vm.describe())
    finally:
        vm.kill()


def start(tmp, disk, sock):
    return v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, control=sock)


def button_pressed(tmp):
    disk = make_disk(tmp, True)
    qemu_oracle(tmp, disk)
    sock = os.path.join(tmp, 'ctl1.sock')
    vm = start(tmp, disk, sock)
    try:
        vm.wait_line(r'PWRBTN: READY$', 120)
        c = v.Control(sock)
        time.sleep(0.5)
        v.check('POWERBUTTON' not in vm.output() and 'SPURIOUS' not in vm.output(),
                'an SCI before any press\n' + vm.describe())
        r = c.cmd('system_powerdown')
        v.check(r.get('return') == {}, 'system_powerdown: %s' % r)
        vm.wait_line(r'PWRBTN: POWERBUTTON', 30)
        shutdown = c.wait_event('SHUTDOWN', 30)
        v.check(shutdown.get('data') == {'reason': 'guest-shutdown'},
                'SHUTDOWN after the guest S5: %s' % shutdown)
        rc = vm.wait(30)
        out = vm.output()
        v.check(rc == 0, 'amber-vmm exited %d after the guest S5, not 0 (as QEMU)\n%s'
                % (rc, vm.describe()))
        v.check('FAIL' not in out and 'SPURIOUS' not in out, 'probe failure\n' + vm.describe())
        c.close()
    finally:
        vm.kill()


def button_ignored(tmp):
    disk = make_disk(tmp, False)
    sock = os.path.join(tmp, 'ctl0.sock')
    vm = start(tmp, disk, sock)
    try:
        vm.wait_line(r'PWRBTN: READY nobutton', 120)
        c = v.Control(sock)
        r = c.cmd('system_powerdown')
        v.check(r.get('return') == {}, 'system_powerdown: %s' % r)
        time.sleep(3)
        r = c.cmd('query-status')
        v.check(r.get('return', {}).get('status') == 'running',
                'not running after an ignored power button: %s' % r)
        out = vm.output()
        v.check('POWERBUTTON' not in out and 'SPURIOUS' not in out and 'FAIL' not in out,
                'the guest saw an interrupt it never enabled\n' + vm.describe())
        v.check(not any(e.get('event') == 'SHUTDOWN' for e in c.events),
                'SHUTDOWN without a guest power-off: %s' % c.events)
        # A second press changes nothing either; the host still can end it.
        v.check(c.cmd('system_powerdown').get('return') == {}, 'second system_powerdown')
        v.check(c.cmd('quit').get('return') == {}, 'quit')
        shutdown = c.wait_event('SHUTDOWN', 20)
        v.check(shutdown.get('data') == {'reason': 'host-quit'}, 'SHUTDOWN: %s' % shutdown)
        v.check(vm.wait(20) == 0, 'exit status after quit')
        c.close()
    finally:
        vm.kill()


def test():
    tmp = v.workdir('powerbutton')
    button_pressed(tmp)
    button_ignored(tmp)


if __name__ == '__main__':
    v.main(test)
